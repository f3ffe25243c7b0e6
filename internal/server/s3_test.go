package server_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/bunkerhq/bunker/internal/api"
	"github.com/bunkerhq/bunker/internal/archiver"
	"github.com/bunkerhq/bunker/internal/client"
	"github.com/bunkerhq/bunker/internal/remote"
	"github.com/bunkerhq/bunker/internal/server/servertest"
	"github.com/bunkerhq/bunker/internal/storage/s3"
	"github.com/bunkerhq/bunker/internal/storage/s3/miniotest"
	"github.com/bunkerhq/bunker/internal/testfs"
)

// s3World is a server whose vaults live on a real MinIO.
type s3World struct {
	*world
	minio  *miniotest.Server
	root   *minio.Client // MinIO's own root credentials: the attacker
	bucket string
}

func newS3World(t *testing.T, objectLock bool) *s3World {
	t.Helper()
	m := miniotest.New(t)
	bucket := "bunker-vaults"
	m.MakeBucket(t, bucket, objectLock)
	cfg := s3.Config{Endpoint: m.Endpoint, Bucket: bucket, Prefix: "site1", DisableTLS: true,
		AccessKeyID: miniotest.RootUser, SecretAccessKey: miniotest.RootPassword, Lookup: s3.LookupPath, Region: "us-east-1"}
	s := servertest.Start(t, servertest.Options{Storages: map[string]s3.Config{"minio": cfg}, RealTime: true})
	w := &world{s: s}
	w.vadmin = s.User(t, "vadmin", "vault-admin")
	w.host = s.Service(t, "host1", "backup-operator@prod")
	w.ops = s.User(t, "ops", "restore-operator@prod")
	w.aud = s.User(t, "aud", "auditor")
	return &s3World{world: w, minio: m, root: m.Client(t), bucket: bucket}
}

// versions lists every object version and delete marker under the prefix.
func (w *s3World) versions(t *testing.T, prefix string) []minio.ObjectInfo {
	t.Helper()
	var out []minio.ObjectInfo
	for o := range w.root.ListObjects(context.Background(), w.bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true, WithVersions: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		out = append(out, o)
	}
	return out
}

