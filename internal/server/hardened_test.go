package server_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bunkerhq/bunker/internal/api"
	"github.com/bunkerhq/bunker/internal/server/servertest"
)

// As root, a locked local vault's sealed objects carry the immutable
// attribute: neither rm nor a write touches them, not even root's; after
// their retention, garbage collection removes them.
func TestHardenedLocalVault(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the immutable attribute needs root")
	}
	ctx := context.Background()
	s := servertest.Start(t, servertest.Options{RealTime: true})
	w := &world{s: s}
	w.vadmin = s.User(t, "vadmin", "vault-admin")
	w.host = s.Service(t, "host1", "backup-operator@prod")
	v, err := w.vadmin.CreateVault(ctx, api.VaultRequest{Name: "prod", Retention: "2s", BinRetention: "0",
		Lock: &api.LockRequest{Mode: "compliance", ChangeableFor: "72h"}})
	if err != nil {
		t.Fatal(err)
	}
	if !v.StorageRetention {
		t.Skipf("this filesystem cannot hold the immutable attribute: %s", v.StorageRetentionReason)
	}
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "payroll.db"), randomData(1<<20, 4), 0o644)
	backupTo(t, w.host, "prod", "host1", src)
	packs, _ := filepath.Glob(filepath.Join(s.DataDir, v.Location, "packs", "*", "*"))
	points, _ := filepath.Glob(filepath.Join(s.DataDir, v.Location, "points", "*"))
	if len(packs) == 0 || len(points) != 1 {
		t.Fatalf("%d packs, %d points on disk", len(packs), len(points))
	}
	for _, f := range append(packs, points...) {
		before, _ := os.ReadFile(f)
		if err := os.Remove(f); err == nil {
			t.Fatalf("removed %s", f)
		}
		if out, err := exec.Command("rm", "-f", f).CombinedOutput(); err == nil {
			t.Fatalf("rm -f %s succeeded: %s", f, out)
		}
		if err := exec.Command("sh", "-c", "echo ransom >> "+f).Run(); err == nil {
			t.Fatalf("appended to %s", f)
		}
		if after, _ := os.ReadFile(f); string(after) != string(before) {
			t.Fatalf("%s changed", f)
		}
	}
	time.Sleep(4 * time.Second) // the retention and its slack
	s.Clock.Advance(4 * time.Second)
	rep, err := w.vadmin.Maintain(ctx, "prod")
	if err != nil || len(rep.Purged) != 1 || rep.GC.PacksDeleted == 0 {
		t.Fatalf("maintenance after expiry: %+v %+v %v", rep, rep.GC, err)
	}
	for _, f := range append(packs, points...) {
		if _, err := os.Stat(f); !os.IsNotExist(err) && !strings.Contains(f, "/packs/") {
			t.Errorf("%s still there: %v", f, err)
		}
	}
	left, _ := filepath.Glob(filepath.Join(s.DataDir, v.Location, "packs", "*", "*"))
	if len(left) >= len(packs) {
		t.Fatalf("%d packs before, %d after garbage collection", len(packs), len(left))
	}
}
