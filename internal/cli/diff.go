package cli

import (
	"context"
	"path"
	"slices"

	"github.com/spf13/cobra"

	"github.com/bunkerhq/bunker/internal/blob"
	"github.com/bunkerhq/bunker/internal/repo"
	"github.com/bunkerhq/bunker/internal/tree"
)

// change is one difference between two points.
type change struct {
	Kind string `json:"kind"` // "+" added, "-" removed, "M" content, "T" type, "U" metadata only
	Path string `json:"path"`
}

type diffStats struct {
	Added, Removed, Modified, TypeChanged, MetaChanged int
}

func newDiffCmd(g *globals) *cobra.Command {
	var meta bool
	cmd := &cobra.Command{
		Use:   "diff POINT1 POINT2",
		Short: "Show what changed between two points",
		Long: `Show what changed from POINT1 to POINT2:
  +  added        -  removed        M  content changed
  T  type changed (e.g. file to symlink)  U  metadata only (with --metadata)`,
		Args: args(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, a []string) error {
			ctx := cmd.Context()
			v, pts, err := g.openPoints(ctx, lockNone, a[0], a[1])
			if err != nil {
				return err
			}
			defer v.Close()
			p1, p2 := pts[0], pts[1]
			var st diffStats
			emit := func(c change) error {
				switch c.Kind {
				case "+":
					st.Added++
				case "-":
					st.Removed++
				case "M":
					st.Modified++
				case "T":
					st.TypeChanged++
				case "U":
					if !meta {
						return nil
					}
					st.MetaChanged++
				}
				if g.json {
					return g.printJSON(c)
				}
				g.printf("%-2s %s\n", c.Kind, c.Path)
				return nil
			}
			if err := diffTrees(ctx, v.repo, &p1.Tree, &p2.Tree, "/", emit); err != nil {
				return err
			}
			if !g.json {
				g.printf("\n%d added, %d removed, %d modified, %d changed type", st.Added, st.Removed, st.Modified, st.TypeChanged)
				if meta {
					g.printf(", %d metadata only", st.MetaChanged)
				}
				g.printf("\n")
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&meta, "metadata", false, "also list entries whose metadata alone changed")
	return cmd
}

// diffTrees compares two listings; identical subtrees are skipped unread.
func diffTrees(ctx context.Context, r *repo.Repository, a, b *blob.ID, dir string, emit func(change) error) error {
	if a != nil && b != nil && *a == *b {
		return nil
	}
	ta, err := loadOptional(ctx, r, a)
	if err != nil {
		return err
	}
	tb, err := loadOptional(ctx, r, b)
	if err != nil {
		return err
	}
	names := map[string]bool{}
	for _, n := range ta.Nodes {
		names[n.Name] = true
	}
	for _, n := range tb.Nodes {
		names[n.Name] = true
	}
	sorted := make([]string, 0, len(names))
	for n := range names {
		sorted = append(sorted, n)
	}
	slices.Sort(sorted)
	for _, name := range sorted {
		if err := diffNode(ctx, r, ta.Find(name), tb.Find(name), path.Join(dir, name), emit); err != nil {
			return err
		}
	}
	return nil
}

func diffNode(ctx context.Context, r *repo.Repository, na, nb *tree.Node, np string, emit func(change) error) error {
	switch {
	case na == nil:
		if err := emit(change{"+", np}); err != nil {
			return err
		}
		if nb.Type == tree.TypeDir {
			return diffTrees(ctx, r, nil, nb.Subtree, np, emit)
		}
		return nil
	case nb == nil:
		if err := emit(change{"-", np}); err != nil {
			return err
		}
		if na.Type == tree.TypeDir {
			return diffTrees(ctx, r, na.Subtree, nil, np, emit)
		}
		return nil
	case na.Type != nb.Type:
		return emit(change{"T", np})
	case na.Type == tree.TypeFile && !slices.Equal(na.Content, nb.Content):
		return emit(change{"M", np})
	case na.Type == tree.TypeSymlink && na.LinkTarget != nb.LinkTarget:
		return emit(change{"M", np})
	}
	if metaChanged(na, nb) {
		if err := emit(change{"U", np}); err != nil {
			return err
		}
	}
	if na.Type == tree.TypeDir {
		return diffTrees(ctx, r, na.Subtree, nb.Subtree, np, emit)
	}
	return nil
}

func metaChanged(a, b *tree.Node) bool {
	return a.Mode != b.Mode || a.UID != b.UID || a.GID != b.GID || a.MTime != b.MTime ||
		a.Rdev != b.Rdev || !slices.EqualFunc(a.Xattrs, b.Xattrs, func(x, y tree.Xattr) bool {
		return x.Name == y.Name && string(x.Value) == string(y.Value)
	})
}

func loadOptional(ctx context.Context, r *repo.Repository, id *blob.ID) (*tree.Tree, error) {
	if id == nil {
		return &tree.Tree{}, nil
	}
	return r.LoadTree(ctx, *id)
}
