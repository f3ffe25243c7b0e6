package cli

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"path"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/bunkerhq/bunker/internal/blob"
	"github.com/bunkerhq/bunker/internal/repo"
	"github.com/bunkerhq/bunker/internal/tree"
)

func newDumpCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "dump POINT PATH",
		Short: "Write a file, or a directory as a tar archive, to stdout",
		Example: `  bunker dump latest /etc/hosts
  bunker dump latest /home/ann > ann.tar
  bunker dump latest mydb.sql | psql mydb`,
		Args: args(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, a []string) error {
			ctx := cmd.Context()
			v, pts, err := g.openPoints(ctx, lockNone, a[0])
			if err != nil {
				return err
			}
			defer v.Close()
			p := pts[0]
			n, err := findNode(ctx, v.repo, p, a[1])
			if err != nil {
				return err
			}
			switch n.Type {
			case tree.TypeFile:
				return writeContent(ctx, v.repo, n, g.stdout)
			case tree.TypeDir:
				tw := tar.NewWriter(g.stdout)
				base := path.Clean("/" + a[1])
				if err := dumpTar(ctx, v.repo, tw, *n.Subtree, strings.TrimPrefix(path.Base(base), "/")); err != nil {
					return err
				}
				return tw.Close()
			}
			return fmt.Errorf("%s is a %s: only files and directories can be dumped", a[1], n.Type)
		},
	}
}

func writeContent(ctx context.Context, r *repo.Repository, n *tree.Node, w io.Writer) error {
	var buf []byte
	var err error
	for _, id := range n.Content {
		if buf, err = r.LoadBlob(ctx, blob.DataBlob, id, buf); err != nil {
			return err
		}
		if _, err := w.Write(buf); err != nil {
			return fmt.Errorf("write: %w", err)
		}
	}
	return nil
}

// dumpTar writes the listing id below prefix as tar entries.
func dumpTar(ctx context.Context, r *repo.Repository, tw *tar.Writer, id blob.ID, prefix string) error {
	t, err := r.LoadTree(ctx, id)
	if err != nil {
		return err
	}
	for _, n := range t.Nodes {
		name := path.Join(prefix, n.Name)
		if name == "" || name == "/" {
			name = n.Name
		}
		hdr := tarHeader(n, strings.TrimPrefix(name, "/"))
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("tar %s: %w", name, err)
		}
		switch n.Type {
		case tree.TypeFile:
			if err := writeContent(ctx, r, n, tw); err != nil {
				return err
			}
		case tree.TypeDir:
			if err := dumpTar(ctx, r, tw, *n.Subtree, name); err != nil {
				return err
			}
		}
	}
	return nil
}

func tarHeader(n *tree.Node, name string) *tar.Header {
	h := &tar.Header{
		Name: name, Mode: int64(n.Mode), Uid: int(n.UID), Gid: int(n.GID), Uname: n.User, Gname: n.Group,
		ModTime: time.Unix(0, n.MTime), AccessTime: time.Unix(0, n.ATime), Format: tar.FormatPAX,
	}
	switch n.Type {
	case tree.TypeFile:
		h.Typeflag, h.Size = tar.TypeReg, int64(n.Size)
	case tree.TypeDir:
		h.Typeflag, h.Name = tar.TypeDir, name+"/"
	case tree.TypeSymlink:
		h.Typeflag, h.Linkname = tar.TypeSymlink, n.LinkTarget
	case tree.TypeChar, tree.TypeBlock:
		h.Typeflag = tar.TypeChar
		if n.Type == tree.TypeBlock {
			h.Typeflag = tar.TypeBlock
		}
		h.Devmajor, h.Devminor = int64(unix.Major(n.Rdev)), int64(unix.Minor(n.Rdev))
	case tree.TypeFIFO:
		h.Typeflag = tar.TypeFifo
	default:
		h.Typeflag = tar.TypeFifo // sockets cannot be archived; an inert FIFO keeps the name
	}
	if len(n.Xattrs) > 0 {
		h.PAXRecords = map[string]string{}
		for _, x := range n.Xattrs {
			h.PAXRecords["SCHILY.xattr."+x.Name] = string(x.Value)
		}
	}
	return h
}
