package repo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/bunkerhq/bunker/internal/blob"
	"github.com/bunkerhq/bunker/internal/bufpool"
	"github.com/bunkerhq/bunker/internal/index"
	"github.com/bunkerhq/bunker/internal/pack"
	"github.com/bunkerhq/bunker/internal/storage"
)

// An index object is written during a long backup once indexEvery packs are
// uploaded or indexInterval has passed since the last one, so that a crash
// loses little and concurrent writers see each other's blobs early.
const (
	indexEvery    = 32
	indexInterval = 2 * time.Second
)

// saver collects blobs into packs and uploads them. Callers compress their
// blobs in parallel, one per core at a time, and seal them into the pack
// writer; full packs upload in the background with bounded concurrency.
type saver struct {
	r *Repository
	// writers holds one token per pack writer that may exist: an idle,
	// partially filled writer, or nil for one not created yet (or handed to
	// upload), which whoever takes it creates.
	writers chan *pack.Writer
	uploads chan struct{} // upload slots
	// compressing bounds the blobs compressed at once, and so the scratch
	// buffers alive, to the cores: zstd runs no more encoders than that.
	compressing chan struct{}
	// flushMu lets one Flush run at a time, so that none returns before
	// the packs it waited for are indexed.
	flushMu sync.Mutex

	mu        sync.Mutex
	pending   map[blob.Handle]struct{} // blobs in writers or uploads, not yet indexed
	inflight  map[*upload]struct{}     // uploads not yet finished
	unsaved   []index.PackEntries      // uploaded packs not yet named by an index object
	err       error
	stats     SaveStats
	lastIndex time.Time
	scratch   bufpool.Pool // compression output
	packBufs  chan []byte  // idle buffers of packCap bytes for packs being assembled
	nWriters  int          // most writers alive at once
}

// SaveStats counts what a repository stored.
type SaveStats struct {
	Blobs       int64 // new blobs stored
	RawBytes    int64 // their plaintext size
	StoredBytes int64 // bytes of packs written
	Packs       int64
}

func newSaver(r *Repository, uploads int) *saver {
	if uploads <= 0 {
		uploads = 2
	}
	// One pack fills at a time: sealing a blob into it takes a fraction of
	// the time compressing it does, so one writer keeps up with all the
	// compressing goroutines, and fewer packs in memory keep the peak low.
	n := 1
	s := &saver{
		r:           r,
		writers:     make(chan *pack.Writer, n),
		packBufs:    make(chan []byte, n+uploads),
		compressing: make(chan struct{}, runtime.GOMAXPROCS(0)),
		uploads:     make(chan struct{}, uploads),
		pending:     map[blob.Handle]struct{}{},
		inflight:    map[*upload]struct{}{},
		nWriters:    n,
		lastIndex:   time.Now(),
	}
	// One compression buffer per core, for chunks up to twice the average.
	s.scratch.Limit = runtime.GOMAXPROCS(0) * 2 * compressBound(2*r.cfg.ChunkAvg)
	for range n {
		s.writers <- nil
	}
	return s
}

// SaveBlob stores data as a blob of type t unless the vault already holds it.
// id must be the keyed id of data (Key().BlobID). It reports whether the blob
// was new. data is not retained after SaveBlob returns.
func (r *Repository) SaveBlob(ctx context.Context, t blob.Type, id blob.ID, data []byte) (bool, error) {
	return r.saver.save(ctx, blob.Handle{ID: id, Type: t}, data, false)
}

// SaveCompressed is SaveBlob for a blob whose zstd-compressed form is at
// hand, as a copy from another vault has it: compressed, which must decode
// to data (the caller decoded it), is stored as it is rather than
// compressed again, which is most of the work of storing a blob. A vault
// that does not compress, or a compressed form no smaller than data,
// stores data as SaveBlob does.
func (r *Repository) SaveCompressed(ctx context.Context, t blob.Type, id blob.ID, data, compressed []byte) (bool, error) {
	if r.codec.disabled || len(compressed) == 0 || len(compressed) >= len(data) {
		return r.SaveBlob(ctx, t, id, data)
	}
	h := blob.Handle{ID: id, Type: t}
	if !r.saver.claim(h, false) {
		return false, r.saver.sticky()
	}
	return true, r.saver.add(ctx, h, compressed, pack.FlagCompressed, len(data))
}

