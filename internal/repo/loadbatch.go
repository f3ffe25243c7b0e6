package repo

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/bunkerhq/bunker/internal/blob"
	"github.com/bunkerhq/bunker/internal/index"
	"github.com/bunkerhq/bunker/internal/pack"
	"github.com/bunkerhq/bunker/internal/storage"
)

// Reads of several blobs are merged into one ranged read of their pack when
// the blobs lie at most runGap bytes apart, up to runMax bytes a read; up to
// runReaders reads are in flight at once. On object storage every read is a
// request with its own latency; blobs of one backup lie next to each other
// in their packs, and a restore asks for them in that order.
const (
	runGap     = 256 << 10
	runMax     = 16 << 20
	runReaders = 4
)

// ErrStop, returned by the callback of LoadPayloads, ends it early without
// an error.
var ErrStop = errors.New("stop")

// Payload is a blob as LoadPayloads hands it over: authenticated, still
// compressed when Compressed is set.
type Payload struct {
	Handle     blob.Handle
	Data       []byte
	Compressed bool
	RawLen     int
}

// run is one ranged read of a pack and the blobs in it.
type run struct {
	pack   blob.ID
	start  uint64
	end    uint64
	blobs  []blob.Handle
	locs   []index.Location
	data   []byte
	err    error
	loaded chan struct{}
}

// LoadPayloads reads the blobs hs, authenticates them and calls fn with each,
// in the order of their packs rather than of hs. Blobs close together in a
// pack are read with one request. A blob whose merged read fails is loaded
// alone, from any of its copies, as LoadPayload does. fn's Data is valid
// only during the call. If fn returns ErrStop, LoadPayloads returns nil at
// once; any other error of fn is returned.
func (r *Repository) LoadPayloads(ctx context.Context, hs []blob.Handle, fn func(Payload) error) error {
	runs, err := r.planRuns(hs)
	if err != nil {
		return err
	}
	ahead := r.ahead.worth(runs)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sem := make(chan struct{}, runReaders)
	go func() {
		for i, rn := range runs {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				rn.err = ctx.Err()
				close(rn.loaded)
				continue
			}
			// Only the last run of a pack reads ahead: the stretch
			// after another run of the same pack is read by that run.
			extend := ahead && (i+1 == len(runs) || runs[i+1].pack != rn.pack)
			go func() {
				defer func() { <-sem }()
				rn.data, rn.err = r.readRun(ctx, rn, extend)
				close(rn.loaded)
			}()
		}
	}()
	for _, rn := range runs {
		<-rn.loaded
		if err := r.deliverRun(ctx, rn, fn); err != nil {
			if errors.Is(err, ErrStop) {
				return nil
			}
			return err
		}
	}
	return nil
}

// planRuns groups the blobs into reads, by pack and offset.
func (r *Repository) planRuns(hs []blob.Handle) ([]*run, error) {
	type want struct {
		h blob.Handle
		l index.Location
	}
	ws := make([]want, 0, len(hs))
	for _, h := range hs {
		l, ok := r.idx.Lookup(h)
		if !ok {
			return nil, fmt.Errorf("load %s: %w", h, ErrBlobMissing)
		}
		ws = append(ws, want{h, l})
	}
	slices.SortFunc(ws, func(a, b want) int {
		if c := bytes.Compare(a.l.Pack[:], b.l.Pack[:]); c != 0 {
			return c
		}
		return cmp.Compare(a.l.Offset, b.l.Offset)
	})
	var runs []*run
	var cur *run
	for _, w := range ws {
		end := w.l.Offset + uint64(w.l.Length)
		if cur != nil && cur.pack == w.l.Pack && w.l.Offset <= cur.end+runGap && end-cur.start <= runMax {
			cur.end = max(cur.end, end)
		} else {
			cur = &run{pack: w.l.Pack, start: w.l.Offset, end: end, loaded: make(chan struct{})}
			runs = append(runs, cur)
		}
		cur.blobs = append(cur.blobs, w.h)
		cur.locs = append(cur.locs, w.l)
	}
	return runs, nil
}

// readRun reads the stretch of a run's pack, from what was read ahead
// when it can.
func (r *Repository) readRun(ctx context.Context, rn *run, ahead bool) ([]byte, error) {
	if data, ok := r.ahead.find(rn.pack, rn.start, rn.end); ok {
		return data, nil
	}
	end := rn.end
	if last, ok := r.idx.BlobsEnd(rn.pack); ok && ahead {
		end = r.ahead.extend(rn.start, rn.end, last)
	}
	ph := storage.Handle{Kind: storage.KindPack, Name: rn.pack.String()}
	rd, err := r.be.Get(ctx, ph, int64(rn.start), int64(end-rn.start))
	if err != nil {
		return nil, fmt.Errorf("read pack %s: %w", rn.pack.Short(), err)
	}
	defer rd.Close()
	data := make([]byte, end-rn.start)
	if _, err := io.ReadFull(rd, data); err != nil {
		return nil, fmt.Errorf("read pack %s: %w", rn.pack.Short(), err)
	}
	if end > rn.end {
		r.ahead.keep(rn.pack, rn.start, data)
	}
	return data[:rn.end-rn.start], nil
}

// deliverRun opens each blob of a read run and hands it to fn; a blob the
// run could not provide is loaded alone.
func (r *Repository) deliverRun(ctx context.Context, rn *run, fn func(Payload) error) error {
	for i, h := range rn.blobs {
		l := rn.locs[i]
		var p Payload
		err := rn.err
		if err == nil {
			off := l.Offset - rn.start
			var data []byte
			data, err = r.openSealed(h, l, rn.data[off:off+uint64(l.Length)])
			p = Payload{Handle: h, Data: data, Compressed: l.Flags&pack.FlagCompressed != 0, RawLen: int(l.RawLen)}
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			data, compressed, rawLen, lerr := r.LoadPayload(ctx, h)
			if lerr != nil {
				return lerr
			}
			p = Payload{Handle: h, Data: data, Compressed: compressed, RawLen: rawLen}
		}
		if err := fn(p); err != nil {
			return err
		}
	}
	return nil
}
