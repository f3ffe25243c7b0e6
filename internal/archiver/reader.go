package archiver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/bunkerhq/bunker/internal/blob"
	"github.com/bunkerhq/bunker/internal/chunker"
	"github.com/bunkerhq/bunker/internal/crypto"
	"github.com/bunkerhq/bunker/internal/progress"
	"github.com/bunkerhq/bunker/internal/repo"
	"github.com/bunkerhq/bunker/internal/tree"
)

type fileJob struct {
	path string
	node *tree.Node
	fut  *future
}

// blobJob is one new chunk, or a batch of small ones, handed to a saver.
type blobJob struct {
	data  []byte     // the chunks, one after another; from Archiver.bufs
	items []blobItem // where each ends in data
}

type blobItem struct {
	id  blob.ID
	end int
}

// Small chunks (whole small files) are compressed in batches. zstd's match
// tables are larger than a core's cache; between two small files the reader
// opens, reads and hashes, which evicts them, and for a small input the
// misses on the cold tables cost half again the compression itself. A batch
// of small chunks compressed back to back keeps them warm.
const (
	smallChunk = 128 << 10 // zstd compresses larger chunks block by block, with its tables warm
	batchBytes = 1 << 20
	batchItems = 64
)

// reader is one file reader's state: its chunker, hasher and the small new
// chunks it has not saved yet.
type reader struct {
	ch    *chunker.Chunker
	h     *crypto.IDHasher
	batch blobJob
}

func (a *Archiver) newReader() (*reader, error) {
	ch, err := chunker.New(nil, a.gear, a.params)
	if err != nil {
		return nil, err
	}
	return &reader{ch: ch, h: a.repo.IDKey().NewIDHasher()}, nil
}

func dataHandle(id blob.ID) blob.Handle { return blob.Handle{ID: id, Type: blob.DataBlob} }

// readFiles is one file reader: it chunks files, hashes the chunks and hands
// the new ones to the blob savers.
func (a *Archiver) readFiles(ctx context.Context) {
	defer a.workers.Done()
	rd, _ := a.newReader() // the parameters were validated by New
	defer a.flushBatch(ctx, rd)
	for job := range a.jobs {
		err := a.readFile(ctx, rd, job)
		if err != nil {
			if ctx.Err() != nil {
				job.fut.resolve(nil, ctx.Err())
				continue
			}
			a.fileError(job.path, err)
			job.fut.resolve(nil, nil)
			continue
		}
		a.opts.Progress.AddDone(1, 0)
		job.fut.resolve(job.node, nil)
	}
}

func (a *Archiver) readFile(ctx context.Context, rd *reader, job *fileJob) error {
	f, err := openNoAtime(job.path)
	if err != nil {
		return err
	}
	defer f.Close()
	content, size, err := a.chunkStream(ctx, rd, f)
	if err != nil {
		return fmt.Errorf("read %s: %w", job.path, err)
	}
	job.node.Content = content
	job.node.Size = uint64(size)
	return nil
}

// chunkStream splits r into chunks, queues the new ones for saving and
// returns the chunk ids and the number of bytes read.
func (a *Archiver) chunkStream(ctx context.Context, rd *reader, r io.Reader) ([]blob.ID, int64, error) {
	ch, h := rd.ch, rd.h
	ch.Reset(r)
	var content []blob.ID
	var size int64
	for {
		// The view is only valid until the next call, which is all the
		// hash and the check whether the vault holds it need.
		chunk, err := ch.NextView()
		if errors.Is(err, io.EOF) {
			return content, size, nil
		}
		if err != nil {
			return nil, size, err
		}
		id := h.Sum(chunk)
		content = append(content, id)
		size += int64(len(chunk))
		a.stats.bytesRead.Add(int64(len(chunk)))
		a.opts.Progress.AddDone(0, int64(len(chunk)))
		if a.repo.Has(dataHandle(id)) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, size, err
		}
		if len(chunk) <= smallChunk {
			a.batchSmall(ctx, rd, id, chunk)
		} else {
			a.store(ctx, id, chunk)
		}
	}
}