// RepackBlob stores data again in a new pack even though the index already
// names a copy, for prune to move live blobs out of packs it will delete.
func (r *Repository) RepackBlob(ctx context.Context, h blob.Handle, data []byte) error {
	_, err := r.saver.save(ctx, h, data, true)
	return err
}

// Has reports whether the vault holds the blob, or a writer of this process
// is storing it.
func (r *Repository) Has(h blob.Handle) bool {
	if r.idx.Has(h) {
		return true
	}
	r.saver.mu.Lock()
	defer r.saver.mu.Unlock()
	_, ok := r.saver.pending[h]
	return ok
}

// SaveStats returns what this repository has stored so far.
func (r *Repository) SaveStats() SaveStats {
	r.saver.mu.Lock()
	defer r.saver.mu.Unlock()
	return r.saver.stats
}

func (s *saver) save(ctx context.Context, h blob.Handle, data []byte, force bool) (bool, error) {
	if !s.claim(h, force) {
		return false, s.sticky()
	}
	select {
	case s.compressing <- struct{}{}:
	case <-ctx.Done():
		s.unpend(h)
		return false, ctx.Err()
	}
	scratch := s.scratch.Get(compressBound(len(data)))
	defer func() {
		s.scratch.Put(scratch)
		<-s.compressing
	}()
	payload, compressed := s.r.codec.maybeCompress(scratch[:0], data)
	var flags uint8
	if compressed {
		flags = pack.FlagCompressed
	} else {
		payload = data
	}
	return true, s.add(ctx, h, payload, flags, len(data))
}

// claim marks h as being saved by the caller. It returns false when the
// vault already holds h (unless force), another caller is saving it, or the
// saver has failed.
func (s *saver) claim(h blob.Handle, force bool) bool {
	if s.sticky() != nil || (!force && s.r.idx.Has(h)) {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.pending[h]; ok {
		return false
	}
	s.pending[h] = struct{}{}
	return true
}

// add seals a claimed blob's payload (compressed when flags says so) into
// the pack being filled, and starts the pack's upload when it is full.
func (s *saver) add(ctx context.Context, h blob.Handle, payload []byte, flags uint8, rawLen int) error {
	w, err := s.writer(ctx)
	if err != nil {
		s.unpend(h)
		return err
	}
	if err := w.Add(h.Type, h.ID, payload, flags, rawLen); err != nil {
		s.writers <- w
		s.unpend(h)
		s.fail(err)
		return err
	}
	s.mu.Lock()
	s.stats.Blobs++
	s.stats.RawBytes += int64(rawLen)
	s.mu.Unlock()
	if w.Size() >= s.r.cfg.PackSize {
		s.upload(ctx, w)
	} else {
		s.writers <- w
	}
	return nil
}

// packCap is the room a pack buffer needs: the pack size, one more chunk,
// and a header for typical blob counts.
func (s *saver) packCap() int { return s.r.cfg.PackSize + s.r.cfg.ChunkMax + 256<<10 }

// packBuf returns an empty buffer with room for a pack. Pack buffers are
// kept apart from the size-class pool so that each is exactly packCap bytes,
// not the next power of two (32 MiB for the default 24.25), and at most one
// per writer and upload is kept.
func (s *saver) packBuf() []byte {
	select {
	case b := <-s.packBufs:
		return b
	default:
		return make([]byte, 0, s.packCap())
	}
}

// putPackBuf keeps b for the next pack, unless it is not a pack buffer
// (the pack outgrew it) or enough are kept already.
func (s *saver) putPackBuf(b []byte) {
	if cap(b) != s.packCap() {
		return
	}
	select {
	case s.packBufs <- b[:0]:
	default:
	}
}

// compressBound is a size that zstd output for n bytes nearly always fits.
func compressBound(n int) int { return n + n/128 + 1024 }

// unpend forgets a blob that will not be saved after all.
func (s *saver) unpend(h blob.Handle) {
	s.mu.Lock()
	delete(s.pending, h)
	s.mu.Unlock()
}

// sticky returns the first error the saver met, if any.
func (s *saver) sticky() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

func (s *saver) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil {
		s.err = err
	}
}

