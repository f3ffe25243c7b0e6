package remote

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/bunkerhq/bunker/internal/api"
	"github.com/bunkerhq/bunker/internal/blob"
	"github.com/bunkerhq/bunker/internal/client"
	"github.com/bunkerhq/bunker/internal/crypto"
	"github.com/bunkerhq/bunker/internal/pack"
	"github.com/bunkerhq/bunker/internal/repo"
	"github.com/bunkerhq/bunker/internal/tree"
	"github.com/bunkerhq/bunker/internal/wire"
)

// Restore is a restore session on one point of a vault server. Every blob
// it reads is decompressed and checked against its id here, so a server (or
// anything between) cannot hand back other data.
type Restore struct {
	c     *client.Client
	sess  api.RestoreResponse
	key   *crypto.IDKey
	comp  *repo.Compressor
	point *repo.Point
	ahead *prefetcher
	stop  context.CancelFunc
}

// Verdict is the point's latest scan verdict, or nil when it was never
// scanned.
func (r *Restore) Verdict() *api.PointVerdict { return r.sess.Point.Verdict }

// StartRestore opens a restore session on point ref ("latest" or an id
// prefix) of vault.
func StartRestore(ctx context.Context, c *client.Client, vault, ref string) (*Restore, error) {
	return StartRestoreWith(ctx, c, vault, ref, api.RestoreRequest{})
}

// StartRestoreWith is StartRestore with the request's options: a point
// whose verdict is infected restores only with AllowInfected.
func StartRestoreWith(ctx context.Context, c *client.Client, vault, ref string, req api.RestoreRequest) (*Restore, error) {
	sess, err := c.StartRestoreWith(ctx, vault, ref, req)
	if err != nil {
		return nil, err
	}
	key, err := parseContentKey(sess.ContentKey)
	if err != nil {
		return nil, err
	}
	p := sess.Point.Point
	id, err := blob.ParseID(p.ID)
	if err != nil {
		return nil, fmt.Errorf("server sent point id %q: %w", p.ID, err)
	}
	root, err := blob.ParseID(p.Tree)
	if err != nil {
		return nil, fmt.Errorf("server sent tree id %q: %w", p.Tree, err)
	}
	comp, err := repo.NewCompressor()
	if err != nil {
		return nil, err
	}
	rp := &repo.Point{ID: id, Tree: root, Time: p.Time, Hostname: p.Hostname, Username: p.Username, Paths: p.Paths, Tags: p.Tags, Summary: p.Summary}
	r := &Restore{c: c, sess: sess, key: key, comp: comp, point: rp}
	pctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	r.stop = stop
	r.ahead = newPrefetcher(pctx, func(ctx context.Context, hs []blob.Handle) ([]byte, error) {
		return c.ReadBlobs(ctx, sess.Session, hs)
	})
	return r, nil
}

// Point is the point being restored.
func (r *Restore) Point() *repo.Point { return r.point }

// Info is the server's description of the point.
func (r *Restore) Info() api.Point { return r.sess.Point }

// IDKey returns the vault's content key.
func (r *Restore) IDKey() *crypto.IDKey { return r.key }

// LoadTree reads and decodes a listing.
func (r *Restore) LoadTree(ctx context.Context, id blob.ID) (*tree.Tree, error) {
	data, err := r.LoadBlob(ctx, blob.TreeBlob, id, nil)
	if err != nil {
		return nil, err
	}
	t, err := tree.Decode(data)
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", id.Short(), err)
	}
	// The files of this listing are about to be restored and its
	// directories walked: fetch their listings and content ahead, the
	// listings first, since each of them names more to fetch.
	var want []blob.Handle
	for _, n := range t.Nodes {
		if n.Subtree != nil {
			want = append(want, blob.Handle{ID: *n.Subtree, Type: blob.TreeBlob})
		}
	}
	for _, n := range t.Nodes {
		for _, cid := range n.Content {
			want = append(want, blob.Handle{ID: cid, Type: blob.DataBlob})
		}
	}
	r.ahead.want(want)
	return t, nil
}

