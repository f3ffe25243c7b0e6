// Package pointdiff lists what changed between two recovery points of a
// vault, as the ransomware scanner (package scan) takes it: files added,
// modified and deleted, each with a reader over its content that loads
// only the chunks it is asked for.
//
// The walk compares the two points' trees path by path and skips every
// subtree whose listing id is the same in both, and every file whose chunk
// list is the same: a point that changed nothing costs no listing loads
// beyond the two roots (none at all when the roots are the same), and a
// point where a few files changed costs the listings on their paths and
// the chunks the scanner samples.
package pointdiff

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"sync"

	"github.com/bunkerhq/bunker/internal/blob"
	"github.com/bunkerhq/bunker/internal/bufpool"
	"github.com/bunkerhq/bunker/internal/repo"
	"github.com/bunkerhq/bunker/internal/scan"
	"github.com/bunkerhq/bunker/internal/tree"
)

// Result is what changed between two points.
type Result struct {
	// Changes lists added, modified and deleted regular files, in path
	// order; scan.Judge infers renames.
	Changes []scan.Change
	// TreesLoaded counts the listings the walk loaded.
	TreesLoaded int
}

// Diff compares the point whose root listing is cur with the one whose
// root listing is prev (nil: no previous point, every file is added).
// The changes' readers authenticate every chunk but do not re-hash it
// against its id (repo.Repository.LoadBlobAuthOnly): they serve the
// scanner, whose reads prove nothing about integrity.
//
// The trees are walked level by level, the listings of a level loaded a
// few at a time: on object storage each listing not in the vault's cache
// is a request.
func Diff(ctx context.Context, r *repo.Repository, prev *blob.ID, cur blob.ID) (*Result, error) {
	d := &differ{r: r, bufs: &bufpool.Pool{Limit: 16 << 20}}
	level := []dirPair{{old: prev, new: &cur, dir: "/"}}
	for len(level) > 0 {
		if err := d.loadLevel(ctx, level); err != nil {
			return nil, err
		}
		var next []dirPair
		for i := range level {
			next = d.compare(&level[i], next)
		}
		level = next
	}
	sort.SliceStable(d.res.Changes, func(i, j int) bool { return d.res.Changes[i].Path() < d.res.Changes[j].Path() })
	return &d.res, nil
}

// FileCount returns how many files a point's summary says it holds, or 0
// when it has none.
func FileCount(s *repo.Summary) int {
	if s == nil {
		return 0
	}
	return int(s.FilesNew + s.FilesChanged + s.FilesUnchanged)
}

type differ struct {
	r   *repo.Repository
	res Result
	// bufs holds the chunk buffers of the Readers of the result's files,
	// which give them back when closed: a scan reads thousands of files,
	// and each would otherwise allocate its chunks afresh. A few workers
	// read a few files at a time, so a small pool serves them all.
	bufs *bufpool.Pool
}

// dirPair is one directory in both points: its listing ids (either may be
// nil) and, once loaded, their nodes.
type dirPair struct {
	old, new           *blob.ID
	dir                string
	oldNodes, newNodes []*tree.Node
}

// loaders bounds the listings loaded at once.
const loaders = 16

// loadLevel loads the listings of a level whose ids differ.
func (d *differ) loadLevel(ctx context.Context, level []dirPair) error {
	type job struct {
		id  blob.ID
		out *[]*tree.Node
	}
	var jobs []job
	for i := range level {
		p := &level[i]
		if p.old != nil && p.new != nil && *p.old == *p.new {
			continue
		}
		if p.old != nil {
			jobs = append(jobs, job{*p.old, &p.oldNodes})
		}
		if p.new != nil {
			jobs = append(jobs, job{*p.new, &p.newNodes})
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	errs := make([]error, len(jobs))
	sem := make(chan struct{}, loaders)
	var wg sync.WaitGroup
	for i, j := range jobs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			t, err := d.r.LoadTree(ctx, j.id)
			if err != nil {
				errs[i] = fmt.Errorf("listing %s: %w", j.id.Short(), err)
				return
			}
			*j.out = t.Nodes
		})
	}
	wg.Wait()
	d.res.TreesLoaded += len(jobs)
	return errors.Join(errs...)
}

