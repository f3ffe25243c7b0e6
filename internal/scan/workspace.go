package scan

import (
	"io"

	"github.com/klauspost/compress/flate"
)

// workspace is the memory one examining goroutine reuses from file to
// file: the sampled bytes, the memoised statistics and the inflater of the
// gzip check. A scan examines thousands of files; allocating these afresh
// for each made the garbage collector a third of its work.
type workspace struct {
	arena   []byte   // the sampled bytes of the file being analysed
	sc      *scratch // per-cell statistics
	cell    int      // the cell size sc was made for
	inflate io.ReadCloser
	copyBuf []byte
	noteBuf []byte // the body of a possible ransom note
}

// note returns n bytes for the body of a possible ransom note, good until
// the next call.
func (w *workspace) note(n int) []byte {
	if cap(w.noteBuf) < n {
		w.noteBuf = make([]byte, n)
	}
	return w.noteBuf[:n]
}

// scratch returns the statistics scratch for cells of size cell.
func (w *workspace) scratch(cell int) *scratch {
	if w.sc == nil || w.cell != cell {
		w.sc, w.cell = newScratch(cell), cell
	}
	return w.sc
}

// bytes returns n bytes of the arena, growing it when needed. They are
// good until the next call.
func (w *workspace) bytes(n int64) []byte {
	if int64(cap(w.arena)) < n {
		w.arena = make([]byte, n)
	}
	return w.arena[:n]
}

// inflater returns a raw deflate reader of r.
func (w *workspace) inflater(r io.Reader) (io.Reader, error) {
	if w.inflate == nil {
		w.inflate = flate.NewReader(r)
		return w.inflate, nil
	}
	if err := w.inflate.(flate.Resetter).Reset(r, nil); err != nil {
		return nil, err
	}
	return w.inflate, nil
}

// copyBuffer returns the buffer io.CopyBuffer uses.
func (w *workspace) copyBuffer() []byte {
	if w.copyBuf == nil {
		w.copyBuf = make([]byte, 32<<10)
	}
	return w.copyBuf
}
