// Package replicate copies a recovery point's content from one vault to
// another: from a vault of the same server, or from a remote server's
// restore session. The destination vault has keys of its own, so every blob
// is read as plaintext (checked against its id under the source's key),
// named again under the destination's content key, and encrypted by the
// destination when it stores it; listings are rewritten to name the new
// ids. The copy keeps the source's chunk boundaries: the destination
// deduplicates copies of one source against each other, not against
// backups made into it directly.
//
// A Map remembers which source blob became which destination blob. It is
// what makes a copy of an incremental point transfer only new chunks: a
// listing already copied whole is skipped with everything below it, and a
// chunk already copied is not read again. A Map records a pair only once
// the destination has flushed the blob to storage, so after an
// interruption a copy started again reads what was not stored and, since
// the destination deduplicates by id, stores nothing twice.
package replicate

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/bunkerhq/bunker/internal/blob"
	"github.com/bunkerhq/bunker/internal/crypto"
	"github.com/bunkerhq/bunker/internal/tree"
)

// Source is where a point's blobs come from.
type Source interface {
	// LoadBlobs reads the listed blobs and calls fn with each one's
	// plaintext, checked against its id under the source's key, in any
	// order, and with its zstd-compressed form as the source stored it
	// (decoding to data), or nil; fn must retain neither. It fails if a
	// blob is missing.
	LoadBlobs(ctx context.Context, hs []blob.Handle, fn func(h blob.Handle, data, compressed []byte) error) error
}

// Dest is the vault a point is copied into.
type Dest interface {
	// IDKey names content in the destination.
	IDKey() *crypto.IDKey
	// Has reports whether the destination holds the blob.
	Has(h blob.Handle) bool
	// SaveBlob stores data under id unless the destination holds it, and
	// reports whether it was new. It is safe for concurrent use.
	SaveBlob(ctx context.Context, t blob.Type, id blob.ID, data []byte) (bool, error)
	// Flush writes whatever SaveBlob buffered to storage, durably.
	Flush(ctx context.Context) error
}

// CompressedSaver is a Dest that can store a blob in the compressed form
// the source sent, rather than compress it again.
type CompressedSaver interface {
	// SaveCompressed is SaveBlob with compressed, the zstd form of data.
	SaveCompressed(ctx context.Context, t blob.Type, id blob.ID, data, compressed []byte) (bool, error)
}

// Pair says that source blob Src was stored in the destination as Dst
// (of the same type).
type Pair struct {
	Src blob.Handle
	Dst blob.ID
}

// Map remembers the pairs of earlier copies from one source vault into one
// destination vault.
type Map interface {
	// Lookup returns the destination ids known for the handles; those it
	// does not know are absent from the result.
	Lookup(ctx context.Context, hs []blob.Handle) (map[blob.Handle]blob.ID, error)
	// Record adds pairs; recording a known pair again changes nothing.
	Record(ctx context.Context, ps []Pair) error
}

// Options tune a copy.
type Options struct {
	// Workers read and store data blobs concurrently; 0 means 2.
	Workers int
	// BatchBlobs and BatchBytes bound one read from the source: at most
	// BatchBlobs blobs, and about BatchBytes of plaintext as the sizes the
	// listings give (0 means 512 blobs and 4 MiB: what a cut connection
	// loses, and what a resumed copy reads again).
	BatchBlobs int
	BatchBytes int64
	// Progress, if set, is called after each batch with the totals so
	// far. It must be safe for concurrent use.
	Progress func(Stats)
}

// Stats count what a copy did.
type Stats struct {
	TreesRead    int   // listings read from the source
	TreesSkipped int   // listings skipped because an earlier copy copied them whole
	BlobsRead    int   // data blobs read from the source
	BlobsKnown   int   // data blobs not read because an earlier copy stored them
	BlobsNew     int   // blobs the destination did not hold before
	BytesRead    int64 // plaintext bytes read from the source
	BytesNew     int64 // plaintext bytes of the blobs new to the destination
}

