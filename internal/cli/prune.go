package cli

import (
	"github.com/spf13/cobra"

	"github.com/bunkerhq/bunker/internal/prune"
	"github.com/bunkerhq/bunker/internal/ui"
)

func newPruneCmd(g *globals) *cobra.Command {
	var dryRun bool
	var maxUnused float64
	cmd := &cobra.Command{
		Use:   "prune",
		Short: "Free the data that no point needs",
		Long: `Delete packs whose blobs no point needs, rewrite packs whose unused share is
above --max-unused, and remove packs left by interrupted backups. Prune takes
the vault's exclusive lock: it waits for running backups and blocks new ones.
It is safe to interrupt: the vault stays consistent at every step.`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			v, err := g.openVault(ctx, lockExclusive, false)
			if err != nil {
				return err
			}
			defer v.Close()
			if err := v.loadIndex(ctx); err != nil {
				return err
			}
			st, err := prune.Prune(ctx, v.repo, prune.Options{DryRun: dryRun, MaxUnused: maxUnused / 100})
			if err != nil {
				return err
			}
			return g.pruneReport(st, dryRun)
		},
	}
	cmd.Flags().BoolVarP(&dryRun, "dry-run", "n", false, "show what would be done, change nothing")
	cmd.Flags().Float64Var(&maxUnused, "max-unused", 5, "rewrite packs with more than this `percent` of unused data")
	return cmd
}

func (g *globals) pruneReport(st *prune.Stats, dryRun bool) error {
	if g.json {
		return g.printJSON(map[string]any{"message_type": "prune", "dry_run": dryRun, "stats": st})
	}
	verb := "freed"
	if dryRun {
		verb = "would free"
	}
	g.printf("%d points; packs: %d kept, %d deleted, %d rewritten (%d blobs moved), %d left by interrupted backups; %s %s\n",
		st.Points, st.PacksKept, st.PacksDeleted, st.PacksRepacked, st.BlobsRepacked, st.PacksUnindexed, verb, ui.Bytes(st.BytesFreed))
	return nil
}
