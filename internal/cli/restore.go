package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/bunkerhq/bunker/internal/api"
	"github.com/bunkerhq/bunker/internal/remote"
	"github.com/bunkerhq/bunker/internal/repo"
	"github.com/bunkerhq/bunker/internal/restorer"
	"github.com/bunkerhq/bunker/internal/ui"
)

func newRestoreCmd(g *globals) *cobra.Command {
	var target, overwrite string
	var include []string
	var verify, byName, allowInfected bool
	cmd := &cobra.Command{
		Use:   "restore POINT --target DIR",
		Short: "Restore a point, or chosen paths of it, into a directory",
		Long: `Restore a recovery point into a target directory, with owners, modes,
times, extended attributes, hard links, device nodes and sparse files.

POINT is "latest" or a point id (a unique prefix of at least 4 hex digits).
Paths in a point are absolute, so /home/ann/doc restores to TARGET/home/ann/doc.
Nothing is ever written outside the target: names in the point and symbolic
links (in the point or already in the target) cannot lead out of it.

On a server, a point whose scan verdict is infected is refused (exit code 7)
unless --allow-infected is given, which the server audits; a suspicious point
restores with a warning. ` + "`bunker point list --source HOST`" + ` names the last clean point.`,
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
			src, p, done, err := g.restoreSource(ctx, a[0], allowInfected)
			if err != nil {
				return err
			}
			defer done()
			r := g.renderer()
			r.Progress().FinishScan()
			r.Start(ctx)
			res, err := restorer.Restore(ctx, src, p, restorer.Options{
				Target: target, Include: include, Overwrite: ow, Verify: verify, ByName: byName, Progress: r.Progress(),
			})
			r.Stop()
			if err != nil {
				return serverError(err)
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
	fl.BoolVar(&allowInfected, "allow-infected", false, "restore a point the server's scan found infected (audited)")
	return cmd
}

// restoreSource opens what a restore reads from: a restore session on a
// server in server mode, else the local vault. done releases it.
//
// A point the server found infected restores only with allowInfected; a
// suspicious one restores with a warning.
func (g *globals) restoreSource(ctx context.Context, ref string, allowInfected bool) (restorer.Source, *repo.Point, func(), error) {
	if g.remoteMode() {
		name, err := g.vaultName()
		if err != nil {
			return nil, nil, nil, err
		}
		c, _, err := g.connect(false)
		if err != nil {
			return nil, nil, nil, err
		}
		rs, err := remote.StartRestoreWith(ctx, c, name, ref, api.RestoreRequest{AllowInfected: allowInfected})
		if err != nil {
			return nil, nil, nil, infectedError(err)
		}
		g.restoreVerdict(rs.Verdict(), rs.Point().ID.String())
		return rs, rs.Point(), func() { rs.Close(context.WithoutCancel(ctx)) }, nil
	}
	v, pts, err := g.openPoints(ctx, lockShared, ref)
	if err != nil {
		return nil, nil, nil, err
	}
	return v.repo, pts[0], v.Close, nil
}

// openPoints opens the vault, loads its index, and resolves point
// references ("latest" or id prefixes). The caller closes the vault.
func (g *globals) openPoints(ctx context.Context, mode lockMode, refs ...string) (*vault, []*repo.Point, error) {
	v, err := g.openVault(ctx, mode, false)
	if err != nil {
		return nil, nil, err
	}
	out, err := v.resolve(ctx, refs)
	if err != nil {
		v.Close()
		return nil, nil, err
	}
	return v, out, nil
}

func (v *vault) resolve(ctx context.Context, refs []string) ([]*repo.Point, error) {
	points, err := v.load(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]*repo.Point, 0, len(refs))
	for _, ref := range refs {
		p, err := repo.FindPoint(points, ref)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// load reads the vault's index and its points.
// loadIndex loads the vault's index, saying what to do when an index
// object is damaged.
func (v *vault) loadIndex(ctx context.Context) error {
	err := v.repo.LoadIndex(ctx)
	if errors.Is(err, repo.ErrIndexDamaged) {
		return fmt.Errorf("%w; `bunker repair index` rebuilds the index from the packs", err)
	}
	return err
}

func (v *vault) load(ctx context.Context) ([]*repo.Point, error) {
	if err := v.loadIndex(ctx); err != nil {
		return nil, err
	}
	return v.repo.Points(ctx)
}
