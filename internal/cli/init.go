package cli

import (
	"errors"

	"github.com/spf13/cobra"
)

func newInitCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "init",
		Short: "Create a vault",
		Long: `Create a vault in a local directory with a new random master key.

The master key is stored only wrapped by a key slot. The first slot opens with
the key file named by --key-file (created if it does not exist, mode 0600), or
with a passphrase from --passphrase-file, $BUNKER_PASSPHRASE or the terminal.
Add more slots with "bunker key add".`,
		Example: `  bunker init --vault /srv/vault --key-file ~/.config/bunker/srv.key
  BUNKER_PASSPHRASE=... bunker init --vault /srv/vault`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			path, isDefault, err := g.vaultPath()
			if err != nil {
				return err
			}
			kf, err := g.keyFilePath(isDefault)
			if err != nil {
				return err
			}
			var pass []byte
			if kf == "" {
				if pass, err = g.passphrase(g.unlockSource(), "New vault passphrase: ", true); err != nil {
					return err
				}
				if pass == nil {
					return usageError{errors.New("no key given: use --key-file, --passphrase-file or $BUNKER_PASSPHRASE, or run on a terminal to be asked")}
				}
			}
			if err := initVault(cmd.Context(), path, kf, pass); err != nil {
				return err
			}
			if g.json {
				return g.printJSON(map[string]any{"message_type": "init", "vault": path, "key_file": kf})
			}
			g.printf("created vault at %s\n", path)
			if kf != "" {
				g.printf("its key file is %s: keep a copy somewhere safe, without it the backups cannot be read\n", kf)
			}
			return nil
		},
	}
}
