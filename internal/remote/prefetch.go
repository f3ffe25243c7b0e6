package remote

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/bunkerhq/bunker/internal/blob"
	"github.com/bunkerhq/bunker/internal/pack"
	"github.com/bunkerhq/bunker/internal/wire"
)

// Prefetching: as listings are read, the file content they name is fetched
// ahead in batches, by a few fetchers, up to a bound on what waits unread.
const (
	prefetchBatch   = 64
	prefetchers     = 2
	prefetchedBytes = 64 << 20
)

// frame is a blob as received: its payload, compressed or not.
type frame struct {
	payload    []byte
	compressed bool
	rawLen     int
}

// prefetcher fetches the blobs a restore will ask for before it asks.
type prefetcher struct {
	fetch func(ctx context.Context, hs []blob.Handle) ([]byte, error)

	mu       sync.Mutex
	cond     *sync.Cond
	queue    []blob.Handle         // to fetch, in the order they will be read
	queued   map[blob.Handle]bool  // in queue
	inFlight map[blob.Handle]bool  // being fetched
	ready    map[blob.Handle]frame // fetched, not yet read
	failed   map[blob.Handle]error // a fetch failed; the reader fetches again itself
	size     int                   // bytes in ready
	closed   bool
	wg       sync.WaitGroup
}

func newPrefetcher(ctx context.Context, fetch func(ctx context.Context, hs []blob.Handle) ([]byte, error)) *prefetcher {
	p := &prefetcher{fetch: fetch, queued: map[blob.Handle]bool{}, inFlight: map[blob.Handle]bool{},
		ready: map[blob.Handle]frame{}, failed: map[blob.Handle]error{}}
	p.cond = sync.NewCond(&p.mu)
	for range prefetchers {
		p.wg.Add(1)
		go p.run(ctx)
	}
	return p
}

// want queues blobs for fetching, in order, unless already known.
func (p *prefetcher) want(hs []blob.Handle) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, h := range hs {
		if p.queued[h] || p.inFlight[h] {
			continue
		}
		if _, ok := p.ready[h]; ok {
			continue
		}
		p.queue = append(p.queue, h)
		p.queued[h] = true
	}
	p.cond.Broadcast()
}

// take returns the blob, fetched ahead or now. It waits while the blob is
// being fetched. One still waiting in the queue is fetched at once by the
// caller, together with the blobs queued after it (so a reader that has
// caught up with the fetchers sends batches, not a request per blob); one
// never queued, or whose fetch failed, is fetched alone.
func (p *prefetcher) take(ctx context.Context, h blob.Handle) (frame, error) {
	p.mu.Lock()
	for {
		if f, ok := p.ready[h]; ok {
			delete(p.ready, h)
			p.size -= len(f.payload)
			p.cond.Broadcast()
			p.mu.Unlock()
			return f, nil
		}
		if _, ok := p.failed[h]; ok {
			delete(p.failed, h)
			break
		}
		if p.queued[h] || !p.inFlight[h] || p.closed {
			break
		}
		p.cond.Wait()
	}
	batch := p.claimFrom(h)
	p.mu.Unlock()
	got, err := p.get(ctx, batch)
	p.deliver(batch[1:], got, err)
	if err != nil {
		return frame{}, err
	}
	f, ok := got[h]
	if !ok {
		return frame{}, errors.New("the server sent nothing")
	}
	return f, nil
}

// claimFrom takes h and up to prefetchBatch-1 handles queued after it out
// of the queue and marks them in flight; h comes first. p.mu is held.
func (p *prefetcher) claimFrom(h blob.Handle) []blob.Handle {
	batch := []blob.Handle{h}
	if !p.queued[h] {
		return batch
	}
	delete(p.queued, h) // run skips handles no longer queued
	i := slices.Index(p.queue, h)
	for _, o := range p.queue[i+1:] {
		if len(batch) == prefetchBatch {
			break
		}
		if p.queued[o] {
			delete(p.queued, o)
			p.inFlight[o] = true
			batch = append(batch, o)
		}
	}
	return batch
}

// deliver files what a fetch of hs brought: fetched blobs become ready,
// those the server left out are queued again at the front, and with err
// the rest are marked failed so that their readers fetch them themselves.
func (p *prefetcher) deliver(hs []blob.Handle, got map[blob.Handle]frame, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var again []blob.Handle
	for _, h := range hs {
		delete(p.inFlight, h)
		if f, ok := got[h]; ok {
			p.ready[h] = f
			p.size += len(f.payload)
		} else if err != nil {
			p.failed[h] = err
		} else {
			// The server sent fewer than asked (large blobs): ask again.
			again = append(again, h)
			p.queued[h] = true
		}
	}
	if len(again) > 0 {
		p.queue = append(again, p.queue...)
	}
	p.cond.Broadcast()
}

func (p *prefetcher) run(ctx context.Context) {
	defer p.wg.Done()
	for {
		batch := p.next()
		if batch == nil {
			return
		}
		got, err := p.get(ctx, batch)
		p.deliver(batch, got, err)
	}
}

// next waits for work and room, and takes the next batch; nil when closed.
func (p *prefetcher) next() []blob.Handle {
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		if p.closed {
			return nil
		}
		if len(p.queue) > 0 && p.size < prefetchedBytes {
			break
		}
		p.cond.Wait()
	}
	var batch []blob.Handle
	for len(p.queue) > 0 && len(batch) < prefetchBatch {
		h := p.queue[0]
		p.queue = p.queue[1:]
		if !p.queued[h] {
			continue // the reader took it meanwhile
		}
		delete(p.queued, h)
		p.inFlight[h] = true
		batch = append(batch, h)
	}
	return batch
}

func (p *prefetcher) get(ctx context.Context, hs []blob.Handle) (map[blob.Handle]frame, error) {
	if len(hs) == 0 {
		return nil, nil
	}
	body, err := p.fetch(ctx, hs)
	if err != nil {
		return nil, err
	}
	want := make(map[blob.Handle]bool, len(hs))
	for _, h := range hs {
		want[h] = true
	}
	out := make(map[blob.Handle]frame, len(hs))
	fr := wire.NewFrameReader(bytes.NewReader(body), pack.MaxBlobSize, len(hs))
	for {
		f, err := fr.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		if !want[f.Handle] {
			return out, fmt.Errorf("the server sent %s, which was not asked for", f.Handle)
		}
		out[f.Handle] = frame{payload: bytes.Clone(f.Payload), compressed: f.Compressed, rawLen: f.RawLen}
	}
}

// close stops the fetchers.
func (p *prefetcher) close() {
	p.mu.Lock()
	p.closed = true
	p.cond.Broadcast()
	p.mu.Unlock()
	p.wg.Wait()
}
