package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bunkerhq/bunker/internal/store"
)

// TestJobQueries stores jobs with progress and bytes and selects them by
// every filter, by cursor and by id.
func TestJobQueries(t *testing.T) {
	ctx := context.Background()
	db, _ := open(t)
	mk := func(kind, vault string, state store.JobState, at time.Duration) *store.Job {
		return &store.Job{Kind: kind, Vault: vault, State: state, Started: t0.Add(at), By: "ann"}
	}
	jobs := []*store.Job{
		mk("backup", "prod", store.JobSucceded, 0),
		mk("verify", "prod", store.JobRunning, time.Hour),
		mk("backup", "dev", store.JobFailed, 2*time.Hour),
		mk("scan", "dev", store.JobSucceded, 3*time.Hour),
	}
	update(t, db, func(tx store.Tx) error {
		for _, j := range jobs {
			if err := tx.CreateJob(ctx, j); err != nil {
				return err
			}
		}
		jobs[1].Progress = store.JobProgress{Phase: "packs", ItemsDone: 3, ItemsTotal: 10, BytesDone: 300}
		jobs[1].Bytes = 300
		return tx.UpdateJob(ctx, jobs[1])
	})
	ids := func(js []store.Job) []int64 {
		var out []int64
		for _, j := range js {
			out = append(out, j.ID)
		}
		return out
	}
	cases := []struct {
		name string
		f    store.JobFilter
		want []int64
	}{
		{"all", store.JobFilter{}, []int64{jobs[3].ID, jobs[2].ID, jobs[1].ID, jobs[0].ID}},
		{"kind", store.JobFilter{Kind: "backup"}, []int64{jobs[2].ID, jobs[0].ID}},
		{"state", store.JobFilter{State: store.JobSucceded}, []int64{jobs[3].ID, jobs[0].ID}},
		{"vault", store.JobFilter{Vault: "prod"}, []int64{jobs[1].ID, jobs[0].ID}},
		{"since", store.JobFilter{Since: t0.Add(2 * time.Hour)}, []int64{jobs[3].ID, jobs[2].ID}},
		{"before", store.JobFilter{Before: t0.Add(time.Hour)}, []int64{jobs[0].ID}},
		{"limit", store.JobFilter{Limit: 1}, []int64{jobs[3].ID}},
		{"after", store.JobFilter{After: jobs[2].ID, Limit: 1}, []int64{jobs[1].ID}},
		{"combined", store.JobFilter{Kind: "backup", Vault: "dev", State: store.JobFailed}, []int64{jobs[2].ID}},
	}
	err := db.View(ctx, func(tx store.Tx) error {
		for _, c := range cases {
			got, err := tx.QueryJobs(ctx, c.f)
			if err != nil {
				return err
			}
			if !slices.Equal(ids(got), c.want) {
				t.Errorf("%s: got %v, want %v", c.name, ids(got), c.want)
			}
		}
		j, err := tx.Job(ctx, jobs[1].ID)
		if err != nil {
			return err
		}
		if j.Progress != jobs[1].Progress || j.Bytes != 300 || j.Kind != "verify" || !j.Started.Equal(jobs[1].Started) {
			t.Errorf("job by id: %+v", j)
		}
		if _, err := tx.Job(ctx, 9999); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("missing job: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestJobProgressAddedToOldDatabases opens a database made before jobs
// had progress and bytes: its jobs read back with none, and new ones
// keep theirs.
func TestJobProgressAddedToOldDatabases(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "bunker.db")
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	n := slices.IndexFunc(sqliteSchema, func(s string) bool { return strings.Contains(s, "jobs ADD COLUMN progress") })
	if n < 0 {
		t.Fatal("no progress column in the schema")
	}
	for _, stmt := range sqliteSchema[:n] {
		if _, err := raw.Exec(stmt); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := raw.Exec(`INSERT INTO meta (key, value) VALUES ('schema_version', '1'), ('schema_statements', ?);
		INSERT INTO jobs (kind, vault, state, started, by) VALUES ('verify', 'prod', 'succeeded', 1, 'ann')`, strconv.Itoa(n)); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	db, err := OpenSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	update(t, db, func(tx store.Tx) error {
		old, err := tx.QueryJobs(ctx, store.JobFilter{Kind: "verify"})
		if err != nil || len(old) != 1 || old[0].Bytes != 0 || old[0].Progress != (store.JobProgress{}) {
			t.Errorf("old job: %+v %v", old, err)
		}
		return tx.CreateJob(ctx, &store.Job{Kind: "backup", State: store.JobSucceded, Started: t0, By: "ann", Bytes: 42})
	})
	err = db.View(ctx, func(tx store.Tx) error {
		js, err := tx.QueryJobs(ctx, store.JobFilter{Kind: "backup"})
		if err != nil || len(js) != 1 || js[0].Bytes != 42 {
			t.Errorf("new job: %+v %v", js, err)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}