// batchSmall adds a small new chunk to the reader's batch, and saves the
// batch once it is full.
func (a *Archiver) batchSmall(ctx context.Context, rd *reader, id blob.ID, chunk []byte) {
	b := &rd.batch
	for _, it := range b.items {
		if it.id == id {
			return // the same small file twice
		}
	}
	if len(b.data)+len(chunk) > cap(b.data) {
		a.flushBatch(ctx, rd)
	}
	if b.data == nil {
		b.data = a.bufs.Get(batchBytes)[:0]
	}
	b.data = append(b.data, chunk...)
	b.items = append(b.items, blobItem{id: id, end: len(b.data)})
	if len(b.items) == batchItems || len(b.data) > cap(b.data)-smallChunk {
		a.flushBatch(ctx, rd)
	}
}

// flushBatch saves the reader's batch of small chunks: a waiting saver
// takes it whole, or the reader saves it itself.
func (a *Archiver) flushBatch(ctx context.Context, rd *reader) {
	b := rd.batch
	if len(b.items) == 0 {
		return
	}
	if a.handOff() {
		select {
		case a.blobs <- b:
			rd.batch = blobJob{}
			return
		default:
		}
	}
	a.saveJob(ctx, b)
	rd.batch = blobJob{data: b.data[:0], items: b.items[:0]}
}

// saveJob saves the chunks of a job one after another.
func (a *Archiver) saveJob(ctx context.Context, job blobJob) {
	start := 0
	for _, it := range job.items {
		a.save(ctx, it.id, job.data[start:it.end])
		start = it.end
	}
}

// handOff reports whether a new chunk should go to a saver: one waits for
// work, and fewer chunks are being saved than there are cores, so that the
// chunks of one large file are compressed on every core. Otherwise every
// core is busy already and the reader saves the chunk itself, without
// copying it.
func (a *Archiver) handOff() bool {
	return a.idle.Load() > 0 && int(a.saving.Load()) < runtime.GOMAXPROCS(0)
}

// store saves a new chunk: it copies it for a saver when handOff says so,
// and saves it straight from the chunker's buffer otherwise.
func (a *Archiver) store(ctx context.Context, id blob.ID, chunk []byte) {
	if a.handOff() {
		// The saver gets its own copy from the pool: the chunker reuses its
		// buffer for the next chunk.
		data := append(a.bufs.Get(len(chunk))[:0], chunk...)
		job := blobJob{data: data, items: []blobItem{{id: id, end: len(data)}}}
		select {
		case a.blobs <- job:
			return
		default: // another reader was faster
		}
		defer a.bufs.Put(job.data)
		chunk = job.data
	}
	a.save(ctx, id, chunk)
}

// save stores a chunk and keeps the first error, which fails the backup.
func (a *Archiver) save(ctx context.Context, id blob.ID, data []byte) {
	a.saving.Add(1)
	defer a.saving.Add(-1)
	if _, err := a.repo.SaveBlob(ctx, blob.DataBlob, id, data); err != nil {
		a.mu.Lock()
		if a.saveErr == nil {
			a.saveErr = err
		}
		a.mu.Unlock()
	}
}

// saveBlobs is one blob saver: it compresses, encrypts and packs the chunks
// readers hand it.
func (a *Archiver) saveBlobs(ctx context.Context) {
	defer a.savers.Done()
	for {
		a.idle.Add(1)
		job, ok := <-a.blobs
		a.idle.Add(-1)
		if !ok {
			return
		}
		a.saveJob(ctx, job)
		a.bufs.Put(job.data)
	}
}

// openNoAtime opens a file for reading without updating its access time
// where the kernel allows it (owner or root).
func openNoAtime(p string) (*os.File, error) {
	return openRead(p, syscall.O_NOFOLLOW)
}

