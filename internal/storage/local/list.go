package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/bunkerhq/bunker/internal/storage"
)

// listBatch is how many directory entries List reads at a time.
const listBatch = 256

// List calls fn for every object of kind k. It skips temporaries, entries
// that are not regular files and files whose names are not valid object
// names. An error from fn stops the listing and is returned as it is.
func (b *Backend) List(ctx context.Context, k storage.Kind, fn func(storage.Info) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("list %s: %w", k, err)
	}
	switch k {
	case storage.KindConfig:
		return b.listConfig(ctx, fn)
	case storage.KindPack:
		return b.listPacks(ctx, fn)
	case storage.KindKey, storage.KindIndex, storage.KindPoint:
		return listDir(ctx, k, filepath.Join(b.dir, kindDir(k)), "", fn)
	}
	return fmt.Errorf("list: unknown kind %q: %w", k, storage.ErrInvalidName)
}

func (b *Backend) listConfig(ctx context.Context, fn func(storage.Info) error) error {
	info, err := b.Stat(ctx, storage.Handle{Kind: storage.KindConfig, Name: configName})
	if errors.Is(err, storage.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("list %s: %w", storage.KindConfig, err)
	}
	return fn(info)
}

// listPacks lists every pack subdirectory.
func (b *Backend) listPacks(ctx context.Context, fn func(storage.Info) error) error {
	root := filepath.Join(b.dir, kindDir(storage.KindPack))
	subs, err := os.ReadDir(root)
	if err != nil {
		return fmt.Errorf("list %s: %w", storage.KindPack, err)
	}
	for _, sub := range subs {
		if !sub.IsDir() || !isFanoutName(sub.Name()) {
			continue
		}
		err := listDir(ctx, storage.KindPack, filepath.Join(root, sub.Name()), sub.Name(), fn)
		if err != nil {
			return err
		}
	}
	return nil
}

// listDir calls fn for every object in dir whose name starts with prefix.
func listDir(ctx context.Context, k storage.Kind, dir, prefix string, fn func(storage.Info) error) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("list %s: %w", k, err)
	}
	defer d.Close()
	for {
		entries, err := d.ReadDir(listBatch)
		for _, e := range entries {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("list %s: %w", k, err)
			}
			if err := visit(k, dir, e, prefix, fn); err != nil {
				return err
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("list %s: %w", k, err)
		}
	}
}

// visit calls fn for e, an entry of dir, if e is an object of kind k.
func visit(k storage.Kind, dir string, e fs.DirEntry, prefix string, fn func(storage.Info) error) error {
	name := e.Name()
	if !isHexName(name) || !strings.HasPrefix(name, prefix) {
		return nil
	}
	fi, err := e.Info()
	if errors.Is(err, fs.ErrNotExist) {
		return nil // deleted while we listed
	}
	if err != nil {
		return fmt.Errorf("list %s: %w", k, err)
	}
	if !fi.Mode().IsRegular() {
		return nil
	}
	return fn(storage.Info{
		Handle:      storage.Handle{Kind: k, Name: name},
		Size:        fi.Size(),
		ModTime:     fi.ModTime(),
		RetainUntil: retainUntil(filepath.Join(dir, name)),
	})
}
