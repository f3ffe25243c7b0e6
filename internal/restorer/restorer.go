// Package restorer writes a recovery point, or chosen parts of it, back into
// a target directory with its metadata. Every filesystem operation goes
// through an os.Root opened on the target, so no name in a manifest and no
// symbolic link, whether in the point or already in the target, can make a
// restore write outside the target.
package restorer

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/bunkerhq/bunker/internal/blob"
	"github.com/bunkerhq/bunker/internal/fsmeta"
	"github.com/bunkerhq/bunker/internal/repo"
	"github.com/bunkerhq/bunker/internal/tree"
)

// Overwrite says what to do with files that already exist in the target.
type Overwrite string

// Overwrite policies.
const (
	OverwriteNever     Overwrite = "never"      // keep existing files
	OverwriteIfChanged Overwrite = "if-changed" // replace files whose size or mtime differ
	OverwriteAlways    Overwrite = "always"     // replace every existing file
)

// ParseOverwrite checks an --overwrite value.
func ParseOverwrite(s string) (Overwrite, error) {
	switch o := Overwrite(s); o {
	case OverwriteNever, OverwriteIfChanged, OverwriteAlways:
		return o, nil
	}
	return "", fmt.Errorf("invalid overwrite policy %q: use never, if-changed or always", s)
}

// Counter receives progress; see archiver.Counter.
type Counter interface {
	AddTotal(files, bytes int64)
	AddDone(files, bytes int64)
	Error(path string, err error)
}

type nopCounter struct{}

func (nopCounter) AddTotal(int64, int64) {}
func (nopCounter) AddDone(int64, int64)  {}
func (nopCounter) Error(string, error)   {}

// Options configure a restore.
type Options struct {
	Target    string
	Include   []string // paths inside the point to restore; empty restores everything
	Overwrite Overwrite
	Verify    bool // re-read every restored file and compare it with the point
	ByName    bool // map owners by user and group name rather than numeric id
	Progress  Counter
	Workers   int
}

// FileError is an entry that could not be restored.
type FileError struct {
	Path string
	Err  error
}

// Result summarises a restore.
type Result struct {
	Files, Dirs, Others, Skipped, Verified int64
	Bytes                                  int64
	Errors                                 []FileError
}

type restorer struct {
	repo  *repo.Repository
	opts  Options
	root  *os.Root
	names *fsmeta.Names
	incl  []string

	jobs  chan fileJob
	wg    sync.WaitGroup
	mu    sync.Mutex
	res   Result
	dirs  []dirMeta
	links []hardLink
	seen  map[[2]uint64]string

	files, bytes, skipped, verified atomic.Int64
}

type dirMeta struct {
	rel  string
	node *tree.Node
}

type hardLink struct{ first, rel string }

type fileJob struct {
	rel  string
	node *tree.Node
}

// Restore writes point p into opts.Target.
func Restore(ctx context.Context, r *repo.Repository, p *repo.Point, opts Options) (*Result, error) {
	if opts.Target == "" {
		return nil, errors.New("no restore target given")
	}
	if opts.Overwrite == "" {
		opts.Overwrite = OverwriteAlways
	}
	if opts.Progress == nil {
		opts.Progress = nopCounter{}
	}
	if opts.Workers <= 0 {
		opts.Workers = runtime.GOMAXPROCS(0) * 2
	}
	if err := os.MkdirAll(opts.Target, 0o700); err != nil {
		return nil, fmt.Errorf("create restore target: %w", err)
	}
	root, err := os.OpenRoot(opts.Target)
	if err != nil {
		return nil, fmt.Errorf("open restore target: %w", err)
	}
	defer root.Close()
	rs := &restorer{repo: r, opts: opts, root: root, names: fsmeta.NewNames(), seen: map[[2]uint64]string{}}
	for _, inc := range opts.Include {
		rs.incl = append(rs.incl, strings.Trim(path.Clean("/"+inc), "/"))
	}
	rs.jobs = make(chan fileJob, opts.Workers*2)
	for range opts.Workers {
		rs.wg.Add(1)
		go rs.worker(ctx)
	}
	walkErr := rs.walk(ctx, p.Tree, "")
	close(rs.jobs)
	rs.wg.Wait()
	if walkErr != nil {
		return &rs.res, walkErr
	}
	rs.finish(ctx)
	rs.res.Files, rs.res.Bytes = rs.files.Load(), rs.bytes.Load()
	rs.res.Skipped, rs.res.Verified = rs.skipped.Load(), rs.verified.Load()
	if len(rs.incl) > 0 && rs.res.Files+rs.res.Dirs+rs.res.Others+rs.res.Skipped == 0 {
		return &rs.res, fmt.Errorf("nothing in point %s matches %s", p.ID.Short(), strings.Join(opts.Include, ", "))
	}
	return &rs.res, ctx.Err()
}

func (rs *restorer) fail(rel string, err error) {
	rs.opts.Progress.Error(rel, err)
	rs.mu.Lock()
	rs.res.Errors = append(rs.res.Errors, FileError{Path: rel, Err: err})
	rs.mu.Unlock()
}

