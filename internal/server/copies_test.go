package server_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bunkerhq/bunker/internal/api"
	"github.com/bunkerhq/bunker/internal/client"
	"github.com/bunkerhq/bunker/internal/server/servertest"
	"github.com/bunkerhq/bunker/internal/testfs"
)

// copyWorld is a server with a workload vault prod and a compliance-locked
// vault central, with a point of testfs.Build in prod and a copier that
// reads prod and adds points to central.
type copyWorld struct {
	s      *servertest.Server
	vadmin *client.Client
	src    string
	point  string
	copier interface {
		CopyPoint(ctx context.Context, vault, ref, to string) (api.CopyReport, error)
	}
}

func newCopyWorld(t *testing.T) *copyWorld {
	t.Helper()
	ctx := context.Background()
	s := servertest.Start(t, servertest.Options{})
	vadmin := s.User(t, "vadmin", "vault-admin")
	if _, err := vadmin.CreateVault(ctx, api.VaultRequest{Name: "prod", Retention: "7d"}); err != nil {
		t.Fatal(err)
	}
	lock := &api.LockRequest{Mode: "compliance", MinRetention: "30d", MaxRetention: "365d", ChangeableFor: "72h"}
	if _, err := vadmin.CreateVault(ctx, api.VaultRequest{Name: "central", Retention: "90d", Lock: lock}); err != nil {
		t.Fatal(err)
	}
	host := s.Service(t, "host1", "backup-operator@prod")
	w := &copyWorld{s: s, vadmin: vadmin, src: t.TempDir()}
	testfs.Build(t, w.src)
	p, _ := backupTo(t, host, "prod", "host1", w.src)
	w.point = p.ID.String()
	w.copier = s.Service(t, "copier", "restore-operator@prod", "backup-operator@central")
	return w
}

func TestCopyIntoACentralVaultRestoresAndCopiesOnlyWhatIsNew(t *testing.T) {
	ctx := context.Background()
	w := newCopyWorld(t)
	rep, err := w.copier.CopyPoint(ctx, "prod", w.point[:8], "central")
	if err != nil {
		t.Fatal(err)
	}
	cp := rep.Point
	if rep.Existing || rep.Job == 0 || cp.Vault != "central" || cp.ID == w.point {
		t.Fatalf("copy report %+v", rep)
	}
	if o := cp.Origin; o == nil || o.Vault != "prod" || o.Point != w.point || o.Site != "" {
		t.Fatalf("copy's origin %+v", cp.Origin)
	}
	// The copy is the central vault's point: its time is the server's, its
	// expiry the central policy's, its lock compliance.
	if want := cp.Time.Add(90 * 24 * time.Hour); !cp.Expires.Equal(want) || cp.Lock != "compliance" || !cp.Retained {
		t.Fatalf("copy expires %v (want %v), lock %q, retained %v", cp.Expires, want, cp.Lock, cp.Retained)
	}
	if rep.Stats.BlobsRead == 0 || rep.Stats.BytesRead == 0 {
		t.Fatalf("stats %+v", rep.Stats)
	}
	// The copy is a job, with what it read.
	job, err := w.vadmin.Job(ctx, rep.Job)
	if err != nil {
		t.Fatal(err)
	}
	if job.Kind != "copy" || job.State != "succeeded" || job.Bytes != rep.Stats.BytesRead || job.Detail["point"] != cp.ID {
		t.Fatalf("copy job %+v", job.Job)
	}

	// It restores byte for byte from the central vault alone.
	ops := w.s.User(t, "central-ops", "restore-operator@central")
	target := restoreFrom(t, ops, "central", cp.ID[:8])
	testfs.Compare(t, w.src, filepath.Join(target, w.src))

	// Asked again (an event delivered twice), it makes no second point.
	again, err := w.copier.CopyPoint(ctx, "prod", w.point[:8], "central")
	if err != nil {
		t.Fatal(err)
	}
	if !again.Existing || again.Point.ID != cp.ID {
		t.Fatalf("a second copy of the same point: %+v", again)
	}

	// An incremental point: only its new chunks are read.
	if err := os.WriteFile(filepath.Join(w.src, "sub", "deeper", "new.txt"), []byte("written after the first copy\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	host := w.s.Service(t, "host1b", "backup-operator@prod")
	p2, _ := backupTo(t, host, "prod", "host1", w.src)
	rep2, err := w.copier.CopyPoint(ctx, "prod", p2.ID.String()[:8], "central")
	if err != nil {
		t.Fatal(err)
	}
	if rep2.Stats.BlobsRead != 1 || rep2.Stats.TreesSkipped == 0 || rep2.Stats.BytesRead > 1024 {
		t.Fatalf("incremental copy read %+v; want the one new chunk and unchanged directories skipped", rep2.Stats)
	}
	target = restoreFrom(t, ops, "central", rep2.Point.ID[:8])
	testfs.Compare(t, w.src, filepath.Join(target, w.src))

	// The event stream announces both copies.
	page, err := w.s.Admin.Events(ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var done []string
	for _, e := range page.Events {
		if e.Kind == "copy.completed" {
			done = append(done, e.Data["to_point"].(string))
		}
	}
	if len(done) != 2 || done[0] != cp.ID || done[1] != rep2.Point.ID {
		t.Fatalf("copy.completed events name %v, want %s and %s", done, cp.ID, rep2.Point.ID)
	}
}

func TestCopyRefusals(t *testing.T) {
	ctx := context.Background()
	w := newCopyWorld(t)
	ref := w.point[:8]
	host := w.s.Service(t, "host2", "backup-operator@prod")
	reader := w.s.User(t, "reader", "restore-operator@prod")
	for _, tc := range []struct {
		name   string
		do     func() error
		status int
		says   string
	}{
		{"a backup-operator of the workload vault copies out of it", func() error {
			_, err := host.CopyPoint(ctx, "prod", ref, "central")
			return err
		}, 403, "data.read"},
		{"a restore-operator copies into a vault it cannot add to", func() error {
			_, err := reader.CopyPoint(ctx, "prod", ref, "central")
			return err
		}, 403, "point.create"},
		{"a copy into the point's own vault", func() error {
			_, err := w.copier.CopyPoint(ctx, "prod", ref, "prod")
			return err
		}, 400, "another vault"},
		{"a copy into no vault", func() error {
			_, err := w.copier.CopyPoint(ctx, "prod", ref, "")
			return err
		}, 400, "to_vault"},
		{"a copy of an unknown point", func() error {
			_, err := w.copier.CopyPoint(ctx, "prod", "beef", "central")
			return err
		}, 404, "beef"},
	} {
		err := tc.do()
		code, msg := status(err)
		if code != tc.status || !strings.Contains(msg, tc.says) {
			t.Errorf("%s: %d %q, want %d naming %q", tc.name, code, msg, tc.status, tc.says)
		}
	}
	ps, err := w.vadmin.Points(ctx, "central", client.PointFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 0 {
		t.Fatalf("refused copies left %d points in central", len(ps))
	}
}
