package chunker

import (
	"errors"
	"fmt"
	"io"
)

// initialBuffer is the buffer a Chunker starts with; it grows only for
// streams longer than that.
const initialBuffer = 256 << 10

// Chunker reads a stream and returns it as a sequence of content-defined
// chunks. It is not safe for concurrent use.
type Chunker struct {
	r             io.Reader
	gear          *Gear
	p             Params
	strict, loose uint64

	buf        []byte // buf[start:end] holds read but not yet returned bytes
	start, end int
	eof        bool
	err        error
}

// New returns a Chunker that splits r with gear table g. It returns an
// error if p is not valid.
func New(r io.Reader, g *Gear, p Params) (*Chunker, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if g == nil {
		return nil, errors.New("chunker: nil gear table")
	}
	c := &Chunker{gear: g, p: p}
	c.strict, c.loose = p.thresholds()
	c.Reset(r)
	return c, nil
}

// Reset makes c read a new stream from r, keeping its buffer. Reusing one
// Chunker across many small files avoids allocating a buffer per file.
func (c *Chunker) Reset(r io.Reader) {
	c.r = r
	c.start, c.end = 0, 0
	c.eof = false
	c.err = nil
}

// Next returns the next chunk, stored in buf if it is large enough and in a
// new slice otherwise. After the last chunk it returns io.EOF; an empty
// stream returns io.EOF at once. A read error is returned wrapped and
// repeated by every later call.
func (c *Chunker) Next(buf []byte) ([]byte, error) {
	chunk, err := c.NextView()
	if err != nil {
		return nil, err
	}
	return append(buf[:0], chunk...), nil
}

// NextView is Next without the copy: the chunk it returns is a view of the
// Chunker's own buffer, valid only until the next call of Next, NextView or
// Reset. A caller that keeps a chunk beyond that, or hands it to another
// goroutine, must copy it.
func (c *Chunker) NextView() ([]byte, error) {
	if c.err != nil {
		return nil, c.err
	}
	for {
		pending := c.buf[c.start:c.end]
		if n := c.cut(pending); n > 0 {
			c.start += n
			return pending[:n:n], nil
		}
		if c.eof {
			return nil, io.EOF
		}
		if err := c.fill(); err != nil {
			c.err = err
			return nil, err
		}
	}
}

// cut returns the length of the chunk at the start of data, or 0 if data
// holds no boundary and more of the stream is needed to find one.
func (c *Chunker) cut(data []byte) int {
	if len(data) <= c.p.Min {
		if c.eof {
			return len(data)
		}
		return 0
	}
	end := min(len(data), c.p.Max)
	mid := min(end, c.p.Avg)
	i, h := scan(data[c.p.Min:mid], 0, c.strict, &c.gear.table)
	if i >= 0 {
		return c.p.Min + i + 1
	}
	if i, _ = scan(data[mid:end], h, c.loose, &c.gear.table); i >= 0 {
		return mid + i + 1
	}
	if end == c.p.Max || c.eof {
		return end
	}
	return 0
}

// fill moves the pending bytes to the front of the buffer and reads until
// the buffer is full or the stream ends, growing the buffer if the pending
// bytes already fill it.
func (c *Chunker) fill() error {
	c.end = copy(c.buf, c.buf[c.start:c.end])
	c.start = 0
	if c.end == len(c.buf) {
		c.grow()
	}
	for c.end < len(c.buf) {
		n, err := c.r.Read(c.buf[c.end:])
		c.end += n
		if err == io.EOF {
			c.eof = true
			return nil
		}
		if err != nil {
			return fmt.Errorf("chunker: read: %w", err)
		}
	}
	return nil
}

// grow enlarges the buffer: doubling while the stream might still be
// short, then straight to twice Max, so that once chunks reach Max bytes
// each refill serves many of them.
func (c *Chunker) grow() {
	size := max(2*len(c.buf), initialBuffer)
	if size >= c.p.Max {
		size = 2 * c.p.Max
	}
	buf := make([]byte, size)
	copy(buf, c.buf[:c.end])
	c.buf = buf
}

// scan rolls the gear hash h over data and returns the index of the first
// byte after which h is below threshold, or -1, together with the final
// hash. The hash is tested after every byte: testing less often would lose
// boundaries whenever an edit shifts the content by an odd number of bytes.
// The loop is unrolled because the per-byte work is tiny.
func scan(data []byte, h, threshold uint64, table *[256]uint64) (int, uint64) {
	i := 0
	for ; i+8 <= len(data); i += 8 {
		d := data[i : i+8 : i+8]
		if h = h<<1 + table[d[0]]; h < threshold {
			return i, h
		}
		if h = h<<1 + table[d[1]]; h < threshold {
			return i + 1, h
		}
		if h = h<<1 + table[d[2]]; h < threshold {
			return i + 2, h
		}
		if h = h<<1 + table[d[3]]; h < threshold {
			return i + 3, h
		}
		if h = h<<1 + table[d[4]]; h < threshold {
			return i + 4, h
		}
		if h = h<<1 + table[d[5]]; h < threshold {
			return i + 5, h
		}
		if h = h<<1 + table[d[6]]; h < threshold {
			return i + 6, h
		}
		if h = h<<1 + table[d[7]]; h < threshold {
			return i + 7, h
		}
	}
	for ; i < len(data); i++ {
		if h = h<<1 + table[data[i]]; h < threshold {
			return i, h
		}
	}
	return -1, h
}
