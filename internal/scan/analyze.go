package scan

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sort"
)

// Options tune the analysis and the verdict. The zero value means the
// documented defaults; see [DefaultOptions].
type Options struct {
	// MaxRead bounds the bytes read per file for statistics: the head, the
	// tail and the strided samples together. Default 1 MiB. A file no
	// larger than MaxRead is read whole.
	MaxRead int64
	// HeadSize and TailSize are the leading and trailing regions always
	// read (default 64 KiB each); SampleSize is the size of each strided
	// sample between them (default 16 KiB). The number of samples is
	// (MaxRead-HeadSize-TailSize)/SampleSize, spread evenly over the file.
	HeadSize, TailSize, SampleSize int
	// CellSize is the granularity of the statistics (default 4 KiB): every
	// region is cut into cells and each cell is classified on its own, so
	// a 4 KiB encrypted header stands out inside a 64 KiB head.
	CellSize int
	// StructureRead bounds the bytes a structure check may read beyond the
	// head and tail (default 256 KiB).
	StructureRead int64
	// Parallelism is how many files [Judge] analyses at once (default
	// GOMAXPROCS).
	Parallelism int
	// PreviousFiles is the number of files in the previous point, if known;
	// it makes deletion and change spikes relative. Zero means unknown.
	PreviousFiles int
	// InfectedFiles is how many files with strong evidence make a point
	// infected (default 10), given the corroboration rules of [Judge].
	InfectedFiles int
	// SuspiciousScore is the score from which a point is suspicious
	// (default 3).
	SuspiciousScore float64
	// MaxEvidence bounds the evidence list of a verdict (default 1000); the
	// heaviest items are kept and the statistics still count everything.
	MaxEvidence int
}

// DefaultOptions returns the defaults the zero [Options] stands for.
func DefaultOptions() Options {
	return Options{}.withDefaults()
}

func (o Options) withDefaults() Options {
	if o.MaxRead <= 0 {
		o.MaxRead = 1 << 20
	}
	if o.HeadSize <= 0 {
		o.HeadSize = 64 << 10
	}
	if o.TailSize <= 0 {
		o.TailSize = 64 << 10
	}
	if o.SampleSize <= 0 {
		o.SampleSize = 16 << 10
	}
	if o.CellSize <= 0 {
		o.CellSize = 4 << 10
	}
	if o.StructureRead <= 0 {
		o.StructureRead = 256 << 10
	}
	if o.Parallelism <= 0 {
		o.Parallelism = runtime.GOMAXPROCS(0)
	}
	if o.InfectedFiles <= 0 {
		o.InfectedFiles = 10
	}
	if o.SuspiciousScore <= 0 {
		o.SuspiciousScore = 3
	}
	if o.MaxEvidence <= 0 {
		o.MaxEvidence = 1000
	}
	return o
}

// Profile is what [Analyze] learns about one file.
type Profile struct {
	// Name and Size are as given.
	Name string
	Size int64
	// Format is the identified format; Valid says whether its structure
	// check passed, and Problem says why not. Unknown formats are never
	// valid and have no problem.
	Format  Format
	Valid   bool
	Problem string
	// Regions are the statistics of the sampled cells, in file order.
	Regions []RegionStats
	// BytesRead counts every byte read from the file.
	BytesRead int64
}

// RandomCells counts the cells that look like ciphertext.
func (p *Profile) RandomCells() int {
	n := 0
	for i := range p.Regions {
		if p.Regions[i].Class.Random() {
			n++
		}
	}
	return n
}

// JudgedCells counts the cells long enough to be classified.
func (p *Profile) JudgedCells() int {
	n := 0
	for i := range p.Regions {
		if p.Regions[i].Class != ClassTiny {
			n++
		}
	}
	return n
}

// span is a byte range of a file.
type span struct{ off, n int64 }

// plan returns the sampled spans for a file of the given size, sorted and
// disjoint, aligned to the cell size.
func (o Options) plan(size int64) []span {
	if size <= 0 {
		return nil
	}
	if size <= o.MaxRead {
		return []span{{0, size}}
	}
	head, tail := int64(o.HeadSize), int64(o.TailSize)
	out := []span{{0, head}}
	mid0, mid1 := head, size-tail
	if mid1 < mid0 {
		mid1 = mid0
	}
	ss := int64(o.SampleSize)
	cell := int64(o.CellSize)
	k := (o.MaxRead - head - tail) / ss
	if k > 0 && mid1-mid0 > 0 {
		stride := (mid1 - mid0) / k
		for i := int64(0); i < k; i++ {
			off := mid0 + stride*i + stride/2 - ss/2
			off -= off % cell
			if off < mid0 {
				off = mid0
			}
			n := ss
			if off+n > mid1 {
				n = mid1 - off
			}
			if n <= 0 {
				continue
			}
			last := &out[len(out)-1]
			if off < last.off+last.n {
				continue
			}
			out = append(out, span{off, n})
		}
	}
	toff := size - tail
	last := &out[len(out)-1]
	if toff < last.off+last.n {
		toff = last.off + last.n
	}
	if toff < size {
		out = append(out, span{toff, size - toff})
	}
	return out
}

// source serves bounded reads of one file, from the sampled buffers when
// they cover the range and from the reader otherwise.
type source struct {
	ctx    context.Context
	r      io.ReaderAt
	size   int64
	bufs   []span
	data   [][]byte
	budget int64
	read   int64
	ws     *workspace
}

// errBudget stops a structure check that ran out of its read budget; what
// was checked so far passed.
var errBudget = errors.New("scan: structure read budget exhausted")