// Copy copies the tree rooted at root (a source listing) into dst and
// returns the id of its copy there. Nothing is recorded in m before dst has
// flushed it.
func Copy(ctx context.Context, src Source, dst Dest, m Map, root blob.ID, opts Options) (blob.ID, Stats, error) {
	if opts.Workers <= 0 {
		opts.Workers = 2
	}
	if opts.BatchBlobs <= 0 {
		opts.BatchBlobs = 512
	}
	if opts.BatchBytes <= 0 {
		opts.BatchBytes = 4 << 20
	}
	c := &copier{base: ctx, src: src, dst: dst, m: m, opts: opts, ids: make(map[blob.Handle]blob.ID), trees: make(map[blob.ID]*tree.Tree)}
	id, err := c.run(ctx, root)
	if err != nil {
		// Keep what was stored before the failure, so that the next
		// attempt reads only the rest.
		if ferr := c.save(context.WithoutCancel(ctx)); ferr != nil {
			err = errors.Join(err, ferr)
		}
	}
	return id, c.stats, err
}

// save flushes the destination and records the pairs made since the last
// save.
func (c *copier) save(ctx context.Context) error {
	if err := c.dst.Flush(ctx); err != nil {
		return fmt.Errorf("flush the copy: %w", err)
	}
	c.mu.Lock()
	ps := c.pending
	c.pending = nil
	c.mu.Unlock()
	if err := c.m.Record(ctx, ps); err != nil {
		return fmt.Errorf("record what was copied: %w", err)
	}
	return nil
}

type copier struct {
	// base is the copy's own context, for SaveBlob: the destination
	// may upload with it after the call returns, so it must not be a
	// worker's, which ends with its batches.
	base context.Context
	src  Source
	dst  Dest
	m    Map
	opts Options

	mu      sync.Mutex
	ids     map[blob.Handle]blob.ID // source → destination, known or made by this copy
	pending []Pair                  // made by this copy, not yet recorded
	trees   map[blob.ID]*tree.Tree  // source listings read, by source id
	stats   Stats
}

func (c *copier) run(ctx context.Context, root blob.ID) (blob.ID, error) {
	var levels [][]blob.ID // listings to rewrite, by depth
	level := []blob.ID{root}
	for len(level) > 0 {
		todo, err := c.known(ctx, blob.TreeBlob, level)
		if err != nil {
			return blob.ID{}, err
		}
		c.stats.TreesSkipped += len(level) - len(todo)
		if err := c.readTrees(ctx, todo); err != nil {
			return blob.ID{}, err
		}
		levels = append(levels, todo)
		var next []blob.ID
		for _, id := range todo {
			for _, n := range c.trees[id].Nodes {
				if n.Subtree != nil {
					next = append(next, *n.Subtree)
				}
			}
		}
		level = dedupe(next)
	}
	// The data of the listings read, depth first, in the order of the
	// listings: the order a backup stores chunks in, so that each batch
	// is a few stretches of a few packs at the source. Level by level,
	// each batch would gather chunks from all over the source, each
	// stretch read again by every level.
	var data []blob.ID
	var sizes []int64
	c.walkData(root, &data, &sizes)
	if err := c.copyData(ctx, data, sizes); err != nil {
		return blob.ID{}, err
	}
	// Listings last, deepest first: each names the copies of its children.
	for i := len(levels) - 1; i >= 0; i-- {
		for _, id := range levels[i] {
			if err := c.copyTree(ctx, id); err != nil {
				return blob.ID{}, err
			}
		}
	}
	if err := c.save(ctx); err != nil {
		return blob.ID{}, err
	}
	out, ok := c.ids[blob.Handle{ID: root, Type: blob.TreeBlob}]
	if !ok {
		return blob.ID{}, errors.New("the root listing was not copied")
	}
	return out, nil
}

// walkData appends the chunks of the files below listing id, depth first,
// with their estimated sizes; listings not read (copied whole before) are
// skipped.
func (c *copier) walkData(id blob.ID, data *[]blob.ID, sizes *[]int64) {
	t, ok := c.trees[id]
	if !ok {
		return
	}
	for _, n := range t.Nodes {
		for _, cid := range n.Content {
			*data = append(*data, cid)
			*sizes = append(*sizes, chunkSize(n))
		}
		if n.Subtree != nil {
			c.walkData(*n.Subtree, data, sizes)
		}
	}
}

// chunkSize estimates the plaintext size of one of n's chunks, for
// batching reads.
func chunkSize(n *tree.Node) int64 {
	if len(n.Content) == 0 {
		return 0
	}
	return int64(n.Size) / int64(len(n.Content))
}