// writer takes a writer token, waiting while every writer is in use, and
// returns the idle writer it holds or a new one.
func (s *saver) writer(ctx context.Context) (*pack.Writer, error) {
	var w *pack.Writer
	select {
	case w = <-s.writers:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if w != nil {
		return w, nil
	}
	w, err := pack.NewWriterBuffer(s.r.key, s.packBuf())
	if err != nil {
		s.writers <- nil
		s.fail(err)
		return nil, err
	}
	return w, nil
}

// upload is one pack on its way to the backend.
type upload struct{ done chan struct{} }

// upload finishes w and stores it in the background.
func (s *saver) upload(ctx context.Context, w *pack.Writer) {
	// The writer's token goes back once an upload slot is free, so that the
	// next blob starts a new pack while this one uploads, but no more packs
	// are held in memory than writers and uploads: while storage is slow,
	// saves wait for it.
	s.uploads <- struct{}{}
	u := &upload{done: make(chan struct{})}
	s.mu.Lock()
	s.inflight[u] = struct{}{}
	s.mu.Unlock()
	s.writers <- nil
	go func() {
		defer func() {
			<-s.uploads
			s.mu.Lock()
			delete(s.inflight, u)
			s.mu.Unlock()
			close(u.done)
		}()
		if err := s.store(ctx, w); err != nil {
			s.fail(err)
		}
	}()
}

func (s *saver) store(ctx context.Context, w *pack.Writer) error {
	data, id, entries, err := w.Finish()
	if err != nil {
		s.forget(w.Entries())
		return err
	}
	h := storage.Handle{Kind: storage.KindPack, Name: id.String()}
	err = s.r.be.Put(ctx, h, int64(len(data)), bytes.NewReader(data), s.r.putOptions(h))
	if err != nil && !errors.Is(err, storage.ErrExists) {
		// The pack's blobs are not stored: nobody may count on them.
		s.forget(entries)
		return fmt.Errorf("store pack %s: %w", id.Short(), err)
	}
	s.putPackBuf(data)
	salt := w.Salt()
	s.r.idx.AddPack(id, salt, entries)
	s.mu.Lock()
	for _, e := range entries {
		delete(s.pending, blob.Handle{ID: e.ID, Type: e.Type})
	}
	s.unsaved = append(s.unsaved, index.PackEntries{Pack: id, Salt: salt, Entries: entries})
	s.stats.StoredBytes += int64(len(data))
	s.stats.Packs++
	var batch []index.PackEntries
	if len(s.unsaved) >= indexEvery || time.Since(s.lastIndex) >= indexInterval {
		batch, s.unsaved = s.unsaved, nil
		s.lastIndex = time.Now()
	}
	s.mu.Unlock()
	if batch != nil {
		if _, err := s.r.WriteIndex(ctx, batch); err != nil {
			return err
		}
	}
	return nil
}

// forget releases the claims on the blobs of a pack that was not stored.
func (s *saver) forget(entries []pack.Entry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range entries {
		delete(s.pending, blob.Handle{ID: e.ID, Type: e.Type})
	}
}

// Flush uploads the partially filled packs, waits for every upload under
// way, and writes an index object for the packs not yet indexed. After
// Flush returns nil, every blob whose SaveBlob returned before Flush was
// called is durable and findable. Other goroutines may keep saving while
// Flush runs; their blobs may or may not be included. An error of a
// background upload since the last Flush is returned, once.
func (r *Repository) Flush(ctx context.Context) error {
	s := r.saver
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	// Taking every writer token waits for the saves that hold one; their
	// blobs are then in the writers taken here, or in uploads under way.
	idle := make([]*pack.Writer, 0, s.nWriters)
	for range s.nWriters {
		select {
		case w := <-s.writers:
			idle = append(idle, w)
		case <-ctx.Done():
			for _, w := range idle {
				s.writers <- w
			}
			return ctx.Err()
		}
	}
	for _, w := range idle {
		if w != nil && w.Count() > 0 {
			s.upload(ctx, w)
		} else {
			s.writers <- w
		}
	}
	s.mu.Lock()
	waits := make([]chan struct{}, 0, len(s.inflight))
	for u := range s.inflight {
		waits = append(waits, u.done)
	}
	s.mu.Unlock()
	for _, done := range waits {
		select {
		case <-done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	// An error is reported once, to this Flush; the repository can be used
	// again afterwards (a long-lived server must not stay broken after one
	// failed write).
	s.mu.Lock()
	err := s.err
	s.err = nil
	batch := s.unsaved
	s.unsaved = nil
	s.mu.Unlock()
	if err != nil {
		return err
	}
	if len(batch) > 0 {
		if _, err := r.WriteIndex(ctx, batch); err != nil {
			return err
		}
	}
	return nil
}
