package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/bunkerhq/bunker/internal/checker"
)

func newCheckCmd(g *globals) *cobra.Command {
	var readData bool
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Check the vault for damage",
		Long: `Check that every point's trees load and every blob a point needs is indexed
and its pack is present. With --read-data, also read every pack, check that it
hashes to its name, and authenticate and hash every blob in it.

Damage is reported naming the damaged object and the files and points that
need it; undamaged files stay restorable. Exit code 4 means damage was found.`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			v, err := g.openVault(ctx, lockShared, false)
			if err != nil {
				return err
			}
			defer v.Close()
			opts := checker.Options{ReadData: readData}
			r := g.renderer()
			if readData {
				prog := r.Progress()
				prog.FinishScan()
				var last int
				opts.Progress = func(done, total int) {
					if last == 0 {
						prog.AddTotal(int64(total), 0)
					}
					prog.AddDone(int64(done-last), 0)
					last = done
				}
				r.Start(ctx)
			}
			rep, err := checker.Check(ctx, v.repo, opts)
			r.Stop()
			if err != nil {
				return err
			}
			if g.json {
				if err := g.printJSON(rep); err != nil {
					return err
				}
			} else {
				g.printCheck(rep, readData)
			}
			if !rep.OK() {
				return withCode(ExitDamaged, fmt.Errorf("the vault is damaged: %d problems (listed above)", len(rep.Problems)))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&readData, "read-data", false, "read and authenticate every pack")
	return cmd
}

func (g *globals) printCheck(rep *checker.Report, readData bool) {
	g.printf("checked %d points, %d packs, %d blobs", rep.Points, rep.Packs, rep.Blobs)
	if readData {
		g.printf("; read %d packs", rep.PacksRead)
	}
	g.printf("\n")
	if n := len(rep.UnindexedPack); n > 0 {
		g.printf("%d packs left by interrupted backups are not indexed yet (the next backup re-uses them; prune removes them)\n", n)
	}
	for _, p := range rep.Problems {
		g.printf("%s %s: %s\n", strings.ToUpper(p.Kind), p.Object, p.Detail)
		for _, a := range p.Affected {
			g.printf("  affects %s in point %s\n", a.Path, a.Point.Short())
		}
	}
	if rep.OK() {
		g.printf("no problems found\n")
	}
}