func dedupe(ids []blob.ID) []blob.ID {
	seen := make(map[blob.ID]struct{}, len(ids))
	out := ids[:0]
	for _, id := range ids {
		if _, ok := seen[id]; !ok {
			seen[id] = struct{}{}
			out = append(out, id)
		}
	}
	return out
}

// known resolves ids through this copy and the map, and returns those the
// destination does not hold a copy of, each once, in the order of ids. A
// mapped blob the destination no longer holds (its points expired and were
// collected) is copied again.
//
// The order matters: ids come in the order of the listings, which is the
// order a backup stored the chunks in, so a batch of them lies in a few
// stretches of a few packs, which the source reads in a request each.
func (c *copier) known(ctx context.Context, t blob.Type, ids []blob.ID) ([]blob.ID, error) {
	var ask []blob.Handle
	uniq := make([]blob.ID, 0, len(ids))
	seen := make(map[blob.ID]struct{}, len(ids))
	for _, id := range ids {
		if _, ok := seen[id]; ok {
			continue
		}
		seen[id] = struct{}{}
		uniq = append(uniq, id)
		h := blob.Handle{ID: id, Type: t}
		if _, ok := c.ids[h]; !ok {
			ask = append(ask, h)
		}
	}
	if len(ask) > 0 {
		got, err := c.m.Lookup(ctx, ask)
		if err != nil {
			return nil, fmt.Errorf("look up earlier copies: %w", err)
		}
		for h, d := range got {
			if c.dst.Has(blob.Handle{ID: d, Type: h.Type}) {
				c.ids[h] = d
			}
		}
	}
	var todo []blob.ID
	for _, id := range uniq {
		if _, ok := c.ids[blob.Handle{ID: id, Type: t}]; !ok {
			todo = append(todo, id)
		}
	}
	return todo, nil
}

func (c *copier) readTrees(ctx context.Context, ids []blob.ID) error {
	hs := make([]blob.Handle, len(ids))
	for i, id := range ids {
		hs[i] = blob.Handle{ID: id, Type: blob.TreeBlob}
	}
	for len(hs) > 0 {
		n := min(len(hs), c.opts.BatchBlobs)
		err := c.src.LoadBlobs(ctx, hs[:n], func(h blob.Handle, data, _ []byte) error {
			t, err := tree.Decode(data)
			if err != nil {
				return fmt.Errorf("listing %s: %w", h.ID.Short(), err)
			}
			c.trees[h.ID] = t
			c.stats.TreesRead++
			return nil
		})
		if err != nil {
			return fmt.Errorf("read listings: %w", err)
		}
		hs = hs[n:]
	}
	return nil
}

// copyData copies the data blobs not yet known, in batches read and
// stored by the workers.
func (c *copier) copyData(ctx context.Context, ids []blob.ID, sizes []int64) error {
	size := make(map[blob.ID]int64, len(ids))
	for i, id := range ids {
		size[id] = sizes[i]
	}
	todo, err := c.known(ctx, blob.DataBlob, ids)
	if err != nil {
		return err
	}
	c.stats.BlobsKnown += len(size) - len(todo)
	var batches [][]blob.Handle
	var cur []blob.Handle
	var curBytes int64
	for _, id := range todo {
		if len(cur) > 0 && (len(cur) >= c.opts.BatchBlobs || curBytes+size[id] > c.opts.BatchBytes) {
			batches = append(batches, cur)
			cur, curBytes = nil, 0
		}
		cur = append(cur, blob.Handle{ID: id, Type: blob.DataBlob})
		curBytes += size[id]
	}
	if len(cur) > 0 {
		batches = append(batches, cur)
	}
	return parallel(ctx, c.opts.Workers, batches, c.copyBatch)
}

// parallel runs fn on every item with at most n at a time, and returns the
// first error; once one fails, the others' context is cancelled and no
// more start.
func parallel[T any](ctx context.Context, n int, items []T, fn func(context.Context, T) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	work := make(chan T)
	var wg sync.WaitGroup
	for range min(n, len(items)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := range work {
				if err := fn(ctx, it); err != nil {
					cancel(err)
				}
			}
		}()
	}
