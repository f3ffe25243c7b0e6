// Package archiver turns files, directories and streams into a recovery
// point: it walks the source, chunks and stores file content through a
// Store (a local vault, or a session with a vault server), and saves the
// tree of directory listings.
package archiver

import (
	"context"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bunkerhq/bunker/internal/blob"
	"github.com/bunkerhq/bunker/internal/bufpool"
	"github.com/bunkerhq/bunker/internal/chunker"
	"github.com/bunkerhq/bunker/internal/crypto"
	"github.com/bunkerhq/bunker/internal/filter"
	"github.com/bunkerhq/bunker/internal/fsmeta"
	"github.com/bunkerhq/bunker/internal/progress"
	"github.com/bunkerhq/bunker/internal/repo"
	"github.com/bunkerhq/bunker/internal/tree"
)

// Options configure a backup.
type Options struct {
	Excludes      *filter.Matcher // nil excludes nothing
	ExcludeCaches bool            // skip directories tagged with CACHEDIR.TAG
	OneFileSystem bool            // do not cross filesystem boundaries
	Parent        *repo.Point     // files unchanged since this point are not read again
	Hostname      string
	Tags          []string
	Progress      progress.Counter
	Workers       int // file readers; 0 means GOMAXPROCS
	// Scan walks the source once more in the background to count totals for
	// the progress display.
	Scan bool
}

// FileError is a file that could not be backed up completely.
type FileError struct {
	Path string
	Err  error
}

// Store is where a backup goes. *repo.Repository is one: a local vault. A
// session with a vault server is another: it names and deduplicates chunks
// with the vault's content key, and the server seals and stamps them.
type Store interface {
	// Config returns the vault's chunking parameters and limits.
	Config() repo.Config
	// IDKey names content and seeds the chunker.
	IDKey() *crypto.IDKey
	// Has reports whether the vault holds (or is storing) a blob.
	Has(h blob.Handle) bool
	// SaveBlob stores data under id unless the vault holds it.
	SaveBlob(ctx context.Context, t blob.Type, id blob.ID, data []byte) (bool, error)
	// SaveTree encodes and stores a directory listing.
	SaveTree(ctx context.Context, t *tree.Tree) (blob.ID, error)
	// LoadTree reads a listing of the parent point.
	LoadTree(ctx context.Context, id blob.ID) (*tree.Tree, error)
	// LoadIndex picks up what other writers stored meanwhile.
	LoadIndex(ctx context.Context) error
	// Flush makes everything saved so far durable.
	Flush(ctx context.Context) error
	// SaveStats says what this store has stored.
	SaveStats() repo.SaveStats
	// SavePoint records the point; it sets the point's ID (and, for a
	// server, the time the server stamped on it).
	SavePoint(ctx context.Context, p *repo.Point) (blob.ID, error)
}

// Archiver makes recovery points.
type Archiver struct {
	repo   Store
	opts   Options
	names  *fsmeta.Names
	gear   *chunker.Gear
	params chunker.Params

	jobs    chan *fileJob
	blobs   chan blobJob // unbuffered: a chunk goes only to a saver that waits for one
	idle    atomic.Int32 // savers waiting for a chunk
	saving  atomic.Int32 // goroutines saving a chunk
	workers sync.WaitGroup
	savers  sync.WaitGroup
	bufs    bufpool.Pool // chunk copies on their way to the savers

	mu      sync.Mutex
	errs    []FileError
	saveErr error
	stats   stats
}

type stats struct {
	filesNew, filesChanged, filesUnchanged atomic.Int64
	dirsNew, dirsChanged, dirsUnchanged    atomic.Int64
	bytesRead, totalBytes                  atomic.Int64
}

// New returns an Archiver writing into r.
func New(r Store, opts Options) (*Archiver, error) {
	params := r.Config().ChunkerParams()
	if err := params.Validate(); err != nil {
		return nil, err
	}
	if opts.Progress == nil {
		opts.Progress = progress.Nop{}
	}
	if opts.Workers <= 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	if opts.Hostname == "" {
		opts.Hostname, _ = os.Hostname()
	}
	a := &Archiver{
		repo:   r,
		opts:   opts,
		names:  fsmeta.NewNames(),
		gear:   chunker.NewGear(r.IDKey().ChunkerSeed()),
		params: params,
	}
	// A chunk is copied only for a saver that waits for one, and a reader
	// may copy one more when another reader beats it to the saver; each
	// reader and saver holds at most one batch of small chunks besides:
	// keep that many copies of twice the average chunk, and batches, for
	// reuse.
	a.bufs.Limit = (runtime.GOMAXPROCS(0) + opts.Workers) * (2*params.Avg + batchBytes)
	return a, nil
}

