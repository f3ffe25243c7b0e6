package repo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
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

// saver collects blobs into packs and uploads them. One pack fills at a
// time; full packs upload in the background with bounded concurrency. It is
// safe for concurrent use, and Flush may run while other goroutines save.
type saver struct {
	r       *Repository
	uploads chan struct{} // upload slots
	flushMu sync.Mutex    // one Flush at a time, so none returns before its packs are indexed

	mu        sync.Mutex
	cond      *sync.Cond               // signalled when a writer is returned or an upload ends
	idle      *pack.Writer             // the partially filled writer, when nobody holds it
	held      bool                     // a goroutine is adding to the writer
	inflight  map[*upload]struct{}     // uploads not yet finished
	pending   map[blob.Handle]struct{} // blobs in writers or uploads, not yet indexed
	unsaved   []index.PackEntries      // uploaded packs not yet named by an index object
	err       error
	stats     SaveStats
	lastIndex time.Time
	scratch   bufpool.Pool // compression output
	packBufs  bufpool.Pool // packs being assembled
}

// upload is one pack on its way to the backend.
type upload struct{ done chan struct{} }

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
	s := &saver{
		r:         r,
		uploads:   make(chan struct{}, uploads),
		inflight:  map[*upload]struct{}{},
		pending:   map[blob.Handle]struct{}{},
		lastIndex: time.Now(),
	}
	s.cond = sync.NewCond(&s.mu)
	return s
}

// SaveBlob stores data as a blob of type t unless the vault already holds it.
// id must be the keyed id of data (Key().BlobID). It reports whether the blob
// was new. data is not retained after SaveBlob returns.
func (r *Repository) SaveBlob(ctx context.Context, t blob.Type, id blob.ID, data []byte) (bool, error) {
	return r.saver.save(ctx, blob.Handle{ID: id, Type: t}, data, false)
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
	scratch := s.scratch.Get(compressBound(len(data)))
	defer func() { s.scratch.Put(scratch) }()
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
// vault already holds h (unless force) or another caller is saving it, and
// when the saver has failed.
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

// add seals payload into the current pack, and starts the pack's upload
// when it is full.
func (s *saver) add(ctx context.Context, h blob.Handle, payload []byte, flags uint8, rawLen int) error {
	w, err := s.writer()
	if err != nil {
		s.unclaim(h)
		return err
	}
	if err := w.Add(h.Type, h.ID, payload, flags, rawLen); err != nil {
		s.release(w)
		s.unclaim(h)
		s.fail(err)
		return err
	}
	s.mu.Lock()
	s.stats.Blobs++
	s.stats.RawBytes += int64(rawLen)
	s.mu.Unlock()
	if w.Size() >= s.r.cfg.PackSize {
		s.release(nil)
		s.upload(ctx, w)
	} else {
		s.release(w)
	}
	return nil
}

func (s *saver) unclaim(h blob.Handle) {
	s.mu.Lock()
	delete(s.pending, h)
	s.mu.Unlock()
}

// packCap is the room a pack buffer needs: the pack size, one more chunk,
// and a header for typical blob counts.
func (s *saver) packCap() int { return s.r.cfg.PackSize + s.r.cfg.ChunkMax + 256<<10 }

// compressBound is a size that zstd output for n bytes nearly always fits.
func compressBound(n int) int { return n + n/128 + 1024 }

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

// take waits until nobody holds the pack being filled and takes it; it is
// nil when there is none.
func (s *saver) take() *pack.Writer {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.held {
		s.cond.Wait()
	}
	s.held = true
	w := s.idle
	s.idle = nil
	return w
}

// writer takes the pack being filled, creating it if there is none.
func (s *saver) writer() (*pack.Writer, error) {
	if w := s.take(); w != nil {
		return w, nil
	}
	w, err := pack.NewWriterBuffer(s.r.key, s.packBufs.Get(s.packCap())[:0])
	if err != nil {
		s.release(nil)
		s.fail(err)
		return nil, err
	}
	return w, nil
}

// release gives the writer back (nil when it went to upload or failed).
func (s *saver) release(w *pack.Writer) {
	s.mu.Lock()
	s.idle, s.held = w, false
	s.cond.Broadcast()
	s.mu.Unlock()
}

// upload finishes w and stores it in the background.
func (s *saver) upload(ctx context.Context, w *pack.Writer) {
	u := &upload{done: make(chan struct{})}
	s.mu.Lock()
	s.inflight[u] = struct{}{}
	s.mu.Unlock()
	s.uploads <- struct{}{}
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
	s.packBufs.Put(data)
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

// Flush uploads the partially filled pack, waits for every upload under
// way, and writes an index object for the packs not yet indexed. After
// Flush returns nil, every blob whose SaveBlob returned before Flush was
// called is durable and findable. An error of a background upload since the
// last Flush is returned, once. Other goroutines may keep saving while
// Flush runs; their blobs may or may not be included.
func (r *Repository) Flush(ctx context.Context) error {
	s := r.saver
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	if w := s.take(); w != nil && w.Count() > 0 {
		s.release(nil)
		s.upload(ctx, w)
	} else {
		s.release(w)
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