// openRead opens p read-only with flags, and with O_NOATIME where the
// kernel allows it. It opens with open(2) and wraps the descriptor, because
// os.OpenFile also tries to register every file with the network poller,
// which costs four fcntl(2) calls and an epoll_ctl(2) that fails for regular
// files and directories: more system calls than reading a small file takes.
func openRead(p string, flags int) (*os.File, error) {
	fd, err := openRetry(p, syscall.O_RDONLY|syscall.O_CLOEXEC|syscall.O_NOATIME|flags)
	if errors.Is(err, syscall.EPERM) {
		fd, err = openRetry(p, syscall.O_RDONLY|syscall.O_CLOEXEC|flags)
	}
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: p, Err: err}
	}
	return os.NewFile(uintptr(fd), p), nil
}

// openRetry is open(2), repeated when a signal interrupts it.
func openRetry(p string, flags int) (int, error) {
	for {
		fd, err := syscall.Open(p, flags, 0)
		if !errors.Is(err, syscall.EINTR) {
			return fd, err
		}
	}
}

// readDir lists a directory sorted by name without updating its access
// time where the kernel allows it, so that an unchanged directory records the
// same metadata in every point and its listing deduplicates.
func readDir(p string) ([]os.DirEntry, error) {
	f, err := openRead(p, syscall.O_DIRECTORY|syscall.O_NOFOLLOW)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	entries, err := f.ReadDir(-1)
	slices.SortFunc(entries, func(a, b os.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return entries, err
}

// scan counts the files and bytes below paths for the progress display, and
// tells a counter that wants to know when the totals are final.
func (a *Archiver) scan(ctx context.Context, paths []string) {
	if f, ok := a.opts.Progress.(progress.ScanFinisher); ok {
		defer f.FinishScan()
	}
	for _, root := range paths {
		_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || ctx.Err() != nil {
				return ctx.Err()
			}
			rel, _ := filepath.Rel(root, p)
			if rel != "." && a.opts.Excludes != nil && a.opts.Excludes.Match(filepath.ToSlash(rel), d.IsDir()) {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if d.Type().IsRegular() {
				if fi, err := d.Info(); err == nil {
					a.opts.Progress.AddTotal(1, fi.Size())
				}
			}
			return nil
		})
	}
}

// BackupReader stores the stream r as a file called name in a new point,
// for database dumps and other data piped in on stdin.
func (a *Archiver) BackupReader(ctx context.Context, name string, r io.Reader) (*repo.Point, error) {
	if err := tree.ValidName(name); err != nil {
		return nil, fmt.Errorf("stdin name: %w", err)
	}
	began := time.Now()
	a.start(ctx)
	rd, err := a.newReader()
	if err != nil {
		return nil, err
	}
	content, size, readErr := a.chunkStream(ctx, rd, r)
	a.flushBatch(ctx, rd)
	if err := a.stop(ctx); err != nil {
		return nil, err
	}
	if readErr != nil {
		return nil, fmt.Errorf("read stdin: %w", readErr)
	}
	now := time.Now().UnixNano()
	n := &tree.Node{
		Name: name, Type: tree.TypeFile, Mode: 0o600,
		UID: uint32(os.Getuid()), GID: uint32(os.Getgid()),
		Size: uint64(size), MTime: now, ATime: now, CTime: now, Content: content,
	}
	n.User, n.Group = a.names.User(n.UID), a.names.Group(n.GID)
	a.stats.filesNew.Add(1)
	a.stats.totalBytes.Add(size)
	a.opts.Progress.AddDone(1, 0)
	id, err := a.repo.SaveTree(ctx, &tree.Tree{Nodes: []*tree.Node{n}})
	if err != nil {
		return nil, err
	}
	if err := a.repo.Flush(ctx); err != nil {
		return nil, err
	}
	p := a.newPoint([]string{name}, id, began)
	if _, err := a.repo.SavePoint(ctx, p); err != nil {
		return nil, err
	}
	return p, nil
}
