package checker

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"math/bits"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/bunkerhq/bunker/internal/blob"
	"github.com/bunkerhq/bunker/internal/index"
	"github.com/bunkerhq/bunker/internal/pack"
	"github.com/bunkerhq/bunker/internal/storage"
)

// inFlight bounds the bytes of sealed blobs read from packs and not yet
// verified. It keeps every verifier busy with typical 1 MiB blobs while the
// memory of a check stays far below one pack per core.
var inFlight = 16 << 20

// packCheck is the state of one pack being read.
type packCheck struct {
	pe   *index.PackEntries
	size int64 // as listed by the storage

	// left counts the blobs handed to verifiers and not yet verified, plus
	// one for the reader until it has read the whole pack; whoever brings
	// it to zero reports the pack.
	left atomic.Int64

	mu      sync.Mutex
	bad     []pack.Entry
	read    int64 // bytes read
	hashOK  bool
	readErr error // the pack could not be read completely
}

func (pc *packCheck) markBad(e pack.Entry) {
	pc.mu.Lock()
	pc.bad = append(pc.bad, e)
	pc.mu.Unlock()
}

// blobCheck is one sealed blob on its way to a verifier.
type blobCheck struct {
	pc     *packCheck
	e      pack.Entry
	sealed []byte // from checker.bufs
}

// readPacks reads every indexed pack that is stored and checks it. One reader
// streams each pack once from start to end, hashing it as it goes, and hands
// each sealed blob to one verifier per core, which authenticates, decompresses
// and re-hashes it. So all cores stay busy up to the last blob of the last
// pack, and only the blobs in flight are held in memory, not whole packs.
func (c *checker) readPacks(ctx context.Context, stored map[blob.ID]int64) error {
	contents := c.r.Index().PackContents()
	var todo []*packCheck
	skipped := 0
	for id, pe := range contents {
		size, ok := stored[id]
		if !ok {
			continue
		}
		if c.opts.SkipPack != nil && c.opts.SkipPack(id) {
			skipped++
			continue
		}
		todo = append(todo, &packCheck{pe: pe, size: size})
	}
	c.rep.PacksSkipped = skipped
	slices.SortFunc(todo, func(a, b *packCheck) int { return bytes.Compare(a.pe.Pack[:], b.pe.Pack[:]) })
	total := len(contents) - skipped
	var done int
	finish := func(pc *packCheck) {
		c.finishPack(pc)
		c.mu.Lock()
		done++
		if c.opts.Progress != nil {
			c.opts.Progress(done, total)
		}
		c.mu.Unlock()
	}
	release := func(pc *packCheck) {
		if pc.left.Add(-1) == 0 {
			finish(pc)
		}
	}

	sem := newBudget(inFlight)
	jobs := make(chan blobCheck, 64)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf []byte
			for j := range jobs {
				h := blob.Handle{ID: j.e.ID, Type: j.e.Type}
				l := index.Location{Pack: j.pc.pe.Pack, Salt: j.pc.pe.Salt, Offset: j.e.Offset, Length: j.e.Length, RawLen: j.e.RawLen, Flags: j.e.Flags}
				buf = room(buf, int(j.e.RawLen))
				out, err := c.r.OpenBlob(h, l, j.sealed, buf)
				if err != nil {
					j.pc.markBad(j.e)
				} else {
					buf = out[:0]
				}
				sem.release(cap(j.sealed))
				c.bufs.Put(j.sealed)
				release(j.pc)
			}
		}()
	}
	var err error
	for _, pc := range todo {
		if err = ctx.Err(); err != nil {
			break
		}
		pc.left.Store(1)
		c.streamPack(ctx, pc, sem, jobs, release)
		release(pc)
	}
	close(jobs)
	wg.Wait()
	return err
}

// streamPack reads the pack of pc from start to end, hashing every byte,
// and sends each blob the index names to the verifiers.
func (c *checker) streamPack(ctx context.Context, pc *packCheck, sem *budget, jobs chan<- blobCheck, release func(*packCheck)) {
	entries := slices.Clone(pc.pe.Entries)
	slices.SortFunc(entries, func(a, b pack.Entry) int { return cmp.Compare(a.Offset, b.Offset) })
	h := storage.Handle{Kind: storage.KindPack, Name: pc.pe.Pack.String()}
	rd, err := c.r.Backend().Get(ctx, h, 0, -1)
	if err != nil {
		pc.readErr = err
		return
	}
	defer rd.Close()
	s := &packStream{r: rd, h: sha256.New()}
	var pos uint64 // bytes of the pack read so far
	for i, e := range entries {
		end := e.Offset + uint64(e.Length)
		if e.Offset < pos || end > uint64(pc.size) {
			// Listed twice, overlapping another entry, or past the end of
			// the pack: read on its own, if the pack holds it at all.
			c.readAside(ctx, pc, e, sem, jobs)
			continue
		}
		s.skip(int64(e.Offset - pos))
		sealed := c.bufs.Get(int(e.Length))
		sem.acquire(cap(sealed))
		if _, err := io.ReadFull(s, sealed); err != nil {
			sem.release(cap(sealed))
			c.bufs.Put(sealed)
			// The pack ends early: this blob and all later ones are not
			// there (the hash will not match either).
			for _, rest := range entries[i:] {
				pc.markBad(rest)
			}
			break
		}
		pos = end
		pc.left.Add(1)
		select {
		case jobs <- blobCheck{pc: pc, e: e, sealed: sealed}:
		case <-ctx.Done():
			sem.release(cap(sealed))
			c.bufs.Put(sealed)
			pc.readErr = ctx.Err()
			release(pc)
			return
		}
	}
	s.skip(-1)
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if s.err != nil {
		pc.readErr = s.err
		return
	}
	pc.read = s.n
	pc.hashOK = blob.ID(s.h.Sum(nil)) == pc.pe.Pack
}

