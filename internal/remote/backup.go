// Package remote lets the engine back up into and restore from a vault on a
// bunker server: Backup is an archiver.Store over a backup session, Restore
// a restorer.Source over a restore session. The client chunks, names and
// compresses; the server checks, encrypts, packs and stamps.
package remote

import (
	"context"
	"encoding/base64"
	"fmt"
	"sync"

	"github.com/bunkerhq/bunker/internal/api"
	"github.com/bunkerhq/bunker/internal/blob"
	"github.com/bunkerhq/bunker/internal/client"
	"github.com/bunkerhq/bunker/internal/crypto"
	"github.com/bunkerhq/bunker/internal/repo"
	"github.com/bunkerhq/bunker/internal/tree"
	"github.com/bunkerhq/bunker/internal/wire"
)

// Batching: blobs are asked about and uploaded in batches of this many bytes
// or blobs, with this many batches under way at once.
const (
	batchBytes    = 8 << 20
	batchBlobs    = 1024
	batchesInAir  = 4
	uploadMaxBody = 64 << 20
)

// Backup is a backup session with a vault server.
type Backup struct {
	c       *client.Client
	vault   string
	sess    api.SessionResponse
	key     *crypto.IDKey
	cfg     repo.Config
	comp    *repo.Compressor
	slots   chan struct{}
	wg      sync.WaitGroup
	mu      sync.Mutex
	known   map[blob.Handle]struct{} // uploaded, being uploaded, or present in the vault
	batch   []item
	size    int
	err     error
	stats   repo.SaveStats
	done    bool
	Point   *api.Point // the recorded point, after SavePoint
	Present int64      // blobs the vault already held
}

type item struct {
	h    blob.Handle
	data []byte
}

// StartBackup opens a backup session on vault for hostname and paths (and
// tags), comparing with parent when it names a point.
func StartBackup(ctx context.Context, c *client.Client, vault string, req api.SessionRequest) (*Backup, error) {
	sess, err := c.StartBackup(ctx, vault, req)
	if err != nil {
		return nil, err
	}
	key, err := parseContentKey(sess.ContentKey)
	if err != nil {
		return nil, err
	}
	cfg := repo.Config{ChunkMin: sess.ChunkMin, ChunkAvg: sess.ChunkAvg, ChunkMax: sess.ChunkMax, PackSize: sess.PackSize, Compress: "zstd"}
	if err := cfg.ChunkerParams().Validate(); err != nil {
		return nil, fmt.Errorf("server sent unusable chunk sizes: %w", err)
	}
	comp, err := repo.NewCompressor()
	if err != nil {
		return nil, err
	}
	return &Backup{
		c: c, vault: vault, sess: sess, key: key, cfg: cfg, comp: comp,
		slots: make(chan struct{}, batchesInAir), known: map[blob.Handle]struct{}{},
	}, nil
}

// parseContentKey decodes the content key a server sends.
func parseContentKey(s string) (*crypto.IDKey, error) {
	raw, err := base64.StdEncoding.DecodeString(s)
	if err == nil {
		var key *crypto.IDKey
		if key, err = crypto.ParseIDKey(raw); err == nil {
			return key, nil
		}
	}
	return nil, fmt.Errorf("server sent a malformed content key: %w", err)
}

// Parent is the point this backup compares with, if any.
func (b *Backup) Parent() *repo.Point {
	p := b.sess.Parent
	if p == nil {
		return nil
	}
	id, err1 := blob.ParseID(p.ID)
	t, err2 := blob.ParseID(p.Tree)
	if err1 != nil || err2 != nil {
		return nil
	}
	return &repo.Point{ID: id, Tree: t, Time: p.Time, Hostname: p.Hostname, Paths: p.Paths, Tags: p.Tags}
}

// Config returns the vault's chunk sizes.
func (b *Backup) Config() repo.Config { return b.cfg }

// IDKey returns the vault's content key.
func (b *Backup) IDKey() *crypto.IDKey { return b.key }

// Has reports whether this session already sent or learned of h.
func (b *Backup) Has(h blob.Handle) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	_, ok := b.known[h]
	return ok
}

// SaveBlob queues data for the server unless this session already did.
// Whether the vault needs it is asked in batches.
func (b *Backup) SaveBlob(ctx context.Context, t blob.Type, id blob.ID, data []byte) (bool, error) {
	h := blob.Handle{ID: id, Type: t}
	b.mu.Lock()
	if b.err != nil {
		err := b.err
		b.mu.Unlock()
		return false, err
	}
	if _, ok := b.known[h]; ok {
		b.mu.Unlock()
		return false, nil
	}
	b.known[h] = struct{}{}
	b.batch = append(b.batch, item{h: h, data: append([]byte(nil), data...)})
	b.size += len(data)
	var full []item
	if b.size >= batchBytes || len(b.batch) >= batchBlobs {
		full, b.batch, b.size = b.batch, nil, 0
	}
	b.mu.Unlock()
	if full != nil {
		b.send(ctx, full)
	}
	return true, nil
}

// send ships a batch in the background, with bounded concurrency.
func (b *Backup) send(ctx context.Context, batch []item) {
	select {
	case b.slots <- struct{}{}:
	case <-ctx.Done():
		b.fail(ctx.Err())
		return
	}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		defer func() { <-b.slots }()
		if err := b.ship(ctx, batch); err != nil {
			b.fail(err)
		}
	}()
}

