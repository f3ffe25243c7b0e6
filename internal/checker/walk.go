package checker

import (
	"context"
	"fmt"
	"path"

	"github.com/bunkerhq/bunker/internal/blob"
	"github.com/bunkerhq/bunker/internal/repo"
	"github.com/bunkerhq/bunker/internal/tree"
)

// Visitor is called for every node of a point's tree with the node's path
// ("/" joined names). A tree that cannot be loaded is reported with a nil
// node and the error.
type Visitor func(p *repo.Point, nodePath string, n *tree.Node, err error) error

// TreeError reports a directory listing that could not be loaded.
type TreeError struct {
	ID  blob.ID
	Err error
}

func (e *TreeError) Error() string { return fmt.Sprintf("listing %s: %v", e.ID.Short(), e.Err) }
func (e *TreeError) Unwrap() error { return e.Err }

// WalkPoint visits every node below a point's root tree, depth first, and
// each tree only as often as it appears. Load errors of trees are passed to
// fn and do not stop the walk.
func WalkPoint(ctx context.Context, r *repo.Repository, p *repo.Point, fn Visitor) error {
	return walkTree(ctx, r, p, p.Tree, "/", fn)
}

func walkTree(ctx context.Context, r *repo.Repository, p *repo.Point, id blob.ID, dir string, fn Visitor) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	t, err := r.LoadTree(ctx, id)
	if err != nil {
		return fn(p, dir, nil, &TreeError{ID: id, Err: err})
	}
	for _, n := range t.Nodes {
		np := path.Join(dir, n.Name)
		if err := fn(p, np, n, nil); err != nil {
			return err
		}
		if n.Type == tree.TypeDir && n.Subtree != nil {
			if err := walkTree(ctx, r, p, *n.Subtree, np, fn); err != nil {
				return err
			}
		}
	}
	return nil
}