feed:
	for _, it := range items {
		select {
		case work <- it:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	return context.Cause(ctx)
}

func (c *copier) copyBatch(ctx context.Context, hs []blob.Handle) error {
	hasher := c.dst.IDKey().NewIDHasher()
	cs, _ := c.dst.(CompressedSaver)
	got := 0
	err := c.src.LoadBlobs(ctx, hs, func(h blob.Handle, data, compressed []byte) error {
		id := hasher.Sum(data)
		var isNew bool
		var err error
		if cs != nil && compressed != nil {
			isNew, err = cs.SaveCompressed(c.base, h.Type, id, data, compressed)
		} else {
			isNew, err = c.dst.SaveBlob(c.base, h.Type, id, data)
		}
		if err != nil {
			return fmt.Errorf("store %s: %w", h, err)
		}
		got++
		c.mu.Lock()
		c.ids[h] = id
		c.pending = append(c.pending, Pair{Src: h, Dst: id})
		c.stats.BlobsRead++
		c.stats.BytesRead += int64(len(data))
		if isNew {
			c.stats.BlobsNew++
			c.stats.BytesNew += int64(len(data))
		}
		c.mu.Unlock()
		return nil
	})
	if err != nil {
		return fmt.Errorf("copy data: %w", err)
	}
	if got != len(hs) {
		return fmt.Errorf("copy data: the source sent %d of %d blobs", got, len(hs))
	}
	if c.opts.Progress != nil {
		c.mu.Lock()
		s := c.stats
		c.mu.Unlock()
		c.opts.Progress(s)
	}
	return nil
}

// copyTree stores the destination's version of a source listing, whose
// children have all been copied.
func (c *copier) copyTree(ctx context.Context, id blob.ID) error {
	t := c.trees[id]
	out := &tree.Tree{Nodes: make([]*tree.Node, len(t.Nodes))}
	for i, n := range t.Nodes {
		cp := *n
		if n.Subtree != nil {
			d, ok := c.ids[blob.Handle{ID: *n.Subtree, Type: blob.TreeBlob}]
			if !ok {
				return fmt.Errorf("listing %s: directory %q was not copied", id.Short(), n.Name)
			}
			cp.Subtree = &d
		}
		if len(n.Content) > 0 {
			cp.Content = make([]blob.ID, len(n.Content))
			for j, cid := range n.Content {
				d, ok := c.ids[blob.Handle{ID: cid, Type: blob.DataBlob}]
				if !ok {
					return fmt.Errorf("listing %s: chunk %d of %q was not copied", id.Short(), j, n.Name)
				}
				cp.Content[j] = d
			}
		}
		out.Nodes[i] = &cp
	}
	data, err := tree.Encode(out)
	if err != nil {
		return fmt.Errorf("listing %s: %w", id.Short(), err)
	}
	d := c.dst.IDKey().BlobID(data)
	isNew, err := c.dst.SaveBlob(ctx, blob.TreeBlob, d, data)
	if err != nil {
		return fmt.Errorf("store listing %s: %w", id.Short(), err)
	}
	h := blob.Handle{ID: id, Type: blob.TreeBlob}
	c.ids[h] = d
	c.pending = append(c.pending, Pair{Src: h, Dst: d})
	if isNew {
		c.stats.BlobsNew++
		c.stats.BytesNew += int64(len(data))
	}
	delete(c.trees, id)
	return nil
}

// MemMap is a Map held in memory, for a copy whose pairs need not outlive
// the process. It is safe for concurrent use.
type MemMap struct {
	mu    sync.Mutex
	pairs map[blob.Handle]blob.ID
}

// Lookup implements Map.
func (m *MemMap) Lookup(_ context.Context, hs []blob.Handle) (map[blob.Handle]blob.ID, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[blob.Handle]blob.ID)
	for _, h := range hs {
		if d, ok := m.pairs[h]; ok {
			out[h] = d
		}
	}
	return out, nil
}

// Record implements Map.
func (m *MemMap) Record(_ context.Context, ps []Pair) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.pairs == nil {
		m.pairs = make(map[blob.Handle]blob.ID, len(ps))
	}
	for _, p := range ps {
		m.pairs[p.Src] = p.Dst
	}
	return nil
}

// Len returns the number of pairs m holds.
func (m *MemMap) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.pairs)
}