func (b *Backup) fail(err error) {
	b.mu.Lock()
	if b.err == nil {
		b.err = err
	}
	b.mu.Unlock()
}

// ship asks which blobs of the batch the vault lacks, compresses those and
// uploads them.
func (b *Backup) ship(ctx context.Context, batch []item) error {
	hs := make([]blob.Handle, len(batch))
	for i, it := range batch {
		hs[i] = it.h
	}
	missing, err := b.c.Missing(ctx, b.sess.Session, hs)
	if err != nil {
		return fmt.Errorf("ask the server which data it lacks: %w", err)
	}
	need := make(map[blob.Handle]bool, len(missing))
	for _, h := range missing {
		need[h] = true
	}
	var body []byte
	var sent, raw, stored int64
	flush := func() error {
		if len(body) == 0 {
			return nil
		}
		if _, err := b.c.Upload(ctx, b.sess.Session, body); err != nil {
			return fmt.Errorf("upload: %w", err)
		}
		body = body[:0]
		return nil
	}
	var scratch []byte
	for _, it := range batch {
		if !need[it.h] {
			continue
		}
		payload, compressed := b.comp.Compress(scratch[:0], it.data)
		if compressed {
			scratch = payload
		}
		if len(body)+len(payload)+wire.FrameHeaderSize > uploadMaxBody {
			if err := flush(); err != nil {
				return err
			}
		}
		body = wire.AppendFrame(body, wire.Frame{Handle: it.h, Compressed: compressed, RawLen: len(it.data), Payload: payload})
		sent++
		raw += int64(len(it.data))
		stored += int64(len(payload))
	}
	if err := flush(); err != nil {
		return err
	}
	b.mu.Lock()
	b.stats.Blobs += sent
	b.stats.RawBytes += raw
	b.stats.StoredBytes += stored
	b.Present += int64(len(batch)) - sent
	b.mu.Unlock()
	return nil
}

// SaveTree encodes and queues a listing.
func (b *Backup) SaveTree(ctx context.Context, t *tree.Tree) (blob.ID, error) {
	data, err := tree.Encode(t)
	if err != nil {
		return blob.ID{}, err
	}
	id := b.key.BlobID(data)
	_, err = b.SaveBlob(ctx, blob.TreeBlob, id, data)
	return id, err
}

// LoadTree reads a listing of the parent point from the server and checks
// it against its id.
func (b *Backup) LoadTree(ctx context.Context, id blob.ID) (*tree.Tree, error) {
	data, err := b.c.ParentTree(ctx, b.sess.Session, id)
	if err != nil {
		return nil, fmt.Errorf("read listing %s of the parent point: %w", id.Short(), err)
	}
	if got := b.key.BlobID(data); got != id {
		return nil, fmt.Errorf("the server sent listing %s with content %s", id.Short(), got.Short())
	}
	t, err := tree.Decode(data)
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", id.Short(), err)
	}
	// What a listing of the parent names is in the vault (the parent is
	// complete, and the server keeps it for this session).
	b.mu.Lock()
	b.known[blob.Handle{ID: id, Type: blob.TreeBlob}] = struct{}{}
	for _, n := range t.Nodes {
		for _, cid := range n.Content {
			b.known[blob.Handle{ID: cid, Type: blob.DataBlob}] = struct{}{}
		}
	}
	b.mu.Unlock()
	return t, nil
}

// LoadIndex does nothing: the server deduplicates across clients.
func (b *Backup) LoadIndex(context.Context) error { return nil }

// Flush sends the last batch and waits for every upload.
func (b *Backup) Flush(ctx context.Context) error {
	b.mu.Lock()
	last := b.batch
	b.batch, b.size = nil, 0
	b.mu.Unlock()
	if len(last) > 0 {
		b.send(ctx, last)
	}
	b.wg.Wait()
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}

// SaveStats counts what this session uploaded; StoredBytes is the payload
// sent (the server adds its own packing).
func (b *Backup) SaveStats() repo.SaveStats {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.stats
}

// SavePoint asks the server to record the point. The server keeps the host,
// paths and tags the session was opened with, stamps its own time (the
// client's is kept only as a label) and its vault's expiry.
func (b *Backup) SavePoint(ctx context.Context, p *repo.Point) (blob.ID, error) {
	if err := b.Flush(ctx); err != nil {
		return blob.ID{}, err
	}
	out, err := b.c.Commit(ctx, b.sess.Session, api.CommitRequest{Tree: p.Tree.String(), Username: p.Username, Summary: p.Summary, ClientTime: p.Time})
	if err != nil {
		return blob.ID{}, err
	}
	id, err := blob.ParseID(out.ID)
	if err != nil {
		return blob.ID{}, fmt.Errorf("server answered with point id %q: %w", out.ID, err)
	}
	b.done = true
	b.Point = &out
	p.ID, p.Time = id, out.Time
	return id, nil
}

// Close ends the session; one that recorded no point is abandoned.
func (b *Backup) Close(ctx context.Context) error {
	b.wg.Wait()
	b.comp.Close()
	if b.done {
		return nil
	}
	err := b.c.EndBackup(ctx, b.sess.Session)
	if client.IsStatus(err, 404) {
		return nil
	}
	return err
}