// start launches the file readers and blob savers.
func (a *Archiver) start(ctx context.Context) {
	a.jobs = make(chan *fileJob, 4*a.opts.Workers)
	a.blobs = make(chan blobJob)
	for range runtime.GOMAXPROCS(0) {
		a.savers.Add(1)
		go a.saveBlobs(ctx)
	}
	for range a.opts.Workers {
		a.workers.Add(1)
		go a.readFiles(ctx)
	}
}

// stop waits for all readers and savers and flushes the repository.
func (a *Archiver) stop(ctx context.Context) error {
	close(a.jobs)
	a.workers.Wait()
	close(a.blobs)
	a.savers.Wait()
	a.mu.Lock()
	err := a.saveErr
	a.mu.Unlock()
	if err != nil {
		return err
	}
	return a.repo.Flush(ctx)
}

func (a *Archiver) fileError(path string, err error) {
	a.opts.Progress.Error(path, err)
	a.mu.Lock()
	a.errs = append(a.errs, FileError{Path: path, Err: err})
	a.mu.Unlock()
}

// Backup backs up paths and stores a new point. It returns the point and the
// files that could not be read; those are warnings, not failures.
func (a *Archiver) Backup(ctx context.Context, paths []string) (*repo.Point, []FileError, error) {
	began := time.Now()
	abs, err := AbsPaths(paths)
	if err != nil {
		return nil, nil, err
	}
	var parentTree *blob.ID
	if a.opts.Parent != nil {
		parentTree = &a.opts.Parent.Tree
		if _, err = a.repo.LoadTree(ctx, a.opts.Parent.Tree); err != nil {
			return nil, nil, fmt.Errorf("load parent point %s: %w", a.opts.Parent.ID.Short(), err)
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if a.opts.Scan {
		go a.scan(ctx, abs)
	}
	go a.refreshIndex(ctx)
	a.start(ctx)
	w := newWalker(a)
	rootFut := w.virtualRoot(ctx, abs, parentTree)
	root, rootErr := rootFut.wait(ctx)
	if err := a.stop(ctx); err != nil {
		return nil, a.errs, err
	}
	if rootErr != nil {
		return nil, a.errs, rootErr
	}
	p := a.newPoint(abs, *root.Subtree, began)
	if _, err := a.repo.SavePoint(ctx, p); err != nil {
		return nil, a.errs, err
	}
	return p, a.errs, nil
}

func (a *Archiver) newPoint(paths []string, treeID blob.ID, began time.Time) *repo.Point {
	saved := a.repo.SaveStats()
	p := &repo.Point{
		Time:     time.Now(),
		Hostname: a.opts.Hostname,
		Paths:    paths,
		Tags:     a.opts.Tags,
		Tree:     treeID,
		Program:  "bunker",
		Summary: &repo.Summary{
			FilesNew:       a.stats.filesNew.Load(),
			FilesChanged:   a.stats.filesChanged.Load(),
			FilesUnchanged: a.stats.filesUnchanged.Load(),
			DirsNew:        a.stats.dirsNew.Load(),
			DirsChanged:    a.stats.dirsChanged.Load(),
			DirsUnchanged:  a.stats.dirsUnchanged.Load(),
			Errors:         int64(len(a.errs)),
			BytesRead:      a.stats.bytesRead.Load(),
			TotalBytes:     a.stats.totalBytes.Load(),
			BlobsAdded:     saved.Blobs,
			BytesAdded:     saved.RawBytes,
			BytesStored:    saved.StoredBytes,
			Duration:       time.Since(began).Seconds(),
		},
	}
	if u, err := user.Current(); err == nil {
		p.Username = u.Username
	}
	if a.opts.Parent != nil {
		id := a.opts.Parent.ID
		p.Parent = &id
	}
	return p
}

// AbsPaths resolves paths to absolute, cleaned, sorted and unique paths, as
// a point records them, and checks that each exists.
func AbsPaths(paths []string) ([]string, error) {
	if len(paths) == 0 {
		return nil, fmt.Errorf("nothing to back up: name at least one path")
	}
	out := make([]string, 0, len(paths))
	for _, p := range paths {
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, fmt.Errorf("resolve %s: %w", p, err)
		}
		if _, err := os.Lstat(abs); err != nil {
			return nil, fmt.Errorf("cannot back up %s: %w", p, err)
		}
		out = append(out, abs)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// indexRefresh is how often a running backup merges index objects written by
// other processes, so that concurrent backups deduplicate against each other.
const indexRefresh = 2 * time.Second

func (a *Archiver) refreshIndex(ctx context.Context) {
	t := time.NewTicker(indexRefresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_ = a.repo.LoadIndex(ctx) // a failure only costs deduplication
		}
	}
}