// readAt fills p from offset off. It fails with io.ErrUnexpectedEOF beyond
// the end of the file and with errBudget when the budget is spent.
func (s *source) readAt(p []byte, off int64) error {
	if off < 0 || off > s.size || int64(len(p)) > s.size-off {
		return io.ErrUnexpectedEOF
	}
	for i, b := range s.bufs {
		if off >= b.off && off+int64(len(p)) <= b.off+int64(len(s.data[i])) {
			copy(p, s.data[i][off-b.off:])
			return nil
		}
	}
	if err := s.ctx.Err(); err != nil {
		return err
	}
	if int64(len(p)) > s.budget {
		return errBudget
	}
	s.budget -= int64(len(p))
	s.read += int64(len(p))
	n, err := s.r.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("read %d bytes at %d: %w", len(p), off, err)
}

// bytesAt returns n bytes at off, or nil and an error. Bytes already
// buffered are returned in place, capped so that appending copies: callers
// only read them.
func (s *source) bytesAt(off int64, n int) ([]byte, error) {
	if n < 0 {
		return nil, io.ErrUnexpectedEOF
	}
	if b := s.slice(off, int64(n)); b != nil {
		return b[:len(b):len(b)], nil
	}
	if int64(n) > s.budget {
		return nil, errBudget
	}
	p := make([]byte, n)
	if err := s.readAt(p, off); err != nil {
		return nil, err
	}
	return p, nil
}

// head returns the leading buffered bytes.
func (s *source) head() []byte {
	if len(s.data) == 0 || s.bufs[0].off != 0 {
		return nil
	}
	return s.data[0]
}

// tail returns the trailing buffered bytes and their offset.
func (s *source) tail() ([]byte, int64) {
	if len(s.data) == 0 {
		return nil, 0
	}
	i := len(s.data) - 1
	if s.bufs[i].off+int64(len(s.data[i])) != s.size {
		return nil, 0
	}
	return s.data[i], s.bufs[i].off
}

// Analyze profiles one file: it reads the sampled regions, classifies each
// cell and runs the structure check of the identified format. r must serve
// size bytes. The only errors are read failures of the sampled regions and
// cancellation; a malformed file is a Profile with Valid false.
func Analyze(ctx context.Context, r io.ReaderAt, size int64, name string, opts Options) (Profile, error) {
	opts = opts.withDefaults()
	return analyzePlan(ctx, r, size, name, opts, opts.plan(size), "", true, nil)
}

// analyzePlan is Analyze over the given spans (clipped to the file). A
// non-empty force skips identification (for fuzzing the parsers). ws,
// when not nil, is the memory reused across files: the profile keeps no
// reference to it.
// analyzePlan analyses the spans of a file. The format's structure is
// checked only when structure is set; otherwise Valid stays false and
// Problem empty.
func analyzePlan(ctx context.Context, r io.ReaderAt, size int64, name string, opts Options, spans []span, force Format, structure bool, ws *workspace) (Profile, error) {
	p := Profile{Name: name, Size: size, Format: FormatUnknown}
	if size < 0 {
		return p, fmt.Errorf("analyze %s: negative size %d", name, size)
	}
	spans = clipSpans(spans, size)
	if ws == nil {
		ws = new(workspace)
	}
	s := &source{ctx: ctx, r: r, size: size, budget: opts.StructureRead, ws: ws}
	sc := ws.scratch(opts.CellSize)
	var total int64
	cells := 0
	for _, sp := range spans {
		total += sp.n
		cells += int((sp.n + int64(opts.CellSize) - 1) / int64(opts.CellSize))
	}
	p.Regions = make([]RegionStats, 0, cells)
	s.bufs, s.data = make([]span, 0, len(spans)), make([][]byte, 0, len(spans))
	mem := ws.bytes(total)
	for _, sp := range spans {
		if err := ctx.Err(); err != nil {
			return p, fmt.Errorf("analyze %s: %w", name, err)
		}
		buf := mem[:sp.n:sp.n]
		mem = mem[sp.n:]
		n, err := r.ReadAt(buf, sp.off)
		p.BytesRead += int64(n)
		if n < len(buf) {
			if err == nil || err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return p, fmt.Errorf("analyze %s: read %d bytes at %d: %w", name, sp.n, sp.off, err)
		}
		s.bufs = append(s.bufs, sp)
		s.data = append(s.data, buf)
		cell := opts.CellSize
		for i := 0; i < len(buf); i += cell {
			j := min(i+cell, len(buf))
			p.Regions = append(p.Regions, cellStats(buf[i:j], sp.off+int64(i), sc))
		}
	}
	h := s.head()
	p.Format = force
	if p.Format == "" {
		p.Format = Identify(h[:min(len(h), IdentifyHeader)], name)
	}
	if structure && p.Format.Known() {
		prob, err := checkFormat(s, p.Format, p.Regions)
		p.BytesRead += s.read
		if err != nil {
			return p, fmt.Errorf("analyze %s: %w", name, err)
		}
		p.Valid = prob == ""
		p.Problem = prob
	}
	return p, nil
}

// clipSpans keeps the parts of spans inside [0,size), sorted and disjoint.
func clipSpans(spans []span, size int64) []span {
	out := make([]span, 0, len(spans))
	for _, sp := range spans {
		if sp.off >= size || sp.n <= 0 || sp.off < 0 {
			continue
		}
		if sp.off+sp.n > size {
			sp.n = size - sp.off
		}
		out = append(out, sp)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].off < out[j].off })
	w := 0
	for _, sp := range out {
		if w > 0 {
			last := &out[w-1]
			if sp.off < last.off+last.n {
				end := max(last.off+last.n, sp.off+sp.n)
				last.n = end - last.off
				continue
			}
		}
		out[w] = sp
		w++
	}
	return out[:w]
}
