package remote

import (
	"context"
	"fmt"

	"github.com/bunkerhq/bunker/internal/api"
	"github.com/bunkerhq/bunker/internal/blob"
	"github.com/bunkerhq/bunker/internal/client"
	"github.com/bunkerhq/bunker/internal/crypto"
	"github.com/bunkerhq/bunker/internal/replicate"
	"github.com/bunkerhq/bunker/internal/repo"
)

// Push is the destination of a copy into a vault of another server,
// written through a backup session there: a replicate.Dest for push mode.
// Blobs are named under the vault's content key, which the session gives
// its client as it gives any backup client; the server encrypts them with
// keys the pushing side never holds. Only blobs the vault lacks are
// uploaded, and the server seals the point with its own time, retention
// and lock.
type Push struct {
	b *Backup
}

// StartPush opens a backup session on vault of the server c talks to,
// for the host and paths of the point to be pushed.
func StartPush(ctx context.Context, c *client.Client, vault string, req api.SessionRequest) (*Push, error) {
	b, err := StartBackup(ctx, c, vault, req)
	if err != nil {
		return nil, err
	}
	return &Push{b: b}, nil
}

// IDKey implements replicate.Dest: the vault's content key.
func (p *Push) IDKey() *crypto.IDKey { return p.b.IDKey() }

// Has implements replicate.Dest: whether this session sent the blob or
// learned that the vault holds it.
func (p *Push) Has(h blob.Handle) bool { return p.b.Has(h) }

// SaveBlob implements replicate.Dest: the blob is sent unless the vault
// holds it, which is asked in batches.
func (p *Push) SaveBlob(ctx context.Context, t blob.Type, id blob.ID, data []byte) (bool, error) {
	return p.b.SaveBlob(ctx, t, id, data)
}

// Flush implements replicate.Dest: it waits until every blob sent is
// stored by the server.
func (p *Push) Flush(ctx context.Context) error { return p.b.Flush(ctx) }

// Stats counts what the session uploaded.
func (p *Push) Stats() repo.SaveStats { return p.b.SaveStats() }

// Checked wraps the pairs of earlier pushes so that a pair is trusted only
// while the vault still holds its blob: each lookup asks the server, and
// the blobs it holds become known to the session (and are kept by the
// server while the session lives). A pushing server cannot see the
// central vault otherwise, and the vault may have collected a blob since.
func (p *Push) Checked(m replicate.Map) replicate.Map { return checkedMap{m: m, b: p.b} }

type checkedMap struct {
	m replicate.Map
	b *Backup
}

func (cm checkedMap) Lookup(ctx context.Context, hs []blob.Handle) (map[blob.Handle]blob.ID, error) {
	got, err := cm.m.Lookup(ctx, hs)
	if err != nil || len(got) == 0 {
		return got, err
	}
	dst := make([]blob.Handle, 0, len(got))
	for h, d := range got {
		dst = append(dst, blob.Handle{ID: d, Type: h.Type})
	}
	if err := cm.b.learn(ctx, dst); err != nil {
		return nil, err
	}
	return got, nil
}

func (cm checkedMap) Record(ctx context.Context, ps []replicate.Pair) error {
	return cm.m.Record(ctx, ps)
}

// learn asks the server which of hs the vault holds, and remembers those
// as known.
func (b *Backup) learn(ctx context.Context, hs []blob.Handle) error {
	for len(hs) > 0 {
		n := min(len(hs), batchBlobs)
		missing, err := b.c.Missing(ctx, b.sess.Session, hs[:n])
		if err != nil {
			return fmt.Errorf("ask the server which data it holds: %w", err)
		}
		lacks := make(map[blob.Handle]bool, len(missing))
		for _, h := range missing {
			lacks[h] = true
		}
		b.mu.Lock()
		for _, h := range hs[:n] {
			if !lacks[h] {
				b.known[h] = struct{}{}
			}
		}
		b.mu.Unlock()
		hs = hs[n:]
	}
	return nil
}

// Commit flushes the session and asks the server to record the point
// rooted at tree, a copy of origin. A server that recorded a push of
// origin by the same principal before answers with that point.
func (p *Push) Commit(ctx context.Context, tree blob.ID, origin repo.Origin, username string, summary *repo.Summary) (api.Point, error) {
	if err := p.b.Flush(ctx); err != nil {
		return api.Point{}, err
	}
	out, err := p.b.c.Commit(ctx, p.b.sess.Session, api.CommitRequest{Tree: tree.String(), Username: username, Summary: summary, Origin: &origin})
	if err != nil {
		return api.Point{}, err
	}
	p.b.done = true
	return out, nil
}

// Close ends the session; one that recorded no point is abandoned.
func (p *Push) Close(ctx context.Context) error { return p.b.Close(ctx) }