// LoadBlob reads one blob, checked against its id; it may reuse buf.
func (r *Restore) LoadBlob(ctx context.Context, t blob.Type, id blob.ID, buf []byte) ([]byte, error) {
	h := blob.Handle{ID: id, Type: t}
	f, err := r.ahead.take(ctx, h)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", h, err)
	}
	var plain []byte
	if f.compressed {
		if plain, err = r.comp.Decompress(buf, f.payload, f.rawLen); err != nil {
			return nil, fmt.Errorf("read %s: %w", h, err)
		}
	} else {
		if f.rawLen != len(f.payload) {
			return nil, fmt.Errorf("read %s: the server sent %d bytes for %d", h, len(f.payload), f.rawLen)
		}
		plain = append(buf[:0], f.payload...)
	}
	if got := r.key.BlobID(plain); got != id {
		return nil, fmt.Errorf("read %s: the server sent content that hashes to %s", h, got.Short())
	}
	return plain, nil
}

// Close ends the session.
func (r *Restore) Close(ctx context.Context) error {
	r.stop()
	r.ahead.close()
	r.comp.Close()
	err := r.c.EndRestore(ctx, r.sess.Session)
	if client.IsStatus(err, 404) {
		return nil
	}
	return err
}

// LoadBlobs reads the listed blobs directly, without the read-ahead that
// LoadTree starts, and calls fn with each one's plaintext, checked against
// its id, and its compressed form as the server sent it (nil if it sent it
// uncompressed); fn must retain neither. A server that answers with part of the
// list (its answers are bounded in size) is asked again for the rest. It is
// the read a copy makes: it fetches exactly what it lacks.
func (r *Restore) LoadBlobs(ctx context.Context, hs []blob.Handle, fn func(h blob.Handle, data, compressed []byte) error) error {
	comp, err := repo.NewCompressor()
	if err != nil {
		return err
	}
	defer comp.Close()
	var buf []byte
	for len(hs) > 0 {
		body, err := r.c.ReadBlobs(ctx, r.sess.Session, hs)
		if err != nil {
			return fmt.Errorf("read %d blobs: %w", len(hs), err)
		}
		left := make(map[blob.Handle]bool, len(hs))
		for _, h := range hs {
			left[h] = true
		}
		fr := wire.NewFrameReader(bytes.NewReader(body), pack.MaxBlobSize, len(hs))
		got := 0
		for {
			f, err := fr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return fmt.Errorf("read blobs: %w", err)
			}
			if !left[f.Handle] {
				return fmt.Errorf("read blobs: the server sent %s, which was not asked for or was sent twice", f.Handle)
			}
			delete(left, f.Handle)
			got++
			if buf, err = r.plain(comp, f, buf); err != nil {
				return err
			}
			var compressed []byte
			if f.Compressed {
				compressed = f.Payload // it decoded to buf
			}
			if err := fn(f.Handle, buf, compressed); err != nil {
				return err
			}
		}
		if got == 0 {
			return fmt.Errorf("read blobs: the server sent none of %d", len(hs))
		}
		rest := hs[:0:0]
		for _, h := range hs {
			if left[h] {
				rest = append(rest, h)
			}
		}
		hs = rest
	}
	return nil
}

// plain decompresses a frame's payload into buf and checks it against the
// frame's id.
func (r *Restore) plain(comp *repo.Compressor, f wire.Frame, buf []byte) ([]byte, error) {
	h := f.Handle
	var out []byte
	var err error
	if f.Compressed {
		if out, err = comp.Decompress(buf, f.Payload, f.RawLen); err != nil {
			return nil, fmt.Errorf("read %s: %w", h, err)
		}
	} else {
		if f.RawLen != len(f.Payload) {
			return nil, fmt.Errorf("read %s: the server sent %d bytes for %d", h, len(f.Payload), f.RawLen)
		}
		out = append(buf[:0], f.Payload...)
	}
	if got := r.key.BlobID(out); got != h.ID {
		return nil, fmt.Errorf("read %s: the server sent content that hashes to %s", h, got.Short())
	}
	return out, nil
}