// compare lists the changes of one directory and appends the pairs of its
// subdirectories to next.
func (d *differ) compare(pr *dirPair, next []dirPair) []dirPair {
	if pr.old != nil && pr.new != nil && *pr.old == *pr.new {
		return next
	}
	olds := make(map[string]*tree.Node, len(pr.oldNodes))
	for _, n := range pr.oldNodes {
		olds[n.Name] = n
	}
	news := make(map[string]*tree.Node, len(pr.newNodes))
	names := make([]string, 0, len(pr.oldNodes)+len(pr.newNodes))
	for _, n := range pr.oldNodes {
		names = append(names, n.Name)
	}
	for _, n := range pr.newNodes {
		news[n.Name] = n
		if olds[n.Name] == nil {
			names = append(names, n.Name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		o, n := olds[name], news[name]
		p := path.Join(pr.dir, name)
		oFile, nFile := isFile(o), isFile(n)
		switch {
		case oFile && nFile:
			if !sameContent(o, n) {
				d.add(scan.Change{Kind: scan.Modified, Old: d.ref(p, o), New: d.ref(p, n)})
			}
		case oFile:
			d.add(scan.Change{Kind: scan.Deleted, Old: d.ref(p, o)})
		case nFile:
			d.add(scan.Change{Kind: scan.Added, New: d.ref(p, n)})
		}
		if os, ns := subtree(o), subtree(n); os != nil || ns != nil {
			next = append(next, dirPair{old: os, new: ns, dir: p})
		}
	}
	return next
}

func (d *differ) add(c scan.Change) { d.res.Changes = append(d.res.Changes, c) }

func isFile(n *tree.Node) bool { return n != nil && n.Type == tree.TypeFile }

func subtree(n *tree.Node) *blob.ID {
	if n == nil || n.Type != tree.TypeDir {
		return nil
	}
	return n.Subtree
}

func sameContent(a, b *tree.Node) bool {
	if a.Size != b.Size || len(a.Content) != len(b.Content) {
		return false
	}
	for i := range a.Content {
		if a.Content[i] != b.Content[i] {
			return false
		}
	}
	return true
}

// ContentID returns a stable name of a file's content: equal chunk lists
// give equal names.
func ContentID(chunks []blob.ID) string {
	h := sha256.New()
	for _, c := range chunks {
		h.Write(c[:])
	}
	return hex.EncodeToString(h.Sum(nil))
}

func (d *differ) ref(p string, n *tree.Node) *scan.FileRef {
	chunks := n.Content
	r, bufs := d.r, d.bufs
	return &scan.FileRef{
		Path: p,
		Size: int64(n.Size),
		ID:   ContentID(chunks),
		Open: func(ctx context.Context) (io.ReaderAt, error) { return open(ctx, r, chunks, bufs, true) },
	}
}

// Reader reads a file's content from its chunks, loading each chunk only
// when a read touches it and keeping the most recent ones. It is safe for
// concurrent use.
type Reader struct {
	ctx    context.Context
	r      *repo.Repository
	chunks []blob.ID
	starts []int64 // offset of each chunk in the file
	size   int64
	bufs   *bufpool.Pool // where chunk buffers come from and go back to; nil: allocated
	// authOnly skips re-hashing each chunk against its id (see
	// repo.Repository.LoadBlobAuthOnly).
	authOnly bool

	mu    sync.Mutex
	cache [cacheChunks]cached
	next  int
	loads int
}

// cacheChunks is how many loaded chunks a Reader keeps.
const cacheChunks = 2

type cached struct {
	i    int
	data []byte
}

// Open returns a Reader over the chunks of a file. Chunk sizes come from
// the vault's index; a chunk it does not name is an error.
func Open(ctx context.Context, r *repo.Repository, chunks []blob.ID) (*Reader, error) {
	return open(ctx, r, chunks, nil, false)
}

// open is Open with chunk buffers drawn from bufs, when not nil, and given
// back by Close; authOnly skips the check of each chunk's content against
// its id.
func open(ctx context.Context, r *repo.Repository, chunks []blob.ID, bufs *bufpool.Pool, authOnly bool) (*Reader, error) {
	rd := &Reader{ctx: ctx, r: r, chunks: chunks, starts: make([]int64, len(chunks)), bufs: bufs, authOnly: authOnly}
	for i, c := range chunks {
		l, ok := r.Index().Lookup(blob.Handle{ID: c, Type: blob.DataBlob})
		if !ok {
			return nil, fmt.Errorf("chunk %s: %w", c.Short(), repo.ErrBlobMissing)
		}
		rd.starts[i] = rd.size
		rd.size += int64(l.RawLen)
	}
	for i := range rd.cache {
		rd.cache[i].i = -1
	}
	return rd, nil
}

// Size is the content's length.
func (rd *Reader) Size() int64 { return rd.size }

// Loads counts the chunks loaded from the vault so far.
func (rd *Reader) Loads() int {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	return rd.loads
}

// chunk returns the content of chunk i; rd.mu is held. The content is
// good until the next call: loading a chunk reuses the buffer of the one
// it evicts.
func (rd *Reader) chunk(i int) ([]byte, error) {
	for _, c := range rd.cache {
		if c.i == i {
			return c.data, nil
		}
	}
	want := rd.size - rd.starts[i]
	if i+1 < len(rd.starts) {
		want = rd.starts[i+1] - rd.starts[i]
	}
	slot := &rd.cache[rd.next]
	buf := slot.data
	if int64(cap(buf)) < want && rd.bufs != nil {
		rd.bufs.Put(buf)
		buf = rd.bufs.Get(int(want))
	}
	slot.i, slot.data = -1, nil
	load := rd.r.LoadBlob
	if rd.authOnly {
		load = rd.r.LoadBlobAuthOnly
	}
	data, err := load(rd.ctx, blob.DataBlob, rd.chunks[i], buf[:0])
	if err != nil {
		rd.release(buf)
		return nil, fmt.Errorf("chunk %s: %w", rd.chunks[i].Short(), err)
	}
	if int64(len(data)) != want {
		return nil, fmt.Errorf("chunk %s: %d bytes, the index says %d", rd.chunks[i].Short(), len(data), want)
	}
	rd.loads++
	*slot = cached{i: i, data: data}
	rd.next = (rd.next + 1) % cacheChunks
	return data, nil
}

// release gives buf back to the pool, if there is one.
func (rd *Reader) release(buf []byte) {
	if rd.bufs != nil && buf != nil {
		rd.bufs.Put(buf)
	}
}

// Close gives the Reader's chunk buffers back; it must not be used after.
func (rd *Reader) Close() error {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	for i := range rd.cache {
		rd.release(rd.cache[i].data)
		rd.cache[i] = cached{i: -1}
	}
	return nil
}

// ReadAt reads len(p) bytes at off, as io.ReaderAt.
func (rd *Reader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("pointdiff: negative offset")
	}
	if off >= rd.size {
		if len(p) == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	rd.mu.Lock()
	defer rd.mu.Unlock()
	n := 0
	// The chunk holding off: the last one starting at or before it.
	i := sort.Search(len(rd.starts), func(j int) bool { return rd.starts[j] > off }) - 1
	for n < len(p) && i < len(rd.chunks) {
		data, err := rd.chunk(i)
		if err != nil {
			return n, err
		}
		within := off + int64(n) - rd.starts[i]
		n += copy(p[n:], data[within:])
		i++
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}