func (w *s3World) vaultPrefix(t *testing.T, name string) string {
	t.Helper()
	v, err := w.vadmin.Vault(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	_, p, ok := strings.Cut(v.Location, ":")
	if !ok || v.Backend != "s3" {
		t.Fatalf("vault %s is on %s %s, not S3", name, v.Backend, v.Location)
	}
	return p + "/"
}

func TestS3VaultBackupRestore(t *testing.T) {
	ctx := context.Background()
	w := newS3World(t, true)
	v, err := w.vadmin.CreateVault(ctx, api.VaultRequest{Name: "prod", Storage: "minio", Retention: "1h",
		Lock: &api.LockRequest{Mode: "compliance", ChangeableFor: "72h"}})
	if err != nil {
		t.Fatal(err)
	}
	if !v.StorageRetention || v.Backend != "s3" {
		t.Fatalf("vault on MinIO with Object Lock: storage retention %v (%s), backend %s", v.StorageRetention, v.StorageRetentionReason, v.Backend)
	}
	src := t.TempDir()
	testfs.Build(t, src)
	p, _ := backupTo(t, w.host, "prod", "host1", src)
	target := restoreFrom(t, w.ops, "prod", p.ID.String()[:8])
	testfs.Compare(t, src, filepath.Join(target, src))
	// Every object is locked, in compliance mode, at least until the
	// point's expiry.
	pt, err := w.ops.Point(ctx, "prod", "latest")
	if err != nil {
		t.Fatal(err)
	}
	objs := w.versions(t, w.vaultPrefix(t, "prod"))
	if len(objs) < 5 {
		t.Fatalf("only %d objects in the vault's prefix", len(objs))
	}
	for _, o := range objs {
		mode, until, err := w.root.GetObjectRetention(ctx, w.bucket, o.Key, o.VersionID)
		if err != nil {
			t.Fatalf("%s: %v", o.Key, err)
		}
		if mode == nil || *mode != minio.Compliance || until == nil {
			t.Fatalf("%s is not compliance-locked: %v %v", o.Key, mode, until)
		}
		if strings.Contains(o.Key, "/packs/") || strings.Contains(o.Key, "/points/") {
			if until.Before(pt.Expires) {
				t.Errorf("%s locked until %v, before the point expires (%v)", o.Key, until, pt.Expires)
			}
		}
	}
	// The storage's requests are counted by operation: the objects above
	// were stored with PutObject, and read back for the restore.
	_, metrics := w.raw(t, nil, "GET", "/metrics", "", nil)
	for _, op := range []string{"PutObject", "GetObject"} {
		re := regexp.MustCompile(`bunker_storage_requests_total\{op="` + op + `",vault="prod"\} ([0-9]+)`)
		m := re.FindStringSubmatch(metrics)
		if m == nil || m[1] == "0" {
			t.Errorf("metrics lack a count of %s requests to vault prod", op)
		}
	}
}

// With MinIO's root credentials, nothing of a compliance vault's point can
// be deleted or replaced: every version delete fails, with or without the
// governance bypass, and versions written over the objects change nothing
// that bunker reads.
func TestS3RootCannotTouchComplianceVault(t *testing.T) {
	ctx := context.Background()
	w := newS3World(t, true)
	if _, err := w.vadmin.CreateVault(ctx, api.VaultRequest{Name: "prod", Storage: "minio", Retention: "1h",
		Lock: &api.LockRequest{Mode: "compliance", ChangeableFor: "72h"}}); err != nil {
		t.Fatal(err)
	}
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "ledger.csv"), bytes.Repeat([]byte("2026-12-01,paid,100\n"), 50000), 0o644)
	p, _ := backupTo(t, w.host, "prod", "host1", src)
	prefix := w.vaultPrefix(t, "prod")
	for _, o := range w.versions(t, prefix) {
		for _, bypass := range []bool{false, true} {
			err := w.root.RemoveObject(ctx, w.bucket, o.Key, minio.RemoveObjectOptions{VersionID: o.VersionID, GovernanceBypass: bypass})
			if err == nil {
				t.Fatalf("root deleted %s (version %s, bypass %v)", o.Key, o.VersionID, bypass)
			}
		}
		if _, err := w.root.PutObject(ctx, w.bucket, o.Key, strings.NewReader("ransom"), 6, minio.PutObjectOptions{}); err != nil {
			t.Fatalf("put over %s: %v", o.Key, err)
		}
		if err := w.root.RemoveObject(ctx, w.bucket, o.Key, minio.RemoveObjectOptions{}); err != nil {
			t.Fatalf("delete marker on %s: %v", o.Key, err)
		}
	}
	// The server, restarted on the same data so that nothing is cached,
	// still restores the point byte for byte.
	w.s.Stop()
	s2 := servertest.Start(t, servertest.Options{DataDir: w.s.DataDir, KeyFile: w.s.KeyFile, Clock: w.s.Clock,
		Storages: map[string]s3.Config{"minio": storageOf(t, w)}})
	ops := reconnect(t, s2, w.ops)
	target := restoreFrom(t, ops, "prod", p.ID.String()[:8])
	got, err := os.ReadFile(filepath.Join(target, src, "ledger.csv"))
	if err != nil || !bytes.Equal(got, bytes.Repeat([]byte("2026-12-01,paid,100\n"), 50000)) {
		t.Fatalf("restore after the attack: %v", err)
	}
}

func storageOf(t *testing.T, w *s3World) s3.Config {
	t.Helper()
	return s3.Config{Endpoint: w.minio.Endpoint, Bucket: w.bucket, Prefix: "site1", DisableTLS: true,
		AccessKeyID: miniotest.RootUser, SecretAccessKey: miniotest.RootPassword, Lookup: s3.LookupPath, Region: "us-east-1"}
}

