package server_test

import (
	"context"
	"io"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bunkerhq/bunker/internal/api"
	"github.com/bunkerhq/bunker/internal/client"
	"github.com/bunkerhq/bunker/internal/server/servertest"
	"github.com/bunkerhq/bunker/internal/store"
	"github.com/bunkerhq/bunker/internal/testfs"
)

// sites is a workload server with vault prod and a backup host, and a
// central server with a compliance-locked vault central.
type sites struct {
	work, central       *servertest.Server
	host                *client.Client // backup-operator@prod at the workload site
	replToken           string         // restore-operator@prod at the workload site
	centralAdmin        *client.Client // vault-admin at the central site
	src                 string
	centralDir, keyFile string
}

func newSites(t *testing.T, centralOpts servertest.Options) *sites {
	t.Helper()
	return newSitesWith(t, servertest.Options{}, centralOpts)
}

func newSitesWith(t *testing.T, workOpts, centralOpts servertest.Options) *sites {
	t.Helper()
	ctx := context.Background()
	st := &sites{work: servertest.Start(t, workOpts)}
	wadmin := st.work.User(t, "wadmin", "vault-admin")
	if _, err := wadmin.CreateVault(ctx, api.VaultRequest{Name: "prod", Retention: "7d"}); err != nil {
		t.Fatal(err)
	}
	st.host = st.work.Service(t, "host1", "backup-operator@prod")
	st.replToken = st.work.Service(t, "central-puller", "restore-operator@prod").Token()
	st.central = servertest.Start(t, centralOpts)
	st.centralDir, st.keyFile = st.central.DataDir, st.central.KeyFile
	st.centralAdmin = st.central.User(t, "cadmin", "vault-admin")
	lock := &api.LockRequest{Mode: "compliance", MinRetention: "30d", MaxRetention: "365d", ChangeableFor: "72h"}
	if _, err := st.centralAdmin.CreateVault(ctx, api.VaultRequest{Name: "central", Retention: "90d", Lock: lock}); err != nil {
		t.Fatal(err)
	}
	st.src = t.TempDir()
	testfs.Build(t, st.src)
	return st
}

func (st *sites) register(t *testing.T, c *client.Client, u string) {
	t.Helper()
	_, err := c.PutRemote(context.Background(), "workload", api.RemoteRequest{URL: u, Fingerprint: st.work.Fingerprint,
		Token: st.replToken, Follow: []store.Follow{{Vault: "prod", ToVault: "central"}}})
	if err != nil {
		t.Fatal(err)
	}
}

