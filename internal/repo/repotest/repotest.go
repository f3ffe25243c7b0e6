// Package repotest creates vaults for tests.
package repotest

import (
	"context"
	"testing"

	"github.com/bunkerhq/bunker/internal/crypto"
	"github.com/bunkerhq/bunker/internal/repo"
	"github.com/bunkerhq/bunker/internal/storage/local"
)

// Vault is a test vault on the local filesystem.
type Vault struct {
	Dir    string
	Master crypto.MasterKey
}

// New creates a vault in a temporary directory. Small packs (1 MiB) and
// small chunks make tests exercise many packs with little data.
func New(t testing.TB) *Vault {
	t.Helper()
	dir := t.TempDir() + "/vault"
	be, err := local.Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	cfg, err := repo.NewConfig()
	if err != nil {
		t.Fatal(err)
	}
	cfg.PackSize = 1 << 20
	cfg.ChunkMin, cfg.ChunkAvg, cfg.ChunkMax = 64<<10, 128<<10, 512<<10
	if err := repo.Init(context.Background(), be, cfg); err != nil {
		t.Fatal(err)
	}
	m, err := crypto.NewMasterKey()
	if err != nil {
		t.Fatal(err)
	}
	return &Vault{Dir: dir, Master: m}
}

// Open opens the vault and loads its index; the repository is closed when
// the test ends.
func (v *Vault) Open(t testing.TB) *repo.Repository {
	t.Helper()
	r := v.OpenNoIndex(t)
	if err := r.LoadIndex(context.Background()); err != nil {
		t.Fatal(err)
	}
	return r
}

// OpenNoIndex opens the vault without loading its index.
func (v *Vault) OpenNoIndex(t testing.TB) *repo.Repository {
	t.Helper()
	be, err := local.Open(v.Dir)
	if err != nil {
		t.Fatal(err)
	}
	r, err := repo.Open(context.Background(), be, v.Master, repo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); be.Close() })
	return r
}
