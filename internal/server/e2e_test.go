package server_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/bunkerhq/bunker/internal/api"
	"github.com/bunkerhq/bunker/internal/archiver"
	"github.com/bunkerhq/bunker/internal/blob"
	"github.com/bunkerhq/bunker/internal/client"
	"github.com/bunkerhq/bunker/internal/remote"
	"github.com/bunkerhq/bunker/internal/repo"
	"github.com/bunkerhq/bunker/internal/restorer"
	"github.com/bunkerhq/bunker/internal/server/servertest"
	"github.com/bunkerhq/bunker/internal/testfs"
)

// backupTo backs up src through a backup session of c on vault.
func backupTo(t *testing.T, c *client.Client, vault, host string, src ...string) (*repo.Point, *remote.Backup) {
	t.Helper()
	ctx := context.Background()
	abs, err := archiver.AbsPaths(src)
	if err != nil {
		t.Fatal(err)
	}
	b, err := remote.StartBackup(ctx, c, vault, api.SessionRequest{Hostname: host, Paths: abs})
	if err != nil {
		t.Fatalf("start backup: %v", err)
	}
	defer b.Close(ctx)
	a, err := archiver.New(b, archiver.Options{Parent: b.Parent(), Hostname: host})
	if err != nil {
		t.Fatal(err)
	}
	p, errs, err := a.Backup(ctx, abs)
	if err != nil {
		t.Fatalf("backup: %v", err)
	}
	if len(errs) > 0 {
		t.Fatalf("backup errors: %v", errs)
	}
	return p, b
}

// restoreFrom restores point ref of vault through c into a new directory.
func restoreFrom(t *testing.T, c *client.Client, vault, ref string) string {
	t.Helper()
	ctx := context.Background()
	r, err := remote.StartRestore(ctx, c, vault, ref)
	if err != nil {
		t.Fatalf("start restore: %v", err)
	}
	defer r.Close(ctx)
	target := t.TempDir()
	res, err := restorer.Restore(ctx, r, r.Point(), restorer.Options{Target: target, Verify: true})
	if err != nil {
		t.Fatalf("restore: %v", err)
	}
	if len(res.Errors) > 0 {
		t.Fatalf("restore errors: %v", res.Errors)
	}
	return target
}

func TestBackupAndRestoreThroughServer(t *testing.T) {
	ctx := context.Background()
	s := servertest.Start(t, servertest.Options{})
	vadmin := s.User(t, "vadmin", "vault-admin")
	host := s.Service(t, "host1", "backup-operator@prod")
	ops := s.User(t, "ops", "restore-operator@prod")
	if _, err := vadmin.CreateVault(ctx, api.VaultRequest{Name: "prod", Retention: "30d"}); err != nil {
		t.Fatal(err)
	}
	src := t.TempDir()
	testfs.Build(t, src)
	before := s.Clock.Now()
	p1, _ := backupTo(t, host, "prod", "host1", src)
	if !p1.Time.Equal(before) {
		t.Fatalf("point time %v, want the server's clock %v", p1.Time, before)
	}
	// A second backup reads nothing unchanged and uploads nothing. (It
	// runs before any comparison: reading the source for one resets atimes,
	// which changes ctimes.)
	s.Clock.Advance(3600e9)
	p2, b2 := backupTo(t, host, "prod", "host1", src)
	if p2.Summary.FilesNew+p2.Summary.FilesChanged != 0 || p2.Summary.BytesRead != 0 {
		t.Fatalf("unchanged re-backup read files: %+v", p2.Summary)
	}
	// Only listings whose directories' atimes moved are new.
	if st := b2.SaveStats(); st.Blobs > p2.Summary.DirsChanged+1 || st.RawBytes > 64<<10 {
		t.Fatalf("unchanged re-backup uploaded %d blobs, %d bytes (%d directories changed)", st.Blobs, st.RawBytes, p2.Summary.DirsChanged)
	}
	pt, err := ops.Point(ctx, "prod", p2.ID.String())
	if err != nil {
		t.Fatal(err)
	}
	if pt.Parent != p1.ID.String() {
		t.Fatalf("parent %q, want %s", pt.Parent, p1.ID)
	}
	if want := s.Clock.Now().Add(30 * 24 * 3600e9); !pt.Expires.Equal(want) {
		t.Fatalf("expires %v, want %v", pt.Expires, want)
	}
	for _, ref := range []string{p1.ID.String()[:8], "latest"} {
		target := restoreFrom(t, ops, "prod", ref)
		testfs.Compare(t, src, filepath.Join(target, src))
	}
}

// Several hosts back up at once into one vault: every backup succeeds, and
// the content they share is stored once.
func TestConcurrentClientsStoreSharedDataOnce(t *testing.T) {
	ctx := context.Background()
	s := servertest.Start(t, servertest.Options{})
	vadmin := s.User(t, "vadmin", "vault-admin")
	v, err := vadmin.CreateVault(ctx, api.VaultRequest{Name: "prod"})
	if err != nil {
		t.Fatal(err)
	}
	shared := make([]byte, 6<<20)
	for i := range shared {
		shared[i] = byte(i*7 + i/4096)
	}
	const hosts = 6
	var wg sync.WaitGroup
	points := make([]*repo.Point, hosts)
	for i := range hosts {
		name := fmt.Sprintf("host%d", i)
		c := s.Service(t, name, "backup-operator@prod")
		src := t.TempDir()
		os.WriteFile(filepath.Join(src, "shared.img"), shared, 0o644)
		own := bytes.Repeat([]byte(name+" only "), 200000)
		os.WriteFile(filepath.Join(src, "own.log"), own, 0o644)
		wg.Add(1)
		go func() {
			defer wg.Done()
			points[i], _ = backupTo(t, c, "prod", name, src)
		}()
	}
	wg.Wait()
	for i, p := range points {
		if p == nil {
			t.Fatalf("backup of host%d failed", i)
		}
	}
	// Every data blob is stored in exactly one pack.
	s.Stop()
	r := openServerVault(t, s, v.Location)
	if err := r.LoadIndex(ctx); err != nil {
		t.Fatal(err)
	}
	for h, pe := range blobCopies(r) {
		if pe > 1 {
			t.Fatalf("blob %s is stored %d times", h, pe)
		}
	}
}

// blobCopies counts the stored copies of every blob of a vault.
func blobCopies(r *repo.Repository) map[blob.Handle]int {
	out := map[blob.Handle]int{}
	for _, pe := range r.Index().Snapshot() {
		for _, e := range pe.Entries {
			out[blob.Handle{ID: e.ID, Type: e.Type}]++
		}
	}
	return out
}

// The operational endpoints answer without credentials: health, metrics
// (counting what the server did), the OpenAPI document.
func TestHealthMetricsOpenAPI(t *testing.T) {
	w := newWorld(t)
	code, body := w.raw(t, nil, "GET", "/healthz", "", nil)
	if code != 200 || !strings.Contains(body, `"ok"`) {
		t.Fatalf("healthz: %d %s", code, body)
	}
	code, body = w.raw(t, nil, "GET", "/metrics", "", nil)
	if code != 200 {
		t.Fatalf("metrics: %d", code)
	}
	for _, want := range []string{`bunker_points_total{event="created"} 1`, "bunker_blobs_stored_total", `bunker_http_requests_total{code="201",route="POST /v1/vaults"} 2`, "go_goroutines"} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	code, body = w.raw(t, nil, "GET", "/v1/openapi.yaml", "", nil)
	if code != 200 || !strings.HasPrefix(body, "openapi: 3.1") {
		t.Fatalf("openapi: %d %.40s", code, body)
	}
}
