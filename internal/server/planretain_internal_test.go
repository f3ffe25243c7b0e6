package server

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bunkerhq/bunker/internal/api"
	"github.com/bunkerhq/bunker/internal/plan"
	"github.com/bunkerhq/bunker/internal/policy"
	"github.com/bunkerhq/bunker/internal/repo"
	"github.com/bunkerhq/bunker/internal/storage/local"
	"github.com/bunkerhq/bunker/internal/store"
)

// decidePlans: the rules count verified points per source only; a point
// one plan keeps survives another plan's rules; expire_after drops even
// unverified points; copies and other sources are no plan's; a stdin
// source is the one file its point holds.
func TestDecidePlans(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	vp := &vaultPoints{verified: map[string]bool{}}
	add := func(id, host string, paths []string, age time.Duration, verified bool) {
		p := store.Point{ID: fmt.Sprintf("%-8s", id), Hostname: host, Paths: paths, Time: now.Add(-age)}
		vp.points = append(vp.points, p)
		vp.verified[p.ID] = verified
	}
	www := []string{"/srv/www"}
	add("w1", "web1", www, 50*time.Hour, true)
	add("w2", "web1", www, 40*time.Hour, true)
	add("w3", "web1", www, 30*time.Hour, true)
	add("flood1", "web1", www, 2*time.Hour, false)
	add("flood2", "web1", www, time.Hour, false)
	add("other", "web1", []string{"/etc"}, 60*time.Hour, true)
	add("dump1", "db1", []string{"/shop.dump"}, 100*24*time.Hour, false)
	add("dump2", "db1", []string{"/shop.dump"}, time.Hour, true)
	vp.points = append(vp.points, store.Point{ID: "copy    ", Hostname: "web1", Paths: www, Time: now.Add(-90 * time.Hour), Origin: &repo.Origin{Vault: "x", Point: "y"}})
	vp.verified["copy    "] = true

	plans := []plan.Plan{
		{Name: "a", Sources: []plan.Source{{Host: "web1", Paths: www}}, Retention: plan.Retention{Keep: policy.Rules{Last: 1}}},
		{Name: "b", Sources: []plan.Source{{Host: "web1", Paths: www}}, Retention: plan.Retention{Keep: policy.Rules{Within: 45 * time.Hour}}},
		{Name: "db", Sources: []plan.Source{{Host: "db1", Stdin: &plan.Stdin{Command: []string{"/bin/pg_dump"}, Name: "shop.dump"}}},
			Lifecycle: plan.Lifecycle{ExpireAfter: 30 * 24 * time.Hour}},
	}
	drops, reports := decidePlans(retainers(plans, plans, "prod"), vp, now)
	var got []string
	for id, d := range drops {
		got = append(got, reports[d.report].Plan+":"+d.reason+":"+strings.TrimSpace(id))
	}
	slices.Sort(got)
	// a drops w1 and w2, but b keeps w2 (within 45h); the flood, the
	// other source and the copy are nobody's to drop.
	if want := []string{"a:retention:w1", "db:expire_after:dump1"}; !slices.Equal(got, want) {
		t.Fatalf("drops %v, want %v", got, want)
	}
	if reports[0].Unverified != 2 || reports[1].Unverified != 2 || reports[2].Unverified != 1 {
		t.Errorf("unverified counts %d %d %d", reports[0].Unverified, reports[1].Unverified, reports[2].Unverified)
	}
}

// A copy action's retention applies in its vault to the copies of the
// plan's points made on this server, per source, counting each copy at
// its original's time: copies made in one go keep the days of the runs
// they copy. Copies of other vaults, of other sites, the vault's own
// points and unverified copies are not its to drop.
func TestDecideCopyRetention(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	www := []string{"/srv/www"}
	vp := &vaultPoints{verified: map[string]bool{}}
	add := func(id string, o *repo.Origin, verified bool) {
		p := store.Point{ID: fmt.Sprintf("%-8s", id), Hostname: "web1", Paths: www, Time: now.Add(-time.Minute), Origin: o}
		vp.points = append(vp.points, p)
		vp.verified[p.ID] = verified
	}
	for i, age := range []int{3, 2, 1} {
		add(fmt.Sprintf("c%d", i+1), &repo.Origin{Vault: "prod", Point: fmt.Sprint(i), Time: now.Add(-time.Duration(age) * 24 * time.Hour)}, true)
	}
	add("c4", &repo.Origin{Vault: "prod", Point: "4", Time: now.Add(-5 * 24 * time.Hour)}, false)
	add("other", &repo.Origin{Vault: "test", Point: "5", Time: now.Add(-9 * 24 * time.Hour)}, true)
	add("pulled", &repo.Origin{Site: "site-a", Vault: "prod", Point: "6", Time: now.Add(-9 * 24 * time.Hour)}, true)
	add("own", nil, true)
	plans := []plan.Plan{
		{Name: "web", Vault: "prod", Sources: []plan.Source{{Host: "web1", Paths: www}},
			Retention: plan.Retention{Keep: policy.Rules{Last: 10}},
			Copies:    []plan.Copy{{To: "central", Retention: plan.Retention{Keep: policy.Rules{Daily: 2}}}, {To: "site-b:central"}}},
		{Name: "mirror", Vault: "prod", Sources: []plan.Source{{Host: "web1", Paths: www}}, Copies: []plan.Copy{{To: "central"}}},
	}
	rs := retainers(nil, plans, "central")
	if len(rs) != 1 || !rs[0].copies || rs[0].plan.Name != "web" {
		t.Fatalf("retainers %+v, want web's copy action only", rs)
	}
	drops, reports := decidePlans(rs, vp, now)
	var got []string
	for id, d := range drops {
		got = append(got, reports[d.report].Plan+":"+d.reason+":"+strings.TrimSpace(id))
	}
	if want := []string{"web:retention:c1"}; !slices.Equal(got, want) {
		t.Fatalf("drops %v, want %v", got, want)
	}
	if reports[0].CopiesFrom != "prod" || reports[0].Unverified != 1 {
		t.Errorf("report %+v", reports[0])
	}
}

// On storage without tiers (local disk) a plan's cold tier is a note,
// once per plan, and no error; nothing is asked of the storage.
func TestColdPlansWithoutTiers(t *testing.T) {
	be, err := local.Create(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	plans := []plan.Plan{
		{Name: "cold", Lifecycle: plan.Lifecycle{ColdAfter: time.Hour, StorageClass: "STANDARD_IA"}},
		{Name: "warm"},
	}
	rep := &api.MaintenanceReport{Plans: []api.PlanMaintenance{{Plan: "cold"}, {Plan: "warm"}}}
	s := &Server{}
	if err := s.coldPlans(context.Background(), &store.Vault{Name: "prod"}, &openVault{be: be}, plans, time.Now(), rep); err != nil {
		t.Fatal(err)
	}
	if rep.Plans[0].Note != "no cold tier on this storage" || rep.Plans[1].Note != "" || len(rep.Plans[0].ColdFailed) != 0 {
		t.Fatalf("report %+v", rep.Plans)
	}
}