// A compliance vault on a bucket without Object Lock is refused, clearly.
func TestS3ComplianceNeedsObjectLock(t *testing.T) {
	ctx := context.Background()
	w := newS3World(t, false)
	_, err := w.vadmin.CreateVault(ctx, api.VaultRequest{Name: "prod", Storage: "minio",
		Lock: &api.LockRequest{Mode: "compliance", ChangeableFor: "72h"}})
	if !client.IsStatus(err, 409) || !strings.Contains(err.Error(), "Object Lock") {
		t.Fatalf("compliance vault on a bucket without Object Lock: %v", err)
	}
	if vs, _ := w.vadmin.Vaults(ctx); len(vs) != 0 {
		t.Fatalf("the refused vault exists: %+v", vs)
	}
	// A vault without a lock is fine there, and a compliance lock on it
	// later is refused just the same.
	if _, err := w.vadmin.CreateVault(ctx, api.VaultRequest{Name: "plain", Storage: "minio"}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.vadmin.Lock(ctx, "plain", api.LockRequest{Mode: "compliance", ChangeableFor: "72h"}); !client.IsStatus(err, 409) {
		t.Fatalf("compliance lock later: %v", err)
	}
}

// After retention passes, maintenance removes exactly what no point needs:
// the packs holding only the expired point's data go; the packs the live
// point needs, the one it shares with the expired point among them, stay,
// extended to the live point's need. (A pack only partly needed stays whole
// while the storage retains it: it cannot be rewritten before then.)
func TestS3GarbageCollectionAfterRetention(t *testing.T) {
	ctx := context.Background()
	w := newS3World(t, true)
	if _, err := w.vadmin.CreateVault(ctx, api.VaultRequest{Name: "prod", Storage: "minio", Retention: "3s", BinRetention: "0",
		Lock: &api.LockRequest{Mode: "compliance", ChangeableFor: "72h"}}); err != nil {
		t.Fatal(err)
	}
	shared := bytes.Repeat([]byte("shared by both points "), 40000)
	srcA, srcB := t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(srcA, "shared.txt"), shared, 0o644)
	os.WriteFile(filepath.Join(srcB, "shared.txt"), shared, 0o644)
	// More than a pack of A's own: at least one pack holds nothing else.
	os.WriteFile(filepath.Join(srcA, "only-a.bin"), randomData(20<<20, 1), 0o644)
	os.WriteFile(filepath.Join(srcB, "only-b.bin"), randomData(3<<20, 2), 0o644)
	backupTo(t, w.host, "prod", "host1", srcA)
	// B is kept far longer, and re-uses the pack A wrote for shared.txt.
	long := "1h"
	if _, err := w.vadmin.UpdateVault(ctx, "prod", api.VaultUpdate{Retention: &long}); err != nil {
		t.Fatal(err)
	}
	pb, _ := backupTo(t, w.host, "prod", "host1", srcB)
	prefix := w.vaultPrefix(t, "prod")
	before := packKeys(w.versions(t, prefix))

	// A expires; storage retention passes (3s + 1s slack).
	time.Sleep(5 * time.Second)
	w.s.Clock.Advance(5 * time.Second)
	// From here the server's time stands still, so that the second pass
	// below has nothing to extend either.
	w.s.Clock.Freeze()
	rep, err := w.vadmin.Maintain(ctx, "prod")
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Purged) != 1 || rep.GC == nil || rep.GC.PacksDeleted == 0 {
		t.Fatalf("maintenance after A expired: %+v gc %+v", rep, rep.GC)
	}
	after := packKeys(w.versions(t, prefix))
	if len(after) >= len(before) {
		t.Fatalf("%d packs before, %d after: nothing collected", len(before), len(after))
	}
	// B restores whole: nothing it needs went.
	target := restoreFrom(t, w.ops, "prod", pb.ID.String()[:8])
	if got, _ := os.ReadFile(filepath.Join(target, srcB, "shared.txt")); !bytes.Equal(got, shared) {
		t.Fatal("the shared file of the live point is gone")
	}
	// What is left is locked at least until B needs it.
	pt, _ := w.ops.Point(ctx, "prod", pb.ID.String()[:8])
	for _, o := range w.versions(t, prefix) {
		if !strings.Contains(o.Key, "/packs/") {
			continue
		}
		_, until, err := w.root.GetObjectRetention(ctx, w.bucket, o.Key, o.VersionID)
		if err != nil || until == nil || until.Before(pt.Expires) {
			t.Errorf("%s left with retention %v (%v), before the live point's expiry %v", o.Key, until, err, pt.Expires)
		}
	}
	// And a second pass finds nothing more to do.
	rep, err = w.vadmin.Maintain(ctx, "prod")
	if err != nil || rep.GC.PacksDeleted != 0 || rep.RetentionExtended != 0 {
		t.Fatalf("second pass: %+v %v", rep.GC, err)
	}
}

func packKeys(objs []minio.ObjectInfo) map[string]bool {
	out := map[string]bool{}
	for _, o := range objs {
		if strings.Contains(o.Key, "/packs/") && !o.IsDeleteMarker {
			out[o.Key] = true
		}
	}
	return out
}

func randomData(n int, seed uint32) []byte {
	b := make([]byte, n)
	x := seed
	for i := range b {
		x = x*1664525 + 1013904223
		b[i] = byte(x >> 24)
	}
	return b
}

