package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newRepairCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "repair",
		Short: "Repair a damaged vault",
		Args:  args(cobra.NoArgs),
	}
	cmd.AddCommand(newRepairIndexCmd(g))
	return cmd
}

func newRepairIndexCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "index",
		Short: "Rebuild the index from the packs",
		Long: `Rebuild the vault's index from the packs themselves: read the header of
every pack (the list of blobs it holds, authenticated with the vault's key),
write one new index object naming every pack whose header reads, and delete
the old index objects. Use it when check reports a damaged or missing index
object, or when a command cannot open the vault because an index object does
not decode.

Packs whose header cannot be read are left out and listed; run
"bunker check --read-data" afterwards to see which files and points need
them. The new index is written before any old one is deleted, so an
interrupted repair leaves a vault that opens. It takes the vault's exclusive
lock.`,
		Example: `  bunker repair index
  bunker repair index --vault /srv/vault --key-file /root/srv-vault.key --json`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			v, err := g.openVault(ctx, lockExclusive, false)
			if err != nil {
				return err
			}
			defer v.Close()
			r := g.renderer()
			prog := r.Progress()
			prog.FinishScan()
			var last int
			r.Start(ctx)
			st, err := v.repo.RebuildIndex(ctx, func(done, total int) {
				if last == 0 {
					prog.AddTotal(int64(total), 0)
				}
				prog.AddDone(int64(done-last), 0)
				last = done
			})
			r.Stop()
			if err != nil {
				return fmt.Errorf("repair index: %w", err)
			}
			if g.json {
				return g.printJSON(map[string]any{"message_type": "repair_index", "stats": st})
			}
			g.printf("read the headers of %d packs: %d indexed (%d blobs), %d unreadable\n", st.Packs, st.Indexed, st.Blobs, len(st.Unreadable))
			for _, u := range st.Unreadable {
				g.printf("  unreadable pack %s\n", u)
			}
			g.printf("wrote index %s; removed %d old index objects (%d damaged)", short(st.Index), st.Removed, st.BadOld)
			if len(st.Kept) > 0 {
				g.printf(", %d kept by the storage's retention", len(st.Kept))
			}
			g.printf("\n")
			if len(st.Unreadable) > 0 {
				g.printf("run `bunker check --read-data` to see which files and points need the unreadable packs\n")
			}
			return nil
		},
	}
}
