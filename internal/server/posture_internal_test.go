package server

import (
	"strings"
	"testing"
	"time"

	"github.com/bunkerhq/bunker/internal/repo"
	"github.com/bunkerhq/bunker/internal/retention"
	"github.com/bunkerhq/bunker/internal/store"
)

func TestPostureCountsCopiesMediaSitesAndLocks(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	compliance := retention.Policy{Lock: retention.Lock{Mode: retention.Compliance}}
	vs := []store.Vault{
		{Name: "central", Backend: "local", Policy: compliance},
		{Name: "cloud", Backend: "s3"},
		{Name: "scratch", Backend: "local"},
	}
	origin := &repo.Origin{Site: "site-a", Vault: "prod", Point: "p1", Time: now.Add(-3 * time.Hour)}
	web := func(vault, id string, at time.Time, o *repo.Origin) store.Point {
		return store.Point{Vault: vault, ID: id, Time: at, Hostname: "web1", Paths: []string{"/srv"}, Origin: o}
	}
	points := map[string][]store.Point{
		"central": {web("central", "c1", now.Add(-2*time.Hour), origin)},
		"cloud":   {web("cloud", "s1", now.Add(-time.Hour), &repo.Origin{Vault: "central", Point: "c1", Time: now.Add(-3 * time.Hour)})},
		"scratch": {{Vault: "scratch", ID: "x1", Time: now.Add(-30 * time.Hour), Hostname: "db1", Paths: []string{"/var/lib/pg"}}},
	}
	rpos := map[string]time.Duration{sourceKey("db1", []string{"/var/lib/pg"}): 24 * time.Hour}
	got := posture(now, vs, points, rpos)
	if len(got.Sources) != 2 {
		t.Fatalf("sources: %+v", got.Sources)
	}
	db, web1 := got.Sources[0], got.Sources[1]

	// web1: the original on site-a, a compliance copy here on disk, a copy
	// of that on object storage: 3-2-1-1.
	if !web1.Meets || len(web1.Missing) != 0 || len(web1.Copies) != 3 {
		t.Fatalf("web1: %+v", web1)
	}
	for _, l := range web1.Copies {
		if l.Newest != origin.Time {
			t.Errorf("%s/%s: newest data %v, want the original's time %v (copies hold the original's data)", l.Site, l.Vault, l.Newest, origin.Time)
		}
	}
	if c := web1.Copies[0]; c.Site != "here" || c.Vault != "central" || !c.Immutable || c.Media != "disk" || c.Points != 1 {
		t.Errorf("central copy: %+v", c)
	}
	if c := web1.Copies[2]; c.Site != "site-a" || c.Media != "unknown" || c.Immutable || c.Points != 0 {
		t.Errorf("the original: %+v", c)
	}

	// db1: one copy, on its home site, on disk, mutable, and late for
	// its plan's RPO of a day.
	if db.Meets || len(db.Missing) != 4 || db.RPO != "1d" || !db.Copies[0].Late {
		t.Fatalf("db1: %+v", db)
	}
	for i, want := range []string{"3 copies", "2 media", "off-site", "immutable"} {
		if !strings.Contains(db.Missing[i], want) {
			t.Errorf("db1 missing[%d] = %q, want it to name %q", i, db.Missing[i], want)
		}
	}
}