// Under governance, MinIO's root can delete only with the bypass header;
// bunker itself uses the bypass only for what its policy lets go.
func TestS3GovernanceBypass(t *testing.T) {
	ctx := context.Background()
	w := newS3World(t, true)
	if _, err := w.vadmin.CreateVault(ctx, api.VaultRequest{Name: "prod", Storage: "minio", Retention: "1h", BinRetention: "0",
		Lock: &api.LockRequest{Mode: "governance"}}); err != nil {
		t.Fatal(err)
	}
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "f.bin"), randomData(1<<20, 3), 0o644)
	p, _ := backupTo(t, w.host, "prod", "host1", src)
	prefix := w.vaultPrefix(t, "prod")
	var point minio.ObjectInfo
	for _, o := range w.versions(t, prefix) {
		if strings.Contains(o.Key, "/points/") {
			point = o
		}
	}
	if err := w.root.RemoveObject(ctx, w.bucket, point.Key, minio.RemoveObjectOptions{VersionID: point.VersionID}); err == nil {
		t.Fatal("root deleted a governance-locked point record without the bypass")
	}
	// A vault-admin without the bypass cannot delete the point; maintenance
	// leaves its objects alone.
	if _, err := w.vadmin.DeletePoint(ctx, "prod", p.ID.String()[:8]); !client.IsStatus(err, 409) {
		t.Fatalf("delete without the bypass: %v", err)
	}
	rep, err := w.vadmin.Maintain(ctx, "prod")
	if err != nil || rep.GC.PacksDeleted != 0 {
		t.Fatalf("maintenance deleted data of a retained point: %+v %v", rep.GC, err)
	}
	// With the bypass, the point goes; maintenance then removes its
	// objects from the storage, with the bypass header, since bunker's
	// policy let it go.
	boss := w.s.User(t, "boss")
	if _, err := w.s.Admin.Bind(ctx, api.BindingRequest{Principal: "boss", Role: "vault-admin", Vault: "prod", BypassGovernance: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := boss.DeletePoint(ctx, "prod", p.ID.String()[:8]); err != nil {
		t.Fatal(err)
	}
	rep, err = boss.Maintain(ctx, "prod")
	if err != nil || len(rep.Purged) != 1 || rep.GC.PacksDeleted == 0 {
		t.Fatalf("maintenance after the bypass delete: %+v %+v %v", rep, rep.GC, err)
	}
	for _, o := range w.versions(t, prefix) {
		if strings.Contains(o.Key, "/packs/") || strings.Contains(o.Key, "/points/") {
			t.Errorf("%s still stored", o.Key)
		}
	}
}

// backupErr is backupTo that reports a failure instead of failing the test.
func backupErr(t *testing.T, c *client.Client, vault, host, src string) error {
	t.Helper()
	ctx := context.Background()
	b, err := remote.StartBackup(ctx, c, vault, api.SessionRequest{Hostname: host, Paths: []string{src}})
	if err != nil {
		return err
	}
	defer b.Close(ctx)
	a, err := archiver.New(b, archiver.Options{Parent: b.Parent(), Hostname: host})
	if err != nil {
		return err
	}
	_, _, err = a.Backup(ctx, []string{src})
	return err
}

// waitForPack waits until the bucket holds more packs under prefix than n.
func (w *s3World) waitForPack(t *testing.T, prefix string, n int) {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); len(packKeys(w.versions(t, prefix))) <= n; {
		if time.Now().After(deadline) {
			t.Fatal("no new pack in 60s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// MinIO going away in the middle of a backup: a short outage is ridden out
// by the retries; a long one fails the backup cleanly, with no point, and
// the next backup re-uses what the failed one stored.
func TestS3OutageDuringBackup(t *testing.T) {
	ctx := context.Background()
	m := miniotest.New(t)
	m.MakeBucket(t, "vaults", true)
	cfg := s3.Config{Endpoint: m.Endpoint, Bucket: "vaults", DisableTLS: true, AccessKeyID: miniotest.RootUser, SecretAccessKey: miniotest.RootPassword,
		// About 3.5 s of retries: more than MinIO takes to restart on a
		// busy machine, little enough for the long outage to fail soon.
		Lookup: s3.LookupPath, Region: "us-east-1", MaxRetries: 6, RetryDelay: 100 * time.Millisecond, RetryMaxDelay: time.Second}
	s := servertest.Start(t, servertest.Options{Storages: map[string]s3.Config{"minio": cfg}, RealTime: true})
	w := &s3World{world: &world{s: s}, minio: m, root: m.Client(t), bucket: "vaults"}
	w.vadmin = s.User(t, "vadmin", "vault-admin")
	w.host = s.Service(t, "host1", "backup-operator@prod")
	w.ops = s.User(t, "ops", "restore-operator@prod")
	if _, err := w.vadmin.CreateVault(ctx, api.VaultRequest{Name: "prod", Storage: "minio"}); err != nil {
		t.Fatal(err)
	}
	prefix := w.vaultPrefix(t, "prod")

	// A short outage.
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "a.bin"), randomData(40<<20, 7), 0o644)
	done := make(chan error, 1)
	go func() { done <- backupErr(t, w.host, "prod", "host1", src) }()
	w.waitForPack(t, prefix, 0)
	m.Stop()
	time.Sleep(300 * time.Millisecond)
	m.Start()
	if err := <-done; err != nil {
		t.Fatalf("backup through a short outage: %v", err)
	}
	restoreFrom(t, w.ops, "prod", "latest")

	// A long one.
	os.WriteFile(filepath.Join(src, "b.bin"), randomData(40<<20, 8), 0o644)
	packsBefore := len(packKeys(w.versions(t, prefix)))
	go func() { done <- backupErr(t, w.host, "prod", "host1", src) }()
	w.waitForPack(t, prefix, packsBefore)
	m.Kill()
	err := <-done
	if err == nil || !strings.Contains(err.Error(), "storage") {
		t.Fatalf("backup through a long outage: %v, want a clear storage failure", err)
	}
	m.Start()
	ps, err := w.ops.Points(ctx, "prod", client.PointFilter{})
	if err != nil || len(ps) != 1 {
		t.Fatalf("points after the failed backup: %d %v", len(ps), err)
	}
	stored := len(packKeys(w.versions(t, prefix)))
	if err := backupErr(t, w.host, "prod", "host1", src); err != nil {
		t.Fatalf("backup after MinIO came back: %v", err)
	}
	added := len(packKeys(w.versions(t, prefix))) - stored
	if added > 2 { // 40 MiB are three packs; at least one was stored before the kill
		t.Fatalf("the backup after the outage stored %d more packs: what the failed one stored was not re-used", added)
	}
	restoreFrom(t, w.ops, "prod", "latest")
}

// A legal hold reaches the storage: the held point's objects carry an S3
// legal hold that even MinIO's root cannot get past, after the retention
// has passed; releasing the hold lets maintenance purge and collect them.
func TestS3LegalHolds(t *testing.T) {
	ctx := context.Background()
	w := newS3World(t, true)
	if _, err := w.vadmin.CreateVault(ctx, api.VaultRequest{Name: "prod", Storage: "minio", Retention: "2s", BinRetention: "0",
		Lock: &api.LockRequest{Mode: "compliance", ChangeableFor: "72h"}}); err != nil {
		t.Fatal(err)
	}
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "evidence.bin"), randomData(2<<20, 9), 0o644)
	p, _ := backupTo(t, w.host, "prod", "host1", src)
	hold, err := w.vadmin.Hold(ctx, "prod", api.HoldRequest{Point: p.ID.String()[:8], Reason: "case 2026-41"})
	if err != nil {
		t.Fatal(err)
	}
	prefix := w.vaultPrefix(t, "prod")
	objs := w.versions(t, prefix)
	held := 0
	for _, o := range objs {
		if !strings.Contains(o.Key, "/packs/") && !strings.Contains(o.Key, "/points/") {
			continue
		}
		st, err := w.root.GetObjectLegalHold(ctx, w.bucket, o.Key, minio.GetObjectLegalHoldOptions{VersionID: o.VersionID})
		if err != nil || st == nil || *st != minio.LegalHoldEnabled {
			t.Fatalf("%s: legal hold %v %v", o.Key, st, err)
		}
		held++
	}
	if held < 2 {
		t.Fatalf("legal holds on %d objects", held)
	}
	time.Sleep(4 * time.Second) // past the retention and its slack
	w.s.Clock.Advance(4 * time.Second)
	for _, o := range objs {
		if strings.Contains(o.Key, "/packs/") {
			if err := w.root.RemoveObject(ctx, w.bucket, o.Key, minio.RemoveObjectOptions{VersionID: o.VersionID, GovernanceBypass: true}); err == nil {
				t.Fatalf("root deleted held %s", o.Key)
			}
		}
	}
	rep, err := w.vadmin.Maintain(ctx, "prod")
	if err != nil || len(rep.Purged) != 0 || rep.GC.PacksDeleted != 0 {
		t.Fatalf("maintenance with the hold on: %+v %+v %v", rep, rep.GC, err)
	}
	if _, err := w.vadmin.Release(ctx, "prod", hold.ID); err != nil {
		t.Fatal(err)
	}
	rep, err = w.vadmin.Maintain(ctx, "prod")
	if err != nil || len(rep.Expired) != 1 || len(rep.Purged) != 1 || rep.GC.PacksDeleted == 0 {
		t.Fatalf("maintenance after the release: %+v %+v %v", rep, rep.GC, err)
	}
}
