package cli

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/bunkerhq/bunker/internal/keys"
	"github.com/bunkerhq/bunker/internal/storage"
)

func newKeyCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "key",
		Short: "Manage the key slots that unlock a vault",
		Long: `A vault's random master key is stored only wrapped by key slots. Each slot
opens with a passphrase (argon2id) or a key file. Add a slot before you remove
one: the last slot cannot be removed.`,
	}
	cmd.AddCommand(newKeyAddCmd(g), newKeyListCmd(g), newKeyRemoveCmd(g))
	return cmd
}

func newKeyAddCmd(g *globals) *cobra.Command {
	var newKeyFile, newPassFile, label string
	cmd := &cobra.Command{
		Use:   "add",
		Short: "Add a key slot: a new key file or passphrase",
		Example: `  bunker key add --new-key-file /root/vault-backup.key --label "offsite copy"
  bunker key add --new-passphrase-file /run/secrets/pw`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			v, err := g.openVault(ctx, lockShared, false)
			if err != nil {
				return err
			}
			defer v.Close()
			cfg := v.repo.Config()
			var sl *keys.Slot
			switch {
			case newKeyFile != "":
				if _, err := os.Stat(newKeyFile); err == nil {
					return fmt.Errorf("%s already exists: name a new file for the new key", newKeyFile)
				}
				sec, err := keys.GenerateKeyFile(newKeyFile)
				if err != nil {
					return err
				}
				sl, err = keys.NewKeyFileSlot(v.master, cfg.ID, sec, label)
				if err != nil {
					return err
				}
			default:
				pass, err := newPassphrase(g, newPassFile)
				if err != nil {
					return err
				}
				if sl, err = keys.NewPassphraseSlot(v.master, cfg.ID, pass, keys.DefaultKDFParams(), label); err != nil {
					return err
				}
			}
			if err := keys.Put(ctx, v.be, sl); err != nil {
				return err
			}
			if g.json {
				return g.printJSON(map[string]any{"message_type": "key_added", "id": sl.ID, "kind": sl.Kind})
			}
			g.printf("added %s key slot %s\n", sl.Kind, sl.ID)
			return nil
		},
	}
	cmd.Flags().StringVar(&newKeyFile, "new-key-file", "", "create this key `file` and add a slot for it")
	cmd.Flags().StringVar(&newPassFile, "new-passphrase-file", "", "read the new passphrase from this `file` (or $BUNKER_NEW_PASSPHRASE, or the terminal)")
	cmd.Flags().StringVar(&label, "label", "", "a note to tell the slot apart")
	return cmd
}

func newPassphrase(g *globals, file string) ([]byte, error) {
	pass, err := g.passphrase(passSource{file: file, env: "BUNKER_NEW_PASSPHRASE"}, "New passphrase: ", true)
	if err == nil && pass == nil {
		err = errors.New("no new passphrase: use --new-key-file, --new-passphrase-file or $BUNKER_NEW_PASSPHRASE")
	}
	return pass, err
}

func newKeyListCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the key slots",
		Args:  args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			v, err := g.openVault(ctx, lockNone, false)
			if err != nil {
				return err
			}
			defer v.Close()
			slots, err := keys.Load(ctx, v.be)
			if err != nil {
				return err
			}
			if g.json {
				out := []map[string]any{}
				for _, s := range slots {
					out = append(out, map[string]any{"id": s.Slot.ID, "kind": s.Slot.Kind, "created": s.Slot.Created,
						"hostname": s.Slot.Hostname, "username": s.Slot.Username, "label": s.Slot.Label})
				}
				return g.printJSON(out)
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tKIND\tCREATED\tHOST\tUSER\tLABEL")
			for _, s := range slots {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", s.Slot.ID, s.Slot.Kind, s.Slot.Created, s.Slot.Hostname, s.Slot.Username, s.Slot.Label)
			}
			return tw.Flush()
		},
	}
}

func newKeyRemoveCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "remove ID",
		Short: "Remove a key slot",
		Args:  args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			ctx := cmd.Context()
			v, err := g.openVault(ctx, lockShared, false)
			if err != nil {
				return err
			}
			defer v.Close()
			slots, err := keys.Load(ctx, v.be)
			if err != nil {
				return err
			}
			var match []keys.Stored
			for _, s := range slots {
				if strings.HasPrefix(s.Slot.ID, a[0]) {
					match = append(match, s)
				}
			}
			switch {
			case len(match) == 0:
				return fmt.Errorf("no key slot %q (see `bunker key list`)", a[0])
			case len(match) > 1:
				return fmt.Errorf("key slot %q is ambiguous: give more of its id", a[0])
			case len(slots) == 1:
				return errors.New("refusing to remove the last key slot: the vault could never be opened again (add another with `bunker key add` first)")
			}
			if err := v.be.Delete(ctx, storage.Handle{Kind: storage.KindKey, Name: match[0].Name}); err != nil {
				return fmt.Errorf("remove key slot: %w", err)
			}
			g.printf("removed key slot %s\n", match[0].Slot.ID)
			return nil
		},
	}
}
