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

// A batch holds copies of its blobs one after another in one buffer. The
// buffers of shipped batches, and the request bodies and compression
// scratch of the shippers, are used again: a backup allocates them once
// rather than once per blob and per request, which spares the copying of
// growing slices and most of the garbage collector's work.
type batch struct {
	items []item
	data  []byte
}

// shipper is what one batch under way needs besides the batch itself.
type shipper struct {
	body, scratch []byte
}

// Backup is a backup session with a vault server.
type Backup struct {
	c       *client.Client
	vault   string
	sess    api.SessionResponse
	key     *crypto.IDKey
	cfg     repo.Config
	comp    *repo.Compressor
	slots   chan *shipper // one for each batch that may be under way
	free    chan *batch   // shipped batches, to be filled again
	wg      sync.WaitGroup
	mu      sync.Mutex
	known   map[blob.Handle]struct{} // uploaded, being uploaded, or present in the vault
	batch   *batch                   // being filled; nil when empty
	err     error
	stats   repo.SaveStats
	done    bool
	Point   *api.Point // the recorded point, after SavePoint
	Present int64      // blobs the vault already held
}

// item is one blob of a batch: its data is batch.data[off:end].
type item struct {
	h        blob.Handle
	off, end int
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
	b := &Backup{
		c: c, vault: vault, sess: sess, key: key, cfg: cfg, comp: comp,
		slots: make(chan *shipper, batchesInAir), free: make(chan *batch, batchesInAir+1),
		known: map[blob.Handle]struct{}{},
	}
	for range batchesInAir {
		b.slots <- &shipper{}
	}
	return b, nil
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
	// A batch is shipped when it is full, or before a blob would overflow
	// its buffer.
	var full *batch
	if bt := b.batch; bt != nil && len(bt.data)+len(data) > cap(bt.data) {
		full, b.batch = bt, nil
	}
	if b.batch == nil {
		b.batch = b.newBatch()
	}
	bt := b.batch
	off := len(bt.data)
	bt.data = append(bt.data, data...)
	bt.items = append(bt.items, item{h: h, off: off, end: len(bt.data)})
	var next *batch
	if len(bt.data) >= batchBytes || len(bt.items) >= batchBlobs {
		next, b.batch = bt, nil
	}
	b.mu.Unlock()
	if full != nil {
		b.send(ctx, full)
	}
	if next != nil {
		b.send(ctx, next)
	}
	return true, nil
}

// newBatch returns an empty batch, reusing a shipped one's buffers when
// there is one.
func (b *Backup) newBatch() *batch {
	select {
	case bt := <-b.free:
		return bt
	default:
		return &batch{data: make([]byte, 0, batchBytes)}
	}
}

// send ships a batch in the background, with bounded concurrency.
func (b *Backup) send(ctx context.Context, bt *batch) {
	var sh *shipper
	select {
	case sh = <-b.slots:
	case <-ctx.Done():
		b.fail(ctx.Err())
		return
	}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		defer func() { b.slots <- sh }()
		if err := b.ship(ctx, sh, bt); err != nil {
			b.fail(err)
		}
	}()
}

// recycle keeps a batch's buffers for a new batch, unless a blob larger
// than a batch (a large listing) grew them.
func (b *Backup) recycle(bt *batch) {
	if cap(bt.data) > batchBytes {
		return
	}
	bt.items, bt.data = bt.items[:0], bt.data[:0]
	select {
	case b.free <- bt:
	default:
	}
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
func (b *Backup) ship(ctx context.Context, sh *shipper, bt *batch) error {
	recycled := false
	defer func() {
		if !recycled {
			b.recycle(bt)
		}
	}()
	hs := make([]blob.Handle, len(bt.items))
	for i, it := range bt.items {
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
	// A payload is never larger than its data: what does not shrink is
	// sent as it is.
	size := 0
	for _, it := range bt.items {
		if need[it.h] {
			size += wire.FrameHeaderSize + it.end - it.off
		}
	}
	if size = min(size, uploadMaxBody); cap(sh.body) < size {
		sh.body = make([]byte, 0, size)
	}
	body := sh.body[:0]
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
	for _, it := range bt.items {
		if !need[it.h] {
			continue
		}
		data := bt.data[it.off:it.end]
		payload, compressed := b.comp.Compress(sh.scratch[:0], data)
		if compressed {
			sh.scratch = payload
		}
		if len(body)+len(payload)+wire.FrameHeaderSize > uploadMaxBody {
			if err := flush(); err != nil {
				return err
			}
		}
		body = wire.AppendFrame(body, wire.Frame{Handle: it.h, Compressed: compressed, RawLen: len(data), Payload: payload})
		sent++
		raw += int64(len(data))
		stored += int64(len(payload))
	}
	// What is left to send is in body: the batch can be filled again
	// while it is uploaded.
	n := int64(len(bt.items))
	b.recycle(bt)
	recycled = true
	if err := flush(); err != nil {
		return err
	}
	if cap(body) <= uploadMaxBody {
		sh.body = body
	}
	b.mu.Lock()
	b.stats.Blobs += sent
	b.stats.RawBytes += raw
	b.stats.StoredBytes += stored
	b.Present += n - sent
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
	b.batch = nil
	b.mu.Unlock()
	if last != nil {
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
