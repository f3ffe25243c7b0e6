package restorer

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"

	"github.com/bunkerhq/bunker/internal/blob"
	"github.com/bunkerhq/bunker/internal/tree"
)

func (rs *restorer) worker(ctx context.Context) {
	defer rs.wg.Done()
	var buf []byte
	for job := range rs.jobs {
		buf = rs.restoreFile(ctx, job, buf)
	}
}

// restoreFile writes, verifies and applies the metadata of one file, and
// releases its directory.
func (rs *restorer) restoreFile(ctx context.Context, job fileJob, buf []byte) []byte {
	defer job.dir.release()
	if ctx.Err() != nil {
		return buf
	}
	skip, err := rs.clear(job.at, job.node)
	if err == nil && skip {
		rs.skipped.Add(1)
		rs.opts.Progress.AddDone(1, int64(job.node.Size))
		return buf
	}
	var sizes []int
	if err == nil {
		buf, sizes, err = rs.writeFile(ctx, job.at, job.node, buf)
	}
	if err == nil && rs.opts.Verify {
		if buf, err = rs.verify(ctx, job.at, job.node, sizes, buf); err == nil {
			rs.verified.Add(1)
		}
	}
	if err == nil {
		err = rs.apply(job.at, job.node)
	}
	if err != nil {
		rs.fail(job.at.rel, err)
		return buf
	}
	rs.files.Add(1)
	rs.opts.Progress.AddDone(1, 0)
	return buf
}

// writeFile writes a file's content and returns the size of each chunk.
// Runs of zeros are left as holes, so sparse files come back sparse.
func (rs *restorer) writeFile(ctx context.Context, at entry, n *tree.Node, buf []byte) ([]byte, []int, error) {
	rel := at.rel
	f, err := at.root.OpenFile(at.name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return buf, nil, err
	}
	var off int64
	var sizes []int
	if rs.opts.Verify {
		sizes = make([]int, 0, len(n.Content))
	}
	for _, id := range n.Content {
		buf, err = rs.src.LoadBlob(ctx, blob.DataBlob, id, buf)
		if err != nil {
			f.Close()
			return buf, nil, err
		}
		if err := writeSparse(f, buf, off); err != nil {
			f.Close()
			return buf, nil, fmt.Errorf("write %s: %w", rel, err)
		}
		off += int64(len(buf))
		if sizes != nil {
			sizes = append(sizes, len(buf))
		}
		rs.bytes.Add(int64(len(buf)))
		rs.opts.Progress.AddDone(0, int64(len(buf)))
	}
	if err := f.Truncate(off); err != nil {
		f.Close()
		return buf, nil, fmt.Errorf("size %s: %w", rel, err)
	}
	if err := f.Close(); err != nil {
		return buf, nil, fmt.Errorf("close %s: %w", rel, err)
	}
	return buf, sizes, nil
}

// verify re-reads a restored file and checks each chunk, of the sizes
// written, against its id.
func (rs *restorer) verify(ctx context.Context, at entry, n *tree.Node, sizes []int, buf []byte) ([]byte, error) {
	f, err := at.root.Open(at.name)
	if err != nil {
		return buf, fmt.Errorf("verify: %w", err)
	}
	defer f.Close()
	h := rs.src.IDKey().NewIDHasher()
	var off int64
	for i, id := range n.Content {
		if ctx.Err() != nil {
			return buf, ctx.Err()
		}
		size := sizes[i]
		if cap(buf) < size {
			buf = make([]byte, size)
		}
		buf = buf[:size]
		if _, err := io.ReadFull(io.NewSectionReader(f, off, int64(size)), buf); err != nil {
			return buf, fmt.Errorf("verify: read at %d: %w", off, err)
		}
		if h.Sum(buf) != id {
			return buf, fmt.Errorf("verify: content at offset %d differs from the point", off)
		}
		off += int64(size)
	}
	if fi, err := f.Stat(); err != nil || fi.Size() != off {
		return buf, fmt.Errorf("verify: restored size differs from the point (%d bytes expected)", off)
	}
	return buf, nil
}

// holeSize is the granularity at which runs of zeros are left unwritten.
const holeSize = 4096

// writeSparse writes buf at off, skipping every holeSize-aligned block of
// zeros so the filesystem allocates nothing for it.
func writeSparse(f *os.File, buf []byte, off int64) error {
	start := -1 // start of the pending run of non-zero data
	for i := 0; i < len(buf); {
		end := min(len(buf), i+holeSize-int((off+int64(i))%holeSize))
		if isZero(buf[i:end]) {
			if start >= 0 {
				if _, err := f.WriteAt(buf[start:i], off+int64(start)); err != nil {
					return err
				}
				start = -1
			}
		} else if start < 0 {
			start = i
		}
		i = end
	}
	if start >= 0 {
		_, err := f.WriteAt(buf[start:], off+int64(start))
		return err
	}
	return nil
}

func isZero(b []byte) bool {
	for len(b) >= 8 {
		if binary.NativeEndian.Uint64(b) != 0 {
			return false
		}
		b = b[8:]
	}
	return bytes.Count(b, []byte{0}) == len(b)
}
