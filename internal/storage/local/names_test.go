package local

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bunkerhq/bunker/internal/storage"
)

const fuzzRoot = "/srv/vault"

func TestObjectPath(t *testing.T) {
	b := &Backend{dir: fuzzRoot}
	hex := strings.Repeat("0123456789abcdef", 4)
	cases := []struct {
		h    storage.Handle
		want string
	}{
		{storage.Handle{Kind: storage.KindConfig, Name: "config"}, "/srv/vault/config"},
		{storage.Handle{Kind: storage.KindKey, Name: hex}, "/srv/vault/keys/" + hex},
		{storage.Handle{Kind: storage.KindPack, Name: hex}, "/srv/vault/packs/01/" + hex},
		{storage.Handle{Kind: storage.KindIndex, Name: hex}, "/srv/vault/index/" + hex},
		{storage.Handle{Kind: storage.KindPoint, Name: hex}, "/srv/vault/points/" + hex},
	}
	for _, c := range cases {
		got, err := b.objectPath(c.h)
		if err != nil || got != c.want {
			t.Errorf("objectPath(%s) = %q, %v; want %q", c.h, got, err, c.want)
		}
	}
}

// FuzzObjectPath checks that every handle the backend accepts maps to a
// path inside its own kind's directory and that every other handle is
// refused with ErrInvalidName.
func FuzzObjectPath(f *testing.F) {
	hex := strings.Repeat("0123456789abcdef", 4)
	f.Add("packs", hex)
	f.Add("config", "config")
	f.Add("keys", "../../../etc/passwd")
	f.Add("packs", "../"+hex[3:])
	f.Add("..", hex)
	f.Add("index", strings.ToUpper(hex))
	f.Add("points", hex[:63]+"\x00")
	b := &Backend{dir: fuzzRoot}
	f.Fuzz(func(t *testing.T, kind, name string) {
		h := storage.Handle{Kind: storage.Kind(kind), Name: name}
		path, err := b.objectPath(h)
		if err != nil {
			if !errors.Is(err, storage.ErrInvalidName) {
				t.Fatalf("objectPath(%q, %q): error %v does not wrap ErrInvalidName", kind, name, err)
			}
			return
		}
		if filepath.Clean(path) != path || filepath.Base(path) != name {
			t.Fatalf("objectPath(%q, %q) = %q: not a clean path ending in the name", kind, name, path)
		}
		if h.Kind == storage.KindConfig {
			if path != filepath.Join(fuzzRoot, "config") {
				t.Fatalf("config maps to %q", path)
			}
			return
		}
		dir := filepath.Join(fuzzRoot, kindDir(h.Kind))
		if dir == fuzzRoot || !strings.HasPrefix(path, dir+"/") {
			t.Fatalf("objectPath(%q, %q) = %q: outside %s", kind, name, path, dir)
		}
		if len(name) != 64 || strings.Trim(name, "0123456789abcdef") != "" {
			t.Fatalf("objectPath accepted the name %q", name)
		}
	})
}
