package cli

import (
	"errors"

	"github.com/spf13/cobra"
)

func newPointCopyCmd(g *globals) *cobra.Command {
	var to string
	cmd := &cobra.Command{
		Use:   "copy --vault NAME POINT --to VAULT",
		Short: "Copy a point into another vault of the server",
		Long: `Copy a point into another vault of the same server, for example a
compliance-locked central vault. The server reads the point's content,
names and encrypts it again under the other vault's keys, and seals the copy
there as a new point: its time is the server's, its expiry and lock are the
other vault's, and its origin names the point it copies. Only what earlier
copies from the same vault did not store is read, so a copy of an
incremental point moves only its new chunks. A failed copy keeps what it
stored; copying again reads only the rest. A point the vault holds a copy of
already is not copied twice.

Needs data.read on the point's vault (restore-operator) and point.create on
the other (backup-operator).`,
		Example: `  bunker point copy --vault prod latest --to central
  bunker point copy --vault prod 3fa9c1 --to central --json`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			if err := checkPointRef(a[0]); err != nil {
				return err
			}
			if to == "" {
				return usageError{errors.New("--to: name the vault to copy the point into")}
			}
			c, vault, err := g.pointTarget()
			if err != nil {
				return err
			}
			rep, err := c.CopyPoint(cmd.Context(), vault, a[0], to)
			if err != nil {
				return failed(err, "copy point %s of vault %s into vault %s", a[0], vault, to)
			}
			if g.json {
				return g.printJSON(rep)
			}
			g.printCopy(rep)
			return nil
		},
	}
	cmd.Flags().StringVar(&to, "to", "", "the vault to copy the point into")
	return cmd
}
