package archiver

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/bunkerhq/bunker/internal/blob"
	"github.com/bunkerhq/bunker/internal/filter"
	"github.com/bunkerhq/bunker/internal/fsmeta"
	"github.com/bunkerhq/bunker/internal/tree"
)

// future is a node that becomes ready once its content (a file's chunks, or
// a directory's subtree) is stored. A ready future with a nil node means the
// entry was skipped.
type future struct {
	done chan struct{}
	node *tree.Node
	err  error
}

func newFuture() *future { return &future{done: make(chan struct{})} }

func ready(n *tree.Node) *future {
	f := newFuture()
	f.resolve(n, nil)
	return f
}

func (f *future) resolve(n *tree.Node, err error) {
	f.node, f.err = n, err
	close(f.done)
}

func (f *future) wait(ctx context.Context) (*tree.Node, error) {
	select {
	case <-f.done:
		return f.node, f.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// walker visits the source depth-first, handing files to the readers and
// directories to goroutines that wait for their children. Subdirectories are
// walked in parallel while a token is free, so that listing directories,
// reading metadata and decoding the parent point's listings use every core.
type walker struct {
	a      *Archiver
	tokens chan struct{} // one per extra walking goroutine allowed

	mu    sync.Mutex
	links map[[2]uint64]*future // first occurrence of each hard-linked inode
}

func newWalker(a *Archiver) *walker {
	return &walker{a: a, links: map[[2]uint64]*future{}, tokens: make(chan struct{}, runtime.GOMAXPROCS(0))}
}

// subdir walks a subdirectory in a new goroutine when a token is free, and
// in this one otherwise.
func (w *walker) subdir(ctx context.Context, p, rel string, n *tree.Node, prev *tree.Node) *future {
	select {
	case w.tokens <- struct{}{}:
	default:
		return w.dir(ctx, p, rel, n, prev)
	}
	f := newFuture()
	go func() {
		inner := w.dir(ctx, p, rel, n, prev)
		<-w.tokens
		node, err := inner.wait(ctx)
		f.resolve(node, err)
	}()
	return f
}

// trie arranges the absolute backup paths below "/".
type trie struct {
	children map[string]*trie
	path     string // set when this entry is itself a backup path
}

func buildTrie(paths []string) *trie {
	root := &trie{children: map[string]*trie{}}
	for _, p := range paths {
		t := root
		for _, name := range strings.Split(strings.Trim(p, "/"), "/") {
			if name == "" {
				continue
			}
			if t.path != "" {
				break // an ancestor is backed up already
			}
			next := t.children[name]
			if next == nil {
				next = &trie{children: map[string]*trie{}}
				t.children[name] = next
			}
			t = next
		}
		t.path = p
		t.children = map[string]*trie{}
	}
	return root
}

// virtualRoot returns a directory node whose subtree mirrors "/" down to
// each backup path. Directories above the backup paths carry their real
// metadata but list only what leads to a backup path.
func (w *walker) virtualRoot(ctx context.Context, paths []string, parentTree *blob.ID) *future {
	root := buildTrie(paths)
	var prevRoot *tree.Node
	if parentTree != nil {
		prevRoot = &tree.Node{Type: tree.TypeDir, Subtree: parentTree}
	}
	if root.path == "/" {
		info := w.capture("/")
		if info == nil {
			return ready(nil)
		}
		info.Name = ""
		return w.dir(ctx, "/", "", info, prevRoot)
	}
	return w.virtualDir(ctx, "/", &tree.Node{Type: tree.TypeDir}, root, prevRoot)
}

func (w *walker) virtualDir(ctx context.Context, dir string, n *tree.Node, t *trie, prevDir *tree.Node) *future {
	parent := w.a.subtree(ctx, prevDir)
	var kids []*future
	for _, name := range sortedKeys(t.children) {
		child := t.children[name]
		p := path.Join(dir, name)
		prev := parent.Find(name)
		if child.path != "" {
			kids = append(kids, w.top(ctx, p, prev))
			continue
		}
		info := w.capture(p)
		if info == nil {
			continue
		}
		kids = append(kids, w.virtualDir(ctx, p, info, child, prev))
	}
	return w.a.finishDir(ctx, n, kids, prevDir)
}

// capture reads an entry's metadata. An entry that vanished is skipped
// silently, one that cannot be read is reported and skipped, and one whose
// extended attributes or link target could not be read completely is
// reported and kept.
func (w *walker) capture(p string) *tree.Node {
	n, err := fsmeta.Capture(p, w.a.names)
	switch {
	case err == nil:
		return n
	case errors.Is(err, os.ErrNotExist):
		return nil
	case errors.Is(err, fsmeta.ErrIncomplete) && n != nil:
		w.a.fileError(p, err)
		return n
	}
	w.a.fileError(p, err)
	return nil
}

// top starts the walk of one backup path.
func (w *walker) top(ctx context.Context, p string, prev *tree.Node) *future {
	n := w.capture(p)
	if n == nil {
		return ready(nil)
	}
	if n.Type == tree.TypeDir {
		return w.dir(ctx, p, "", n, prev)
	}
	return w.entry(ctx, p, n, prev)
}

// dir walks a real directory; rel is its path relative to the backup path,
// for exclude patterns.
func (w *walker) dir(ctx context.Context, p, rel string, n *tree.Node, prevDir *tree.Node) *future {
	parent := w.a.subtree(ctx, prevDir)
	entries, err := readDir(p)
	if err != nil {
		w.a.fileError(p, err)
		n.Error = err.Error()
	}
	var kids []*future
	for _, e := range entries {
		if ctx.Err() != nil {
			break
		}
		cp := filepath.Join(p, e.Name())
		crel := path.Join(rel, e.Name())
		if w.a.opts.Excludes != nil && w.a.opts.Excludes.Match(crel, e.IsDir()) {
			continue
		}
		cn := w.capture(cp)
		if cn == nil {
			continue
		}
		if w.a.opts.OneFileSystem {
			switch filter.OneFileSystem(n.Device, cn) {
			case filter.Outside:
				continue
			case filter.MountPoint:
				kids = append(kids, w.a.finishDir(ctx, cn, nil, parent.Find(cn.Name)))
				continue
			}
		}
		prev := parent.Find(cn.Name)
		if cn.Type != tree.TypeDir {
			kids = append(kids, w.entry(ctx, cp, cn, prev))
			continue
		}
		if w.a.opts.ExcludeCaches {
			if tagged, _ := filter.IsCacheDir(cp); tagged {
				continue
			}
		}
		kids = append(kids, w.subdir(ctx, cp, crel, cn, prev))
	}
	return w.a.finishDir(ctx, n, kids, prevDir)
}

// entry handles a non-directory.
func (w *walker) entry(ctx context.Context, p string, n *tree.Node, prev *tree.Node) *future {
	if n.Type != tree.TypeFile {
		return ready(n)
	}
	w.a.stats.totalBytes.Add(int64(n.Size))
	if w.a.unchanged(n, prev) {
		n.Content = prev.Content
		w.a.stats.filesUnchanged.Add(1)
		w.a.opts.Progress.AddDone(1, int64(n.Size))
		return ready(n)
	}
	f := newFuture()
	if n.Links > 1 {
		key := [2]uint64{n.Device, n.Inode}
		w.mu.Lock()
		first := w.links[key]
		if first == nil {
			w.links[key] = f
		}
		w.mu.Unlock()
		if first != nil {
			return w.a.linkTo(ctx, first, n)
		}
	}
	if prev == nil {
		w.a.stats.filesNew.Add(1)
	} else {
		w.a.stats.filesChanged.Add(1)
	}
	select {
	case w.a.jobs <- &fileJob{path: p, node: n, fut: f}:
	case <-ctx.Done():
		f.resolve(nil, ctx.Err())
	}
	return f
}

func sortedKeys(m map[string]*trie) []string { return slices.Sorted(maps.Keys(m)) }

// subtree loads the listing of a directory node of the parent point, or
// returns nil when there is none.
func (a *Archiver) subtree(ctx context.Context, n *tree.Node) *tree.Tree {
	if n == nil || n.Type != tree.TypeDir || n.Subtree == nil {
		return nil
	}
	t, err := a.repo.LoadTree(ctx, *n.Subtree)
	if err != nil {
		return nil
	}
	return t
}

// finishDir waits for the children in a goroutine, then stores the listing
// and counts the directory as new, changed or unchanged against prev.
func (a *Archiver) finishDir(ctx context.Context, n *tree.Node, kids []*future, prev *tree.Node) *future {
	f := newFuture()
	go func() {
		t := &tree.Tree{Nodes: make([]*tree.Node, 0, len(kids))}
		for _, k := range kids {
			cn, err := k.wait(ctx)
			if err != nil {
				f.resolve(nil, err)
				return
			}
			if cn != nil {
				t.Nodes = append(t.Nodes, cn)
			}
		}
		id, err := a.repo.SaveTree(ctx, t)
		if err != nil {
			f.resolve(nil, fmt.Errorf("save tree: %w", err))
			return
		}
		n.Subtree = &id
		n.Size = 0
		switch {
		case prev == nil || prev.Type != tree.TypeDir || prev.Subtree == nil:
			a.stats.dirsNew.Add(1)
		case *prev.Subtree == id:
			a.stats.dirsUnchanged.Add(1)
		default:
			a.stats.dirsChanged.Add(1)
		}
		f.resolve(n, nil)
	}()
	return f
}

// linkTo makes n, another name of a hard-linked inode, share the content of
// the first name once that is stored.
func (a *Archiver) linkTo(ctx context.Context, first *future, n *tree.Node) *future {
	f := newFuture()
	go func() {
		fn, err := first.wait(ctx)
		if err == nil && fn != nil {
			n.Content = fn.Content
			n.Size = fn.Size
		}
		a.stats.filesUnchanged.Add(1)
		f.resolve(n, err)
	}()
	return f
}

// unchanged reports whether the file can reuse the content recorded in the
// parent point: same size, mtime, ctime and inode, read without error, and
// every chunk still present in the vault.
func (a *Archiver) unchanged(n, prev *tree.Node) bool {
	if prev == nil || prev.Type != tree.TypeFile || prev.Error != "" {
		return false
	}
	if n.Size != prev.Size || n.MTime != prev.MTime || n.CTime != prev.CTime || n.Inode != prev.Inode {
		return false
	}
	for _, id := range prev.Content {
		if !a.repo.Has(dataHandle(id)) {
			return false
		}
	}
	return true
}
