package server_test

import (
	"context"
	"testing"

	"github.com/bunkerhq/bunker/internal/api"
	"github.com/bunkerhq/bunker/internal/client"
	"github.com/bunkerhq/bunker/internal/server/servertest"
	"github.com/bunkerhq/bunker/internal/store"
)

// TestJobEndpoints lists jobs by filter and cursor, shows one, refuses bad
// parameters naming them, and hides jobs of vaults the caller may not see.
func TestJobEndpoints(t *testing.T) {
	ctx := context.Background()
	s := servertest.Start(t, servertest.Options{})
	vadmin := s.User(t, "vadmin", "vault-admin")
	devAdmin := s.User(t, "devadmin", "vault-admin@dev")
	ops := s.User(t, "ops", "restore-operator@prod")
	for _, name := range []string{"prod", "dev"} {
		if _, err := vadmin.CreateVault(ctx, api.VaultRequest{Name: name, Retention: "30d"}); err != nil {
			t.Fatal(err)
		}
	}
	var prodJob int64
	for _, name := range []string{"prod", "dev", "prod"} {
		rep, err := vadmin.Verify(ctx, name, api.VerifyRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if name == "prod" {
			prodJob = rep.Job
		}
	}
	page, err := vadmin.QueryJobs(ctx, client.JobQuery{Kind: "verify", Vault: "prod", State: "succeeded"})
	if err != nil || len(page.Jobs) != 2 || page.Jobs[0].ID != prodJob || page.Next != 0 {
		t.Fatalf("prod verify jobs: %+v %v", page, err)
	}
	for _, j := range page.Jobs {
		if j.Finished.IsZero() || j.DurationMS < 0 || j.Progress.Phase == "" {
			t.Errorf("job %+v: no finish, duration or progress", j)
		}
	}
	page, err = vadmin.QueryJobs(ctx, client.JobQuery{Kind: "verify", Limit: 2})
	if err != nil || len(page.Jobs) != 2 || page.Next == 0 {
		t.Fatalf("first page: %+v %v", page, err)
	}
	rest, err := vadmin.QueryJobs(ctx, client.JobQuery{Kind: "verify", Limit: 2, After: page.Next})
	if err != nil || len(rest.Jobs) != 1 || rest.Jobs[0].ID >= page.Jobs[1].ID {
		t.Fatalf("second page: %+v %v", rest, err)
	}
	if page, err := vadmin.QueryJobs(ctx, client.JobQuery{Since: "2000-01-01T00:00:00Z", Before: "1h", Kind: "verify"}); err != nil || len(page.Jobs) != 0 {
		t.Errorf("jobs started over an hour ago: %+v %v", page, err)
	}
	for _, q := range []client.JobQuery{{State: "done"}, {Since: "yesterday"}, {Before: "x"}} {
		if _, err := vadmin.QueryJobs(ctx, q); !client.IsStatus(err, 400) {
			t.Errorf("%+v: %v, want 400", q, err)
		}
	}
	j, err := vadmin.Job(ctx, prodJob)
	if err != nil || j.ID != prodJob || j.Kind != "verify" || j.Vault != "prod" || j.State != store.JobSucceded {
		t.Fatalf("show job: %+v %v", j, err)
	}
	if _, err := vadmin.Job(ctx, 99999); !client.IsStatus(err, 404) {
		t.Errorf("missing job: %v, want 404", err)
	}

	// A vault-admin of dev sees dev's jobs only.
	page, err = devAdmin.QueryJobs(ctx, client.JobQuery{Kind: "verify"})
	if err != nil || len(page.Jobs) != 1 || page.Jobs[0].Vault != "dev" {
		t.Errorf("dev admin's jobs: %+v %v", page, err)
	}
	if _, err := devAdmin.Job(ctx, prodJob); !client.IsStatus(err, 404) {
		t.Errorf("dev admin shows a prod job: %v, want 404", err)
	}
	if _, err := ops.Job(ctx, prodJob); !client.IsStatus(err, 403) {
		t.Errorf("restore-operator shows a job: %v, want 403", err)
	}
}

// TestBackupJobs checks that a backup through the server is a job: running
// while its session is open, succeeded with the point and the bytes
// uploaded at commit, failed when the session is abandoned.
func TestBackupJobs(t *testing.T) {
	ctx := context.Background()
	s := servertest.Start(t, servertest.Options{})
	vadmin := s.User(t, "vadmin", "vault-admin")
	host := s.Service(t, "host1", "backup-operator@prod")
	if _, err := vadmin.CreateVault(ctx, api.VaultRequest{Name: "prod", Retention: "30d"}); err != nil {
		t.Fatal(err)
	}
	p, _ := backupTo(t, host, "prod", "host1", randomTree(t, "one.bin", 1<<20))
	page, err := vadmin.QueryJobs(ctx, client.JobQuery{Kind: "backup"})
	if err != nil || len(page.Jobs) != 1 {
		t.Fatalf("backup jobs: %+v %v", page, err)
	}
	j := page.Jobs[0]
	if j.State != store.JobSucceded || j.Vault != "prod" || j.By != "host1" || j.Detail["point"] != p.ID.String() || j.Bytes < 1<<20 || j.Finished.IsZero() {
		t.Fatalf("committed backup's job: %+v", j)
	}

	sess, err := host.StartBackup(ctx, "prod", api.SessionRequest{Hostname: "host1", Paths: []string{"/data"}})
	if err != nil {
		t.Fatal(err)
	}
	page, err = vadmin.QueryJobs(ctx, client.JobQuery{Kind: "backup", State: "running"})
	if err != nil || len(page.Jobs) != 1 || page.Jobs[0].Detail["session"] != sess.Session {
		t.Fatalf("open session's job: %+v %v", page, err)
	}
	running := page.Jobs[0].ID
	if err := host.EndBackup(ctx, sess.Session); err != nil {
		t.Fatal(err)
	}
	got, err := vadmin.Job(ctx, running)
	if err != nil || got.State != store.JobFailed || got.Error == "" || got.Finished.IsZero() {
		t.Fatalf("abandoned backup's job: %+v %v", got, err)
	}
}
