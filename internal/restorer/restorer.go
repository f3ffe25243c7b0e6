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
	"github.com/bunkerhq/bunker/internal/crypto"
	"github.com/bunkerhq/bunker/internal/fsmeta"
	"github.com/bunkerhq/bunker/internal/progress"
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

// Options configure a restore.
type Options struct {
	Target    string
	Include   []string // paths inside the point to restore; empty restores everything
	Overwrite Overwrite
	Verify    bool // re-read every restored file and compare it with the point
	ByName    bool // map owners by user and group name rather than numeric id
	Progress  progress.Counter
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

// Source is what a restore reads from: a local vault (*repo.Repository) or
// a vault server.
type Source interface {
	// LoadTree reads and decodes a directory listing.
	LoadTree(ctx context.Context, id blob.ID) (*tree.Tree, error)
	// LoadBlob reads a data blob, checked against its id; it may reuse buf.
	LoadBlob(ctx context.Context, t blob.Type, id blob.ID, buf []byte) ([]byte, error)
	// IDKey names content, for --verify.
	IDKey() *crypto.IDKey
}

type restorer struct {
	src   Source
	opts  Options
	root  *os.Root
	names *fsmeta.Names
	incl  *includes // nil: everything

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
	at   entry
	dir  *dirHandle // held for the job; released when it is done
	node *tree.Node
}

// dirHandle is a directory of the target held open while entries are
// restored into it, so that each operation resolves one name instead of
// walking the whole path from the target again. It is closed when the walk
// has left it and its last file is written.
type dirHandle struct {
	root *os.Root
	refs atomic.Int32
}

func (d *dirHandle) hold() { d.refs.Add(1) }

func (d *dirHandle) release() {
	if d.refs.Add(-1) == 0 {
		d.root.Close()
	}
}

// entry names one object of the target: name inside the open directory
// root, and rel, its path from the target, for messages and hard links.
type entry struct {
	root *os.Root
	name string
	rel  string
}

// Restore writes point p into opts.Target.
func Restore(ctx context.Context, r Source, p *repo.Point, opts Options) (*Result, error) {
	if opts.Target == "" {
		return nil, errors.New("no restore target given")
	}
	if opts.Overwrite == "" {
		opts.Overwrite = OverwriteAlways
	}
	if opts.Progress == nil {
		opts.Progress = progress.Nop{}
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
	rs := &restorer{src: r, opts: opts, root: root, names: fsmeta.NewNames(), seen: map[[2]uint64]string{}}
	rs.incl = newIncludes(opts.Include)
	rs.jobs = make(chan fileJob, opts.Workers*2)
	for range opts.Workers {
		rs.wg.Add(1)
		go rs.worker(ctx)
	}
	top := &dirHandle{root: root}
	top.hold() // never released: the deferred Close owns the target root
	walkErr := rs.walk(ctx, p.Tree, "", top)
	close(rs.jobs)
	rs.wg.Wait()
	if walkErr != nil {
		return &rs.res, walkErr
	}
	rs.finish(ctx)
	rs.res.Files, rs.res.Bytes = rs.files.Load(), rs.bytes.Load()
	rs.res.Skipped, rs.res.Verified = rs.skipped.Load(), rs.verified.Load()
	if rs.incl != nil && rs.res.Files+rs.res.Dirs+rs.res.Others+rs.res.Skipped == 0 {
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

// includes are the paths a restore is limited to, and the directories on
// the way to them.
type includes struct {
	paths   map[string]bool
	parents map[string]bool
}

// newIncludes returns the includes of paths, nil when there are none or
// one of them is the root.
func newIncludes(paths []string) *includes {
	if len(paths) == 0 {
		return nil
	}
	in := &includes{paths: map[string]bool{}, parents: map[string]bool{}}
	for _, p := range paths {
		rel := strings.Trim(path.Clean("/"+p), "/")
		if rel == "" {
			return nil
		}
		in.paths[rel] = true
		for d := path.Dir(rel); d != "."; d = path.Dir(d) {
			in.parents[d] = true
		}
	}
	return in
}

// selected reports whether rel is restored, and whether it lies on the way to
// an included path (so a directory must be created and walked).
func (rs *restorer) selected(rel string) (in, onPath bool) {
	if rs.incl == nil {
		return true, true
	}
	for p := rel; p != "."; p = path.Dir(p) {
		if rs.incl.paths[p] {
			return true, true
		}
	}
	return false, rs.incl.parents[rel]
}

// walk restores the listing id found at rel, the directory dir.
func (rs *restorer) walk(ctx context.Context, id blob.ID, rel string, dir *dirHandle) error {
	t, err := rs.src.LoadTree(ctx, id)
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
		at := entry{root: dir.root, name: n.Name, rel: crel}
		if err := rs.node(ctx, at, dir, n, in); err != nil {
			return err
		}
	}
	return nil
}

func (rs *restorer) node(ctx context.Context, at entry, dir *dirHandle, n *tree.Node, in bool) error {
	switch n.Type {
	case tree.TypeDir:
		sub, err := rs.mkdir(at)
		if err != nil {
			rs.fail(at.rel, err)
			return nil
		}
		if in {
			rs.dirs = append(rs.dirs, dirMeta{rel: at.rel, node: n})
			rs.res.Dirs++
		}
		defer sub.release()
		return rs.walk(ctx, *n.Subtree, at.rel, sub)
	case tree.TypeFile:
		if n.Links > 1 {
			key := [2]uint64{n.Device, n.Inode}
			if first, ok := rs.seen[key]; ok {
				rs.links = append(rs.links, hardLink{first: first, rel: at.rel})
				return nil
			}
			rs.seen[key] = at.rel
		}
		rs.opts.Progress.AddTotal(1, int64(n.Size))
		dir.hold()
		select {
		case rs.jobs <- fileJob{at: at, dir: dir, node: n}:
		case <-ctx.Done():
			dir.release()
			return ctx.Err()
		}
	default:
		rs.other(at, n)
	}
	return nil
}

// mkdir creates the directory at (or keeps an existing one) and opens it.
func (rs *restorer) mkdir(at entry) (*dirHandle, error) {
	err := at.root.Mkdir(at.name, 0o700)
	if err != nil && errors.Is(err, os.ErrExist) {
		err = rs.replaceWithDir(at)
	}
	if err != nil {
		return nil, err
	}
	sub, err := at.root.OpenRoot(at.name)
	if err != nil {
		return nil, err
	}
	d := &dirHandle{root: sub}
	d.hold()
	return d, nil
}

// replaceWithDir deals with an existing entry where a directory goes.
func (rs *restorer) replaceWithDir(at entry) error {
	fi, err := at.root.Lstat(at.name)
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return nil
	}
	if rs.opts.Overwrite != OverwriteAlways {
		return fmt.Errorf("%s exists and is not a directory (use --overwrite always to replace it)", at.rel)
	}
	if err := at.root.Remove(at.name); err != nil {
		return err
	}
	return at.root.Mkdir(at.name, 0o700)
}

// other restores a symlink, device, FIFO or socket.
func (rs *restorer) other(at entry, n *tree.Node) {
	if skip, err := rs.clear(at, n); err != nil || skip {
		if err != nil {
			rs.fail(at.rel, err)
		} else {
			rs.skipped.Add(1)
		}
		return
	}
	var err error
	if n.Type == tree.TypeSymlink {
		err = fsmeta.CreateSymlink(at.root, at.name, n)
	} else {
		err = fsmeta.CreateSpecial(at.root, at.name, n)
	}
	if err == nil {
		err = rs.apply(at, n)
	}
	if err != nil {
		rs.fail(at.rel, err)
		return
	}
	rs.res.Others++
}

func (rs *restorer) apply(at entry, n *tree.Node) error {
	return fsmeta.Apply(at.root, at.name, n, fsmeta.ApplyOptions{
		ByName: rs.opts.ByName, Names: rs.names, SkipOwner: os.Geteuid() != 0,
	})
}

// clear makes room for a new entry according to the overwrite policy. It
// reports skip when the existing entry is kept.
func (rs *restorer) clear(at entry, n *tree.Node) (skip bool, err error) {
	fi, err := at.root.Lstat(at.name)
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
		return false, at.root.RemoveAll(at.name)
	}
	return false, at.root.Remove(at.name)
}

// finish creates hard links and applies directory metadata deepest first,
// after their contents are complete.
func (rs *restorer) finish(ctx context.Context) {
	for _, l := range rs.links {
		at := entry{root: rs.root, name: l.rel, rel: l.rel}
		if skip, err := rs.clear(at, &tree.Node{Type: tree.TypeFile}); err != nil || skip {
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
		if err := rs.apply(entry{root: rs.root, name: d.rel, rel: d.rel}, d.node); err != nil {
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
