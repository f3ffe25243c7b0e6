package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/bunkerhq/bunker/internal/repo"
	"github.com/bunkerhq/bunker/internal/restorer"
	"github.com/bunkerhq/bunker/internal/ui"
)

func newRestoreCmd(g *globals) *cobra.Command {
	var target, overwrite string
	var include []string
	var verify, byName bool
	cmd := &cobra.Command{
		Use:   "restore POINT --target DIR",
		Short: "Restore a point, or chosen paths of it, into a directory",
		Long: `Restore a recovery point into a target directory, with owners, modes,
times, extended attributes, hard links, device nodes and sparse files.

POINT is "latest" or a point id (a unique prefix of at least 4 hex digits).
Paths in a point are absolute, so /home/ann/doc restores to TARGET/home/ann/doc.
Nothing is ever written outside the target: names in the point and symbolic
links (in the point or already in the target) cannot lead out of it.`,
		Example: `  bunker restore latest --target /tmp/restore
  bunker restore 3fa9c1 --target /srv --include /srv/www --overwrite if-changed --verify`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			ow, err := restorer.ParseOverwrite(overwrite)
			if err != nil {
				return usageError{err}
			}
			if target == "" {
				return usageError{fmt.Errorf("name the directory to restore into with --target")}
			}
			ctx := cmd.Context()
			v, err := g.openVault(ctx, lockShared, false)
			if err != nil {
				return err
			}
			defer v.Close()
			p, err := loadPointRef(cmd, v.repo, a[0])
			if err != nil {
				return err
			}
			r := g.renderer()
			r.Progress().FinishScan()
			r.Start(ctx)
			res, err := restorer.Restore(ctx, v.repo, p, restorer.Options{
				Target: target, Include: include, Overwrite: ow, Verify: verify, ByName: byName, Progress: r.Progress(),
			})
			r.Stop()
			if err != nil {
				return err
			}
			if g.json {
				if err := g.printJSON(map[string]any{"message_type": "summary", "point": p.ID.String(), "files": res.Files,
					"dirs": res.Dirs, "others": res.Others, "skipped": res.Skipped, "verified": res.Verified,
					"bytes": res.Bytes, "errors": len(res.Errors)}); err != nil {
					return err
				}
			} else if !g.quiet {
				g.printf("restored point %s to %s: %d files, %d directories, %d other entries, %s",
					p.ID.Short(), target, res.Files, res.Dirs, res.Others, ui.Bytes(res.Bytes))
				if res.Skipped > 0 {
					g.printf(", %d existing files kept", res.Skipped)
				}
				if verify {
					g.printf(", %d files verified", res.Verified)
				}
				g.printf("\n")
			}
			if len(res.Errors) > 0 {
				return withCode(ExitPartial, fmt.Errorf("%d entries could not be restored (listed above)", len(res.Errors)))
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&target, "target", "t", "", "directory to restore into (created if missing)")
	fl.StringArrayVarP(&include, "include", "i", nil, "restore only this `path` of the point (repeatable)")
	fl.StringVar(&overwrite, "overwrite", "always", "existing files: never, if-changed (size or mtime differ) or always")
	fl.BoolVar(&verify, "verify", false, "re-read every restored file and compare it with the point")
	fl.BoolVar(&byName, "owner-by-name", false, "map owners by user and group name instead of numeric id")
	return cmd
}

// loadPointRef resolves a point reference after loading the index.
func loadPointRef(cmd *cobra.Command, r *repo.Repository, ref string) (*repo.Point, error) {
	ctx := cmd.Context()
	if err := r.LoadIndex(ctx); err != nil {
		return nil, err
	}
	points, err := r.Points(ctx)
	if err != nil {
		return nil, err
	}
	return repo.FindPoint(points, ref)
}
