package server_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/bunkerhq/bunker/internal/api"
	"github.com/bunkerhq/bunker/internal/client"
)

// packClasses returns the storage class of each pack of a vault, as
// MinIO itself reports it.
func (w *s3World) packClasses(t *testing.T, vault string) map[string]string {
	t.Helper()
	ctx := context.Background()
	prefix := w.vaultPrefix(t, vault) + "packs/"
	out := map[string]string{}
	for o := range w.root.ListObjects(ctx, w.bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		info, err := w.root.StatObject(ctx, w.bucket, o.Key, minio.StatObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		c := info.Metadata.Get("X-Amz-Storage-Class")
		if c == "" {
			c = "STANDARD"
		}
		out[strings.TrimPrefix(o.Key, prefix)] = c
	}
	return out
}

func coldPlan(vault, host, src, class string) string {
	return fmt.Sprintf("name: %s\nschedule:\n  rate: every 1d\nvault: %s\nsources:\n  - host: %s\n    paths: [%s]\nlifecycle:\n  cold_after: 1d\n  storage_class: %s\n", vault, vault, host, src, class)
}

func randomFile(t *testing.T, dir, name string, n int) {
	t.Helper()
	data := make([]byte, n)
	rand.Read(data)
	if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// On a bucket without versions, a plan's lifecycle moves the packs of
// points older than cold_after to its storage class, which single-node
// MinIO offers as REDUCED_REDUNDANCY; the point still restores, and a
// pack that a younger point (of any source) also needs stays in STANDARD. A class MinIO
// does not offer (STANDARD_IA) is refused by MinIO, reported per point; an
// archive class (GLACIER) is not tried at all.
func TestS3PlanColdTier(t *testing.T) {
	ctx := context.Background()
	w := newS3World(t, false)
	for _, v := range []string{"prod", "arch", "deep"} {
		if _, err := w.vadmin.CreateVault(ctx, api.VaultRequest{Name: v, Storage: "minio", Retention: "30d"}); err != nil {
			t.Fatal(err)
		}
	}
	old, shared, archSrc := t.TempDir(), t.TempDir(), t.TempDir()
	randomFile(t, shared, "own.bin", 50<<10)
	randomFile(t, old, "old.bin", 200<<10)
	randomFile(t, archSrc, "arch.bin", 100<<10)
	apply(t, w.vadmin, coldPlan("prod", "host1", old, "REDUCED_REDUNDANCY")+"---\n"+coldPlan("arch", "host2", archSrc, "STANDARD_IA")+
		"---\n"+coldPlan("deep", "host3", archSrc, "GLACIER"), client.ApplyOptions{})
	host2 := w.s.Service(t, "host2", "backup-operator@arch")
	host3 := w.s.Service(t, "host3", "backup-operator@deep")
	backupTo(t, host3, "deep", "host3", archSrc)

	p1, _ := backupTo(t, w.host, "prod", "host1", old)
	first := w.packClasses(t, "prod")
	randomFile(t, old, "keep.bin", 150<<10)
	p2, _ := backupTo(t, w.host, "prod", "host1", old)
	second := w.packClasses(t, "prod")
	backupTo(t, host2, "arch", "host2", archSrc)
	w.s.Clock.Advance(2 * day)
	// A young point of another source needs p2's new data again.
	data, err := os.ReadFile(filepath.Join(old, "keep.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(shared, "copy.bin"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	backupTo(t, w.host, "prod", "host1", shared)

	rep, err := w.vadmin.Maintain(ctx, "prod")
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Plans) != 1 || len(rep.Plans[0].Cold) != 2 || rep.Plans[0].Cold[0] != p1.ID.String() || rep.Plans[0].Cold[1] != p2.ID.String() || len(rep.Plans[0].ColdFailed) != 0 {
		t.Fatalf("cold tier of prod: %+v", rep.Plans)
	}
	after := w.packClasses(t, "prod")
	if len(first) == 0 || len(second) <= len(first) || len(after) <= len(second) {
		t.Fatalf("packs: %v, then %v, then %v", first, second, after)
	}
	for pack, c := range after {
		_, ofP1 := first[pack]
		_, ofP2 := second[pack]
		switch {
		case ofP1 && c != "REDUCED_REDUNDANCY":
			t.Errorf("pack %s of the old point is in %s", pack[:8], c)
		case !ofP1 && ofP2 && c != "STANDARD":
			t.Errorf("pack %s, which the young point needs too, moved to %s", pack[:8], c)
		case !ofP2 && c != "STANDARD":
			t.Errorf("pack %s of the young point moved to %s", pack[:8], c)
		}
	}
	got, err := os.ReadFile(filepath.Join(restoreFrom(t, w.ops, "prod", p1.ID.String()[:12]), old, "old.bin"))
	if err != nil || len(got) != 200<<10 {
		t.Fatalf("restore after the move: %v (%d bytes)", err, len(got))
	}

	// The next pass leaves the moved point alone.
	rep, err = w.vadmin.Maintain(ctx, "prod")
	if err != nil || len(rep.Plans[0].Cold) != 0 || len(rep.Plans[0].ColdFailed) != 0 {
		t.Fatalf("second pass: %+v %v", rep.Plans, err)
	}

	rep, err = w.vadmin.Maintain(ctx, "arch")
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Plans) != 1 || len(rep.Plans[0].ColdFailed) != 1 || !strings.Contains(rep.Plans[0].ColdFailed[0].Reason, "InvalidStorageClass") {
		t.Fatalf("STANDARD_IA on MinIO: %+v", rep.Plans)
	}
	for pack, c := range w.packClasses(t, "arch") {
		if c != "STANDARD" {
			t.Errorf("pack %s of arch in %s after a refused move", pack[:8], c)
		}
	}

	rep, err = w.vadmin.Maintain(ctx, "deep")
	if err != nil {
		t.Fatal(err)
	}
	if r := rep.Plans[0]; len(r.Cold) != 0 || len(r.ColdFailed) != 0 || !strings.Contains(r.Note, "archive") {
		t.Fatalf("GLACIER: %+v", r)
	}
}

// On a bucket with Object Lock a copy cannot move the locked original:
// each point's move is refused with why, and no object gains a version.
func TestS3PlanColdTierLockedBucket(t *testing.T) {
	ctx := context.Background()
	w := newS3World(t, true)
	if _, err := w.vadmin.CreateVault(ctx, api.VaultRequest{Name: "prod", Storage: "minio", Retention: "30d",
		Lock: &api.LockRequest{Mode: "governance", MaxRetention: "60d"}}); err != nil {
		t.Fatal(err)
	}
	src := t.TempDir()
	randomFile(t, src, "a.bin", 100<<10)
	apply(t, w.vadmin, coldPlan("prod", "host1", src, "REDUCED_REDUNDANCY"), client.ApplyOptions{})
	backupTo(t, w.host, "prod", "host1", src)
	randomFile(t, src, "b.bin", 100<<10)
	backupTo(t, w.host, "prod", "host1", src)
	packVersions := func() map[string]int {
		n := map[string]int{}
		for _, v := range w.versions(t, w.vaultPrefix(t, "prod")+"packs/") {
			n[v.Key]++
		}
		return n
	}
	before := packVersions()
	w.s.Clock.Advance(2 * day)
	rep, err := w.vadmin.Maintain(ctx, "prod")
	if err != nil {
		t.Fatal(err)
	}
	r := rep.Plans[0]
	if len(r.Cold) != 0 || len(r.ColdFailed) != 2 {
		t.Fatalf("cold tier on a locked bucket: %+v", r)
	}
	for _, f := range r.ColdFailed {
		if !strings.Contains(f.Reason, "keeps versions") || !strings.Contains(f.Reason, "lifecycle rule") {
			t.Errorf("refusal of %s: %s", f.Point[:8], f.Reason)
		}
	}
	after := packVersions()
	if len(after) != len(before) || len(after) == 0 {
		t.Errorf("packs before %v, after %v", before, after)
	}
	for k, n := range after {
		if n != 1 {
			t.Errorf("%s has %d versions after a refused move", k, n)
		}
	}
}