func TestPullFromAWorkloadSite(t *testing.T) {
	ctx := context.Background()
	st := newSites(t, servertest.Options{})
	st.register(t, st.centralAdmin, st.work.URL)
	p1, _ := backupTo(t, st.host, "prod", "host1", st.src)

	rep, err := st.centralAdmin.SyncRemote(ctx, "workload")
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Errors) != 0 || len(rep.Copies) != 1 {
		t.Fatalf("sync: %+v", rep)
	}
	cp := rep.Copies[0].Point
	if o := cp.Origin; o == nil || o.Site != "workload" || o.Vault != "prod" || o.Point != p1.ID.String() {
		t.Fatalf("the copy's origin: %+v", cp.Origin)
	}
	if cp.Lock != "compliance" || !cp.Expires.Equal(cp.Time.Add(90*24*time.Hour)) {
		t.Fatalf("the copy is not the central vault's: lock %q, expires %v", cp.Lock, cp.Expires)
	}
	ops := st.central.User(t, "cops", "restore-operator@central")
	target := restoreFrom(t, ops, "central", cp.ID[:8])
	testfs.Compare(t, st.src, filepath.Join(target, st.src))

	// Nothing new: nothing copied. A new point: only its new chunks.
	if rep, err = st.centralAdmin.SyncRemote(ctx, "workload"); err != nil || len(rep.Copies) != 0 || len(rep.Errors) != 0 {
		t.Fatalf("sync with nothing new: %+v %v", rep, err)
	}
	if err := os.WriteFile(filepath.Join(st.src, "later.txt"), []byte("after the first pull\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	backupTo(t, st.host, "prod", "host1", st.src)
	if rep, err = st.centralAdmin.SyncRemote(ctx, "workload"); err != nil || len(rep.Copies) != 1 {
		t.Fatalf("sync of a new point: %+v %v", rep, err)
	}
	if s := rep.Copies[0].Stats; s.BlobsRead != 1 || s.TreesSkipped == 0 {
		t.Fatalf("the incremental pull read %+v; want its one new chunk", s)
	}

	// The central site's posture: the original on the workload site and
	// the compliance-locked copy here; a third copy and a second medium
	// are missing.
	pos, err := st.centralAdmin.Posture(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(pos.Sources) != 1 || len(pos.Sources[0].Copies) != 2 || pos.Sources[0].Meets || len(pos.Sources[0].Missing) != 2 ||
		!strings.HasPrefix(pos.Sources[0].Missing[0], "3 copies") || !strings.HasPrefix(pos.Sources[0].Missing[1], "2 media") {
		t.Fatalf("central posture: %+v", pos)
	}

	// The workload site's admin holds no credential the central site
	// accepts, and the token the central site holds cannot change the
	// workload site.
	if _, err := st.work.Admin.Points(ctx, "central", client.PointFilter{}); err == nil {
		t.Fatal("the workload server's admin token listed the central vault")
	}
	wAtCentral, err := client.New(client.Options{URL: st.central.URL, Fingerprint: st.central.Fingerprint, Token: st.work.Admin.Token()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wAtCentral.Points(ctx, "central", client.PointFilter{}); !client.IsStatus(err, 401) {
		t.Fatalf("the workload admin's token at the central site: %v, want 401", err)
	}
	if _, err := wAtCentral.DeletePoint(ctx, "central", cp.ID[:8]); !client.IsStatus(err, 401) {
		t.Fatalf("the workload admin deleting the central copy: %v, want 401", err)
	}
	repl, err := client.New(client.Options{URL: st.work.URL, Fingerprint: st.work.Fingerprint, Token: st.replToken})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := repl.DeletePoint(ctx, "prod", p1.ID.String()[:8]); !client.IsStatus(err, 403) {
		t.Fatalf("the replication token deleting a workload point: %v, want 403", err)
	}
	// Even the central vault's own admin cannot delete the locked copy.
	if _, err := st.centralAdmin.DeletePoint(ctx, "central", cp.ID[:8]); !client.IsStatus(err, 403) && !client.IsStatus(err, 409) {
		t.Fatalf("deleting the compliance-locked copy: %v", err)
	}
}

func TestRemoteRegistrationRefusesWriteCapableTokens(t *testing.T) {
	ctx := context.Background()
	st := newSites(t, servertest.Options{})
	hostTok := st.host.Token()
	for _, tc := range []struct {
		name string
		req  api.RemoteRequest
		says string
	}{
		{"a backup host's token", api.RemoteRequest{URL: st.work.URL, Fingerprint: st.work.Fingerprint, Token: hostTok}, "restore-operator only"},
		{"the remote's admin token", api.RemoteRequest{URL: st.work.URL, Fingerprint: st.work.Fingerprint, Token: st.work.Admin.Token()}, "restore-operator only"},
		{"a wrong fingerprint", api.RemoteRequest{URL: st.work.URL, Fingerprint: st.central.Fingerprint, Token: st.replToken}, "did not accept"},
		{"plain http", api.RemoteRequest{URL: strings.Replace(st.work.URL, "https", "http", 1), Fingerprint: st.work.Fingerprint, Token: st.replToken}, "url"},
		{"a vault the token cannot read", api.RemoteRequest{URL: st.work.URL, Fingerprint: st.work.Fingerprint, Token: st.replToken,
			Follow: []store.Follow{{Vault: "other", ToVault: "central"}}}, "follow[0].vault"},
		{"an unknown local vault", api.RemoteRequest{URL: st.work.URL, Fingerprint: st.work.Fingerprint, Token: st.replToken,
			Follow: []store.Follow{{Vault: "prod", ToVault: "nowhere"}}}, "follow[0].to_vault"},
	} {
		_, err := st.centralAdmin.PutRemote(ctx, "workload", tc.req)
		if code, msg := status(err); code < 400 || !strings.Contains(msg, tc.says) {
			t.Errorf("%s: %d %q, want a refusal naming %q", tc.name, code, msg, tc.says)
		}
	}
	if rs, err := st.centralAdmin.Remotes(ctx); err != nil || len(rs) != 0 {
		t.Fatalf("refused registrations left remotes: %+v %v", rs, err)
	}
	// Only a vault-admin registers remotes.
	ops := st.central.User(t, "cops", "restore-operator@central")
	_, err := ops.PutRemote(ctx, "workload", api.RemoteRequest{URL: st.work.URL, Fingerprint: st.work.Fingerprint, Token: st.replToken})
	if !client.IsStatus(err, 403) {
		t.Fatalf("a restore-operator registering a remote: %v", err)
	}
	// The token is kept sealed: it is in no answer and not in the
	// database in clear.
	st.register(t, st.centralAdmin, st.work.URL)
	db, err := os.ReadFile(filepath.Join(st.centralDir, "bunker.db"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(db), st.replToken) {
		t.Fatal("the replication token is stored in clear")
	}
}

// cutProxy forwards TCP connections to target. While armed, it passes
// budget bytes from the target in all, then cuts every connection.
type cutProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  []net.Conn // closed when the test ends: the client keeps idle connections open
	armed  atomic.Bool
	budget atomic.Int64
	cuts   atomic.Int64
	wg     sync.WaitGroup
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target}
	go p.serve()
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		for _, c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

func (p *cutProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			defer c.Close()
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				return
			}
			defer up.Close()
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go io.Copy(up, c)
			buf := make([]byte, 32<<10)
			for {
				n, err := up.Read(buf)
				if n > 0 && p.armed.Load() && p.budget.Add(-int64(n)) < 0 {
					p.cuts.Add(1)
					return
				}
				if n > 0 {
					if _, werr := c.Write(buf[:n]); werr != nil {
						return
					}
				}
				if err != nil {
					return
				}
			}
		}()
	}
}

func TestPullResumesAfterTheNetworkDrops(t *testing.T) {
	ctx := context.Background()
	st := newSites(t, servertest.Options{})
	writeIncompressible(t, filepath.Join(st.src, "big.bin"), 12<<20, 7)
	p, _ := backupTo(t, st.host, "prod", "host1", st.src)
	u, err := url.Parse(st.work.URL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newCutProxy(t, u.Host)
	st.register(t, st.centralAdmin, "https://"+proxy.ln.Addr().String())

	// The network fails after 8 MiB.
	proxy.budget.Store(8 << 20)
	proxy.armed.Store(true)
	rep, err := st.centralAdmin.SyncRemote(ctx, "workload")
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Errors) == 0 || len(rep.Copies) != 0 || proxy.cuts.Load() == 0 {
		t.Fatalf("sync through a cut network: %+v (cuts %d)", rep, proxy.cuts.Load())
	}
	ps, err := st.centralAdmin.Points(ctx, "central", client.PointFilter{})
	if err != nil || len(ps) != 0 {
		t.Fatalf("a cut pull left points: %v %v", ps, err)
	}

	proxy.armed.Store(false)
	if rep, err = st.centralAdmin.SyncRemote(ctx, "workload"); err != nil || len(rep.Copies) != 1 || len(rep.Errors) != 0 {
		t.Fatalf("sync after the network came back: %+v %v", rep, err)
	}
	resumed := rep.Copies[0].Stats
	// The whole point, pulled afresh into another vault, for comparison.
	if _, err := st.centralAdmin.CreateVault(ctx, api.VaultRequest{Name: "fresh", Retention: "90d"}); err != nil {
		t.Fatal(err)
	}
	full, err := st.centralAdmin.Pull(ctx, "workload", api.PullRequest{Vault: "prod", Point: p.ID.String(), ToVault: "fresh"})
	if err != nil {
		t.Fatal(err)
	}
	if resumed.BlobsRead == 0 || resumed.BytesRead >= full.Stats.BytesRead {
		t.Fatalf("the resumed pull read %d bytes, the whole point is %d: it should read only what the cut pull did not store", resumed.BytesRead, full.Stats.BytesRead)
	}
	ops := st.central.User(t, "cops", "restore-operator@central")
	target := restoreFrom(t, ops, "central", rep.Copies[0].Point.ID[:8])
	testfs.Compare(t, st.src, filepath.Join(target, st.src))
}

// A point whose pull fails twice and that is then deleted at the workload
// site has its count forgotten: brought back and failing again, it raises
// pull.stalled only at the third failure after it came back, not at the
// first.
func TestPullForgetsTheFailuresOfAPointGoneFromTheRemote(t *testing.T) {
	ctx := context.Background()
	st := newSites(t, servertest.Options{})
	writeIncompressible(t, filepath.Join(st.src, "big.bin"), 16<<20, 9)
	p, _ := backupTo(t, st.host, "prod", "host1", st.src)
	point := p.ID.String()
	u, err := url.Parse(st.work.URL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newCutProxy(t, u.Host)
	st.register(t, st.centralAdmin, "https://"+proxy.ln.Addr().String())
	proxy.armed.Store(true)
	look := func() api.SyncReport {
		t.Helper()
		proxy.budget.Store(1 << 20) // the listing gets through, the point's 16 MiB do not
		rep, err := st.centralAdmin.SyncRemote(ctx, "workload")
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	failedPull := func() {
		t.Helper()
		if rep := look(); len(rep.Errors) == 0 || len(rep.Copies) != 0 {
			t.Fatalf("a pull through a cut network: %+v", rep)
		}
	}
	stalled := func() []store.Event { return eventsOf(t, st.central.Admin, "pull.stalled") }

	failedPull()
	failedPull()
	wadmin := st.work.User(t, "wadmin2", "vault-admin")
	if _, err := wadmin.DeletePoint(ctx, "prod", point); err != nil {
		t.Fatal(err)
	}
	if rep := look(); len(rep.Errors) != 0 || len(rep.Copies) != 0 {
		t.Fatalf("a look at a listing without the point: %+v", rep)
	}
	if _, err := wadmin.Undelete(ctx, "prod", point); err != nil {
		t.Fatal(err)
	}
	failedPull()
	failedPull()
	if evs := stalled(); len(evs) != 0 {
		t.Fatalf("pull.stalled after two failures since the point came back: %+v; the failures before it went were not forgotten", evs)
	}
	failedPull()
	if evs := stalled(); len(evs) != 1 || evs[0].Data["point"] != point || evs[0].Data["failures"] != float64(3) {
		t.Fatalf("pull.stalled after three failures since the point came back: %+v", evs)
	}
}

func TestCentralSiteDownWhenTheBackupHappens(t *testing.T) {
	ctx := context.Background()
	st := newSites(t, servertest.Options{})
	st.register(t, st.centralAdmin, st.work.URL)
	st.central.Stop()

	p, _ := backupTo(t, st.host, "prod", "host1", st.src)

	// The central server comes back and looks at its remotes on its own.
	central := servertest.Start(t, servertest.Options{DataDir: st.centralDir, KeyFile: st.keyFile, PullEvery: 50 * time.Millisecond})
	cadmin, err := client.New(client.Options{URL: central.URL, Fingerprint: central.Fingerprint, Token: st.centralAdmin.Token()})
	if err != nil {
		t.Fatal(err)
	}
	var copies []api.Point
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if copies, err = cadmin.Points(ctx, "central", client.PointFilter{}); err == nil && len(copies) > 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(copies) != 1 || copies[0].Origin == nil || copies[0].Origin.Point != p.ID.String() {
		t.Fatalf("after the central server returned: %+v", copies)
	}
}

// A workload site that is taken over floods its vault with points: the
// central server pulls no more of them per window than the flood limit of
// a principal allows, reports the first refusal as vault.flood, and pulls
// the rest once the window has passed.
func TestPullFloodLimit(t *testing.T) {
	ctx := context.Background()
	st := newSites(t, servertest.Options{PrincipalCommitLimit: 2, VaultCommitLimit: 100})
	st.register(t, st.centralAdmin, st.work.URL)
	for range 3 {
		backupTo(t, st.host, "prod", "host1", st.src)
	}
	sync := func(wantCopies, wantErrors int) api.SyncReport {
		t.Helper()
		rep, err := st.centralAdmin.SyncRemote(ctx, "workload")
		if err != nil || len(rep.Copies) != wantCopies || len(rep.Errors) != wantErrors {
			t.Fatalf("sync: %d copies, errors %q (%v); want %d copies, %d errors", len(rep.Copies), rep.Errors, err, wantCopies, wantErrors)
		}
		return rep
	}
	rep := sync(2, 1)
	if !strings.Contains(rep.Errors[0], "and those after it: remote workload has taken 2 points in the last 1h, the most the flood limit allows") {
		t.Fatalf("the refused pull: %q", rep.Errors[0])
	}
	floods := eventsOf(t, st.central.Admin, "vault.flood")
	if len(floods) != 1 || floods[0].Vault != "central" || floods[0].Data["remote"] != "workload" || floods[0].Data["scope"] != "remote" ||
		floods[0].Data["limit"] != float64(2) {
		t.Fatalf("vault.flood events: %+v", floods)
	}
	// Asking for the point by hand is refused the same way.
	if _, err := st.centralAdmin.Pull(ctx, "workload", api.PullRequest{Vault: "prod", Point: "latest", ToVault: "central"}); !client.IsStatus(err, 429) ||
		!strings.Contains(err.Error(), "flood limit") {
		t.Fatalf("a pull by hand over the limit: %v", err)
	}
	// The same window: still refused, reported once, and not a stalled
	// pull (the remote answers; the central site holds back).
	sync(0, 1)
	sync(0, 1)
	if n := len(eventsOf(t, st.central.Admin, "vault.flood")); n != 1 {
		t.Fatalf("%d vault.flood events after more refusals in the window, want 1", n)
	}
	if n := len(eventsOf(t, st.central.Admin, "pull.stalled")); n != 0 {
		t.Fatalf("%d pull.stalled for points held back by the flood limit, want none", n)
	}
	denied := 0
	for _, e := range auditEntries(t, st.central.User(t, "caud", "auditor")) {
		if e.Action == "point.copy" && e.Outcome == "denied" && e.Target == "remote/workload" && strings.Contains(string(e.Detail), "flood limit") {
			denied++
		}
	}
	if denied != 3 {
		t.Fatalf("%d denied point.copy audit entries for the 3 held-back looks, want 3", denied)
	}
	st.central.Clock.Advance(time.Hour)
	sync(1, 0)
	ps, err := st.centralAdmin.Points(ctx, "central", client.PointFilter{})
	if err != nil || len(ps) != 3 {
		t.Fatalf("central points: %d %v, want 3", len(ps), err)
	}
}

// A remote that cannot be reached look after look raises pull.stalled
// from the third failed look on, though the central server restarted
// after the second; a look that succeeds starts the count again.
func TestPullStalledRaisesAnAlert(t *testing.T) {
	ctx := context.Background()
	st := newSites(t, servertest.Options{})
	backupTo(t, st.host, "prod", "host1", st.src)
	u, err := url.Parse(st.work.URL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newCutProxy(t, u.Host)
	st.register(t, st.centralAdmin, "https://"+proxy.ln.Addr().String())
	admin, events := st.centralAdmin, st.central.Admin
	stalled := func() []store.Event { return eventsOf(t, events, "pull.stalled") }
	look := func(wantOK bool) {
		t.Helper()
		rep, err := admin.SyncRemote(ctx, "workload")
		if err != nil || (len(rep.Errors) == 0) != wantOK {
			t.Fatalf("sync: %+v %v", rep, err)
		}
	}

	proxy.armed.Store(true) // every connection is cut at once
	look(false)
	look(false)
	if n := len(stalled()); n != 0 {
		t.Fatalf("%d pull.stalled after two failed looks, want none yet", n)
	}
	// A restart does not start the count again: a server that keeps
	// crashing would never alert.
	st.central.Stop()
	central := servertest.Start(t, servertest.Options{DataDir: st.centralDir, KeyFile: st.keyFile})
	admin, events = reconnect(t, central, st.centralAdmin), reconnect(t, central, st.central.Admin)
	look(false)
	evs := stalled()
	if len(evs) != 1 {
		t.Fatalf("%d pull.stalled after three failed looks, want 1", len(evs))
	}
	if e := evs[0]; e.Vault != "central" || e.Data["remote"] != "workload" || e.Data["from_vault"] != "prod" ||
		e.Data["failures"] != float64(3) || e.Data["point"] != nil || e.Data["error"] == "" {
		t.Fatalf("the alert: %+v", e)
	}

	// The network comes back: the point is pulled and the count starts
	// again, so two more failed looks raise nothing.
	proxy.armed.Store(false)
	look(true)
	proxy.armed.Store(true)
	look(false)
	look(false)
	if n := len(stalled()); n != 1 {
		t.Fatalf("%d pull.stalled after the count started again, want still 1", n)
	}
}

// writeIncompressible writes n random bytes, from seed, to path and returns
// them: data that crosses the network as large as it is.
func writeIncompressible(t *testing.T, path string, n int, seed uint64) []byte {
	t.Helper()
	b := make([]byte, n)
	rng := rand.New(rand.NewPCG(seed, seed+1))
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return b
}