// readAside reads one blob with a ranged read, for entries the sequential
// stream has passed already or that lie past the end of the pack.
func (c *checker) readAside(ctx context.Context, pc *packCheck, e pack.Entry, sem *budget, jobs chan<- blobCheck) {
	if e.Offset+uint64(e.Length) > uint64(pc.size) {
		pc.markBad(e)
		return
	}
	rd, err := c.r.Backend().Get(ctx, storage.Handle{Kind: storage.KindPack, Name: pc.pe.Pack.String()}, int64(e.Offset), int64(e.Length))
	if err != nil {
		pc.markBad(e)
		return
	}
	defer rd.Close()
	sealed := c.bufs.Get(int(e.Length))
	if _, err := io.ReadFull(rd, sealed); err != nil {
		c.bufs.Put(sealed)
		pc.markBad(e)
		return
	}
	sem.acquire(cap(sealed))
	pc.left.Add(1)
	select {
	case jobs <- blobCheck{pc: pc, e: e, sealed: sealed}:
	case <-ctx.Done():
		sem.release(cap(sealed))
		c.bufs.Put(sealed)
		pc.left.Add(-1) // the reader still holds its own count
	}
}

// finishPack reports what reading a pack found.
func (c *checker) finishPack(pc *packCheck) {
	name := "packs/" + pc.pe.Pack.String()
	if pc.readErr != nil {
		c.packDone(pc, false)
		i := c.problem(Problem{Kind: "pack-damaged", Object: name, Detail: "unreadable: " + pc.readErr.Error()})
		c.markDamaged(pc.pe.Entries, i)
		return
	}
	c.mu.Lock()
	c.rep.PacksRead++
	c.rep.BytesRead += pc.read
	c.mu.Unlock()
	sound := pc.hashOK && len(pc.bad) == 0
	c.packDone(pc, sound)
	if sound {
		return
	}
	detail := fmt.Sprintf("%d of %d blobs damaged", len(pc.bad), len(pc.pe.Entries))
	if !pc.hashOK {
		detail = fmt.Sprintf("content does not hash to its name (%d of %d bytes present); %s", pc.read, pc.size, detail)
	}
	i := c.problem(Problem{Kind: "pack-damaged", Object: name, Detail: detail})
	c.markDamaged(pc.bad, i)
}

// packDone tells Options.PackDone about a pack, one call at a time.
func (c *checker) packDone(pc *packCheck, ok bool) {
	if c.opts.PackDone == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.opts.PackDone(pc.pe.Pack, ok)
}

// packStream reads a pack, hashing what it reads. A read error other than
// the end of the pack is kept in err.
type packStream struct {
	r   io.Reader
	h   hash.Hash
	n   int64
	err error
	buf [32 << 10]byte
}

func (s *packStream) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	s.n += int64(n)
	s.h.Write(p[:n])
	if err != nil && !errors.Is(err, io.EOF) && s.err == nil {
		s.err = err
	}
	return n, err
}

// skip reads and hashes n bytes, or everything left when n < 0. It stops
// early at the end of the pack or at a read error, which s.err keeps.
func (s *packStream) skip(n int64) {
	var r io.Reader = s
	if n >= 0 {
		r = io.LimitReader(s, n)
	}
	for {
		if _, err := r.Read(s.buf[:]); err != nil {
			return
		}
	}
}

// budget is a counting semaphore over bytes. A request larger than the
// whole budget is granted once nothing else is held, so it cannot block
// forever.
type budget struct {
	mu    sync.Mutex
	cond  *sync.Cond
	limit int
	held  int
}

func newBudget(limit int) *budget {
	b := &budget{limit: limit}
	b.cond = sync.NewCond(&b.mu)
	return b
}

func (b *budget) acquire(n int) {
	b.mu.Lock()
	for b.held > 0 && b.held+n > b.limit {
		b.cond.Wait()
	}
	b.held += n
	b.mu.Unlock()
}

func (b *budget) release(n int) {
	b.mu.Lock()
	b.held -= n
	b.mu.Unlock()
	b.cond.Broadcast()
}

// room returns buf, or a new empty buffer of at least n bytes rounded up to
// a power of two when buf is smaller: a verifier then allocates a few times
// in all as larger blobs come, not each time one is the largest yet.
func room(buf []byte, n int) []byte {
	if cap(buf) >= n {
		return buf[:0]
	}
	return make([]byte, 0, 1<<bits.Len(uint(n-1)))
}