// selected reports whether rel is restored, and whether it lies on the way to
// an included path (so a directory must be created and walked).
func (rs *restorer) selected(rel string) (in, onPath bool) {
	if len(rs.incl) == 0 {
		return true, true
	}
	for _, inc := range rs.incl {
		if inc == "" || rel == inc || strings.HasPrefix(rel, inc+"/") {
			return true, true
		}
		if strings.HasPrefix(inc, rel+"/") {
			onPath = true
		}
	}
	return false, onPath
}

// walk restores the listing id found at rel.
func (rs *restorer) walk(ctx context.Context, id blob.ID, rel string) error {
	t, err := rs.repo.LoadTree(ctx, id)
	if err != nil {
		return fmt.Errorf("restore %s: %w", displayRel(rel), err)
	}
	for _, n := range t.Nodes {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err := tree.ValidName(n.Name); err != nil {
			return fmt.Errorf("restore %s: %w", displayRel(rel), err)
		}
		crel := path.Join(rel, n.Name)
		in, onPath := rs.selected(crel)
		if !in && !(onPath && n.Type == tree.TypeDir) {
			continue
		}
		if err := rs.node(ctx, crel, n, in); err != nil {
			return err
		}
	}
	return nil
}

func (rs *restorer) node(ctx context.Context, rel string, n *tree.Node, in bool) error {
	switch n.Type {
	case tree.TypeDir:
		if err := rs.mkdir(rel); err != nil {
			rs.fail(rel, err)
			return nil
		}
		if in {
			rs.dirs = append(rs.dirs, dirMeta{rel: rel, node: n})
			rs.res.Dirs++
		}
		return rs.walk(ctx, *n.Subtree, rel)
	case tree.TypeFile:
		if n.Links > 1 {
			key := [2]uint64{n.Device, n.Inode}
			if first, ok := rs.seen[key]; ok {
				rs.links = append(rs.links, hardLink{first: first, rel: rel})
				return nil
			}
			rs.seen[key] = rel
		}
		rs.opts.Progress.AddTotal(1, int64(n.Size))
		select {
		case rs.jobs <- fileJob{rel: rel, node: n}:
		case <-ctx.Done():
			return ctx.Err()
		}
	default:
		rs.other(rel, n)
	}
	return nil
}

func (rs *restorer) mkdir(rel string) error {
	err := rs.root.Mkdir(rel, 0o700)
	if err == nil || !errors.Is(err, os.ErrExist) {
		return err
	}
	fi, err := rs.root.Lstat(rel)
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return nil
	}
	if rs.opts.Overwrite != OverwriteAlways {
		return fmt.Errorf("%s exists and is not a directory (use --overwrite always to replace it)", rel)
	}
	if err := rs.root.Remove(rel); err != nil {
		return err
	}
	return rs.root.Mkdir(rel, 0o700)
}

// other restores a symlink, device, FIFO or socket.
func (rs *restorer) other(rel string, n *tree.Node) {
	if skip, err := rs.clear(rel, n); err != nil || skip {
		if err != nil {
			rs.fail(rel, err)
		} else {
			rs.skipped.Add(1)
		}
		return
	}
	var err error
	if n.Type == tree.TypeSymlink {
		err = fsmeta.CreateSymlink(rs.root, rel, n)
	} else {
		err = fsmeta.CreateSpecial(rs.root, rel, n)
	}
	if err == nil {
		err = rs.apply(rel, n)
	}
	if err != nil {
		rs.fail(rel, err)
		return
	}
	rs.res.Others++
}

func (rs *restorer) apply(rel string, n *tree.Node) error {
	return fsmeta.Apply(rs.root, rel, n, fsmeta.ApplyOptions{
		ByName: rs.opts.ByName, Names: rs.names, SkipOwner: os.Geteuid() != 0,
	})
}

// clear makes room for a new entry at rel according to the overwrite policy.
// It reports skip when the existing entry is kept.
func (rs *restorer) clear(rel string, n *tree.Node) (skip bool, err error) {
	fi, err := rs.root.Lstat(rel)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	switch rs.opts.Overwrite {
	case OverwriteNever:
		return true, nil
	case OverwriteIfChanged:
		if n.Type == tree.TypeFile && fi.Mode().IsRegular() && uint64(fi.Size()) == n.Size && fi.ModTime().UnixNano() == n.MTime {
			return true, nil
		}
	}
	if fi.IsDir() {
		return false, rs.root.RemoveAll(rel)
	}
	return false, rs.root.Remove(rel)
}

// finish creates hard links and applies directory metadata deepest first,
// after their contents are complete.
func (rs *restorer) finish(ctx context.Context) {
	for _, l := range rs.links {
		if skip, err := rs.clear(l.rel, &tree.Node{Type: tree.TypeFile}); err != nil || skip {
			if err != nil {
				rs.fail(l.rel, err)
			}
			continue
		}
		if err := rs.root.Link(l.first, l.rel); err != nil {
			rs.fail(l.rel, fmt.Errorf("hard link to %s: %w", l.first, err))
			continue
		}
		rs.files.Add(1)
	}
	for i := len(rs.dirs) - 1; i >= 0; i-- {
		if ctx.Err() != nil {
			return
		}
		d := rs.dirs[i]
		if err := rs.apply(d.rel, d.node); err != nil {
			rs.fail(d.rel, err)
		}
	}
}

func displayRel(rel string) string {
	if rel == "" {
		return "/"
	}
	return "/" + rel
}
