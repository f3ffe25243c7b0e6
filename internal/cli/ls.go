package cli

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/bunkerhq/bunker/internal/checker"
	"github.com/bunkerhq/bunker/internal/repo"
	"github.com/bunkerhq/bunker/internal/tree"
)

func newLsCmd(g *globals) *cobra.Command {
	var long bool
	cmd := &cobra.Command{
		Use:   "ls POINT [PATH]",
		Short: "List the files of a point",
		Example: `  bunker ls latest
  bunker ls -l 3fa9c1 /home/ann`,
		Args: args(cobra.RangeArgs(1, 2)),
		RunE: func(cmd *cobra.Command, a []string) error {
			ctx := cmd.Context()
			v, pts, err := g.openPoints(ctx, lockNone, a[0])
			if err != nil {
				return err
			}
			defer v.Close()
			p := pts[0]
			prefix := "/"
			if len(a) == 2 {
				prefix = path.Clean("/" + a[1])
			}
			found := false
			err = checker.WalkPoint(ctx, v.repo, p, func(_ *repo.Point, np string, n *tree.Node, err error) error {
				if err != nil {
					return err
				}
				if np != prefix && !strings.HasPrefix(np, strings.TrimSuffix(prefix, "/")+"/") {
					return nil
				}
				found = true
				return g.printNode(np, n, long)
			})
			if err != nil {
				return err
			}
			if !found && prefix != "/" {
				return fmt.Errorf("%s is not in point %s", prefix, p.ID.Short())
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&long, "long", "l", false, "show mode, owner, size and time")
	return cmd
}

type nodeJSON struct {
	Path   string        `json:"path"`
	Type   tree.NodeType `json:"type"`
	Mode   string        `json:"mode"`
	UID    uint32        `json:"uid"`
	GID    uint32        `json:"gid"`
	User   string        `json:"user,omitempty"`
	Group  string        `json:"group,omitempty"`
	Size   uint64        `json:"size"`
	MTime  time.Time     `json:"mtime"`
	Target string        `json:"target,omitempty"`
}

func (g *globals) printNode(np string, n *tree.Node, long bool) error {
	if g.json {
		return g.printJSON(nodeJSON{Path: np, Type: n.Type, Mode: fmt.Sprintf("%04o", n.Mode), UID: n.UID, GID: n.GID,
			User: n.User, Group: n.Group, Size: n.Size, MTime: time.Unix(0, n.MTime), Target: n.LinkTarget})
	}
	if !long {
		g.printf("%s\n", np)
		return nil
	}
	owner := n.User
	if owner == "" {
		owner = fmt.Sprint(n.UID)
	}
	group := n.Group
	if group == "" {
		group = fmt.Sprint(n.GID)
	}
	name := np
	if n.Type == tree.TypeSymlink {
		name += " -> " + n.LinkTarget
	}
	g.printf("%s %-8s %-8s %12d %s %s\n", modeString(n), owner, group, n.Size,
		time.Unix(0, n.MTime).Local().Format("2006-01-02 15:04:05"), name)
	return nil
}

// modeString renders a node's type and mode like ls -l.
func modeString(n *tree.Node) string {
	m := fs.FileMode(n.Mode & 0o777)
	if n.Mode&0o4000 != 0 {
		m |= fs.ModeSetuid
	}
	if n.Mode&0o2000 != 0 {
		m |= fs.ModeSetgid
	}
	if n.Mode&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	switch n.Type {
	case tree.TypeDir:
		m |= fs.ModeDir
	case tree.TypeSymlink:
		m |= fs.ModeSymlink
	case tree.TypeBlock:
		m |= fs.ModeDevice
	case tree.TypeChar:
		m |= fs.ModeDevice | fs.ModeCharDevice
	case tree.TypeFIFO:
		m |= fs.ModeNamedPipe
	case tree.TypeSocket:
		m |= fs.ModeSocket
	}
	return m.String()
}

// findNode returns the node at an absolute path inside a point.
func findNode(ctx context.Context, r *repo.Repository, p *repo.Point, np string) (*tree.Node, error) {
	np = path.Clean("/" + np)
	if np == "/" {
		id := p.Tree
		return &tree.Node{Name: "/", Type: tree.TypeDir, Mode: 0o755, Subtree: &id}, nil
	}
	id := p.Tree
	parts := strings.Split(strings.Trim(np, "/"), "/")
	var n *tree.Node
	for i, name := range parts {
		t, err := r.LoadTree(ctx, id)
		if err != nil {
			return nil, err
		}
		if n = t.Find(name); n == nil {
			return nil, fmt.Errorf("%s is not in point %s", np, p.ID.Short())
		}
		if i < len(parts)-1 {
			if n.Type != tree.TypeDir {
				return nil, fmt.Errorf("%s is not in point %s", np, p.ID.Short())
			}
			id = *n.Subtree
		}
	}
	return n, nil
}
