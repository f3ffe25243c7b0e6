package server_test

import (
	"context"
	"database/sql"
	"io"
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
	"github.com/bunkerhq/bunker/internal/blob"
	"github.com/bunkerhq/bunker/internal/client"
	"github.com/bunkerhq/bunker/internal/repo"
	"github.com/bunkerhq/bunker/internal/server/servertest"
	"github.com/bunkerhq/bunker/internal/store"
	"github.com/bunkerhq/bunker/internal/testfs"
	"github.com/bunkerhq/bunker/internal/tree"
	"github.com/bunkerhq/bunker/internal/wire"
)

// pushSites is a workload server with vault prod, and a central server
// with a compliance-locked vault central, another vault, and a push token
// that holds backup-operator on central and nothing else.
type pushSites struct {
	work, central *servertest.Server
	host          *client.Client // backup-operator@prod at the workload site
	wadmin        *client.Client // vault-admin and restore-operator@prod at the workload site
	centralAdmin  *client.Client // vault-admin at the central site
	pushToken     string         // backup-operator@central at the central site
	src           string
}

func newPushSites(t *testing.T, workOpts servertest.Options) *pushSites {
	t.Helper()
	ctx := context.Background()
	st := &pushSites{work: servertest.Start(t, workOpts), central: servertest.Start(t, servertest.Options{})}
	st.wadmin = st.work.User(t, "wadmin", "vault-admin", "restore-operator@prod")
	if _, err := st.wadmin.CreateVault(ctx, api.VaultRequest{Name: "prod", Retention: "7d"}); err != nil {
		t.Fatal(err)
	}
	st.host = st.work.Service(t, "host1", "backup-operator@prod")
	st.centralAdmin = st.central.User(t, "cadmin", "vault-admin")
	lock := &api.LockRequest{Mode: "compliance", MinRetention: "30d", MaxRetention: "365d", ChangeableFor: "72h"}
	if _, err := st.centralAdmin.CreateVault(ctx, api.VaultRequest{Name: "central", Retention: "90d", Lock: lock}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.centralAdmin.CreateVault(ctx, api.VaultRequest{Name: "other", Retention: "90d"}); err != nil {
		t.Fatal(err)
	}
	st.pushToken = st.central.Service(t, "site-a", "backup-operator@central").Token()
	st.src = t.TempDir()
	testfs.Build(t, st.src)
	return st
}

func (st *pushSites) addTarget(t *testing.T, u string, vaults ...string) {
	t.Helper()
	_, err := st.wadmin.PutPushTarget(context.Background(), "central", api.PushTargetRequest{URL: u, Fingerprint: st.central.Fingerprint,
		Token: st.pushToken, Vault: "central", Vaults: vaults})
	if err != nil {
		t.Fatal(err)
	}
}

func TestPushToACentralSite(t *testing.T) {
	ctx := context.Background()
	st := newPushSites(t, servertest.Options{})
	st.addTarget(t, st.central.URL)
	p1, _ := backupTo(t, st.host, "prod", "host1", st.src)

	rep, err := st.wadmin.PushPoint(ctx, "prod", p1.ID.String()[:8], "central")
	if err != nil {
		t.Fatal(err)
	}
	if rep.Existing || rep.ToPoint == "" || rep.Lock != "compliance" || rep.BlobsSent == 0 {
		t.Fatalf("push: %+v", rep)
	}
	cp, err := st.centralAdmin.Point(ctx, "central", rep.ToPoint)
	if err != nil {
		t.Fatal(err)
	}
	if o := cp.Origin; o == nil || o.Site != "site-a" || o.Vault != "prod" || o.Point != p1.ID.String() || !o.Time.Equal(p1.Time) {
		t.Fatalf("the pushed point's origin: %+v", cp.Origin)
	}
	// Sealed by the central server: its clock, its vault's retention and
	// lock, its signature; made by the push principal.
	if cp.Lock != "compliance" || !cp.Retained || !cp.Expires.Equal(cp.Time.Add(90*24*time.Hour)) || cp.CreatedBy != "site-a" {
		t.Fatalf("the pushed point is not sealed by the central vault: lock %q, retained %v, expires %v, by %s", cp.Lock, cp.Retained, cp.Expires, cp.CreatedBy)
	}
	ops := st.central.User(t, "cops", "restore-operator@central")
	target := restoreFrom(t, ops, "central", rep.ToPoint[:8])
	testfs.Compare(t, st.src, filepath.Join(target, st.src))
	if vr, err := st.centralAdmin.Verify(ctx, "central", api.VerifyRequest{Full: true}); err != nil || !vr.OK {
		t.Fatalf("central verify after the push: %+v %v", vr, err)
	}

	// Pushing again sends nothing and makes no second point.
	again, err := st.wadmin.PushPoint(ctx, "prod", p1.ID.String(), "central")
	if err != nil || !again.Existing || again.ToPoint != rep.ToPoint {
		t.Fatalf("second push: %+v %v", again, err)
	}
	// Nor does a push the workload server has forgotten: the central
	// server answers with the point it recorded, and what it holds is not
	// sent again.
	if err := st.wadmin.DeletePushTarget(ctx, "central"); err != nil {
		t.Fatal(err)
	}
	st.addTarget(t, st.central.URL)
	again, err = st.wadmin.PushPoint(ctx, "prod", p1.ID.String(), "central")
	if err != nil || again.Existing || again.ToPoint != rep.ToPoint || again.BlobsSent != 0 || again.Stats.BlobsRead != 0 {
		t.Fatalf("push after the target was registered again: %+v %v", again, err)
	}
	if ps, err := ops.Points(ctx, "central", client.PointFilter{}); err != nil || len(ps) != 1 {
		t.Fatalf("central points after three pushes of one point: %d %v", len(ps), err)
	}

	// An incremental point sends its new chunk.
	if err := os.WriteFile(filepath.Join(st.src, "later.txt"), []byte("after the first push\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p2, _ := backupTo(t, st.host, "prod", "host1", st.src)
	rep2, err := st.wadmin.PushPoint(ctx, "prod", p2.ID.String(), "central")
	if err != nil {
		t.Fatal(err)
	}
	if rep2.Stats.BlobsRead != 1 || rep2.Stats.TreesSkipped == 0 {
		t.Fatalf("the incremental push read %+v; want its one new chunk", rep2.Stats)
	}
	target = restoreFrom(t, ops, "central", rep2.ToPoint[:8])
	testfs.Compare(t, st.src, filepath.Join(target, st.src))

	// The central site's posture sees the original at the workload site
	// through the pushed copies, as it does for pulled ones.
	pos, err := st.centralAdmin.Posture(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sites := map[string]bool{}
	for _, l := range pos.Sources[0].Copies {
		sites[l.Site+"/"+l.Vault] = true
	}
	if len(pos.Sources) != 1 || !sites["site-a/prod"] || !sites["here/central"] {
		t.Fatalf("central posture: %+v", pos)
	}

	// The push is audited and announced here.
	evs, err := st.work.Admin.Events(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range evs.Events {
		if e.Kind == "push.completed" && e.Data["target"] == "central" {
			n++
		}
	}
	if n != 3 {
		t.Fatalf("push.completed events: %d, want 3", n)
	}
}

func TestPushTargetRefusesTokensThatCanDoMore(t *testing.T) {
	ctx := context.Background()
	st := newPushSites(t, servertest.Options{})
	restorer := st.central.Service(t, "reader", "restore-operator@central").Token()
	wide := st.central.Service(t, "wide", "backup-operator@*").Token()
	both := st.central.Service(t, "both", "backup-operator@central", "backup-operator@other").Token()
	for _, tc := range []struct {
		name string
		req  api.PushTargetRequest
		says string
	}{
		{"a restore-operator's token", api.PushTargetRequest{Token: restorer}, "backup-operator on vault central only"},
		{"the central admin's token", api.PushTargetRequest{Token: st.centralAdmin.Token()}, "backup-operator on vault central only"},
		{"a token for every vault", api.PushTargetRequest{Token: wide}, "backup-operator on vault central only"},
		{"a token for two vaults", api.PushTargetRequest{Token: both}, "backup-operator on vault central only"},
		{"a wrong fingerprint", api.PushTargetRequest{Token: st.pushToken, Fingerprint: st.work.Fingerprint}, "did not accept"},
		{"plain http", api.PushTargetRequest{Token: st.pushToken, URL: strings.Replace(st.central.URL, "https", "http", 1)}, "url"},
		{"an unknown local vault", api.PushTargetRequest{Token: st.pushToken, Vaults: []string{"nowhere"}}, "vaults[0]"},
	} {
		req := tc.req
		if req.URL == "" {
			req.URL = st.central.URL
		}
		if req.Fingerprint == "" {
			req.Fingerprint = st.central.Fingerprint
		}
		req.Vault = "central"
		_, err := st.wadmin.PutPushTarget(ctx, "central", req)
		if code, msg := status(err); code < 400 || !strings.Contains(msg, tc.says) {
			t.Errorf("%s: %d %q, want a refusal naming %q", tc.name, code, msg, tc.says)
		}
	}
	if ts, err := st.wadmin.PushTargets(ctx); err != nil || len(ts) != 0 {
		t.Fatalf("refused registrations left push targets: %+v %v", ts, err)
	}
	// A vault-admin who cannot read a vault does not send it away.
	vadmin := st.work.User(t, "vadmin", "vault-admin")
	_, err := vadmin.PutPushTarget(ctx, "central", api.PushTargetRequest{URL: st.central.URL, Fingerprint: st.central.Fingerprint,
		Token: st.pushToken, Vault: "central", Vaults: []string{"prod"}})
	if !client.IsStatus(err, 403) {
		t.Fatalf("a vault-admin without data.read registering prod for push: %v", err)
	}
	// Nor does a backup host.
	if _, err := st.host.PutPushTarget(ctx, "central", api.PushTargetRequest{URL: st.central.URL, Fingerprint: st.central.Fingerprint,
		Token: st.pushToken, Vault: "central"}); !client.IsStatus(err, 403) {
		t.Fatalf("a backup host registering a push target: %v", err)
	}
	st.addTarget(t, st.central.URL)
	p, _ := backupTo(t, st.host, "prod", "host1", st.src)
	if _, err := vadmin.PushPoint(ctx, "prod", p.ID.String(), "central"); !client.IsStatus(err, 403) {
		t.Fatalf("a vault-admin without data.read pushing: %v", err)
	}
	// The token is kept sealed: in no answer, not in the database in clear.
	ts, err := st.wadmin.PushTargets(ctx)
	if err != nil || len(ts) != 1 || ts[0].Principal != "site-a" || ts[0].Site != "site-a" {
		t.Fatalf("push targets: %+v %v", ts, err)
	}
	db, err := os.ReadFile(filepath.Join(st.work.DataDir, "bunker.db"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(db), st.pushToken) {
		t.Fatal("the push token is stored in clear")
	}
}

// The attacker holds the workload server, and with it the push token. It
// can add points to the central vault and nothing else: every attempt to
// delete, shorten, overwrite or read what is there, or to look at other
// vaults, is refused, and the pushed point still restores.
func TestPushTokenCannotHarmCentralCopies(t *testing.T) {
	ctx := context.Background()
	st := newPushSites(t, servertest.Options{})
	st.addTarget(t, st.central.URL)
	p, _ := backupTo(t, st.host, "prod", "host1", st.src)
	rep, err := st.wadmin.PushPoint(ctx, "prod", p.ID.String(), "central")
	if err != nil {
		t.Fatal(err)
	}
	cp := rep.ToPoint
	// A point another host backed up into the central vault directly.
	chost := st.central.Service(t, "chost", "backup-operator@central")
	direct, _ := backupTo(t, chost, "central", "chost", st.src)

	atk, err := client.New(client.Options{URL: st.central.URL, Fingerprint: st.central.Fingerprint, Token: st.pushToken})
	if err != nil {
		t.Fatal(err)
	}
	denied := func(what string, err error) {
		t.Helper()
		if code, _ := status(err); code != 403 && code != 404 {
			t.Errorf("%s with the push token: %v, want 403", what, err)
		}
	}
	_, err = atk.DeletePoint(ctx, "central", cp[:8])
	denied("delete the pushed point", err)
	_, err = atk.DeletePoint(ctx, "central", direct.ID.String()[:8])
	denied("delete another host's point", err)
	soon := st.central.Clock.Now().Add(time.Hour)
	_, err = atk.Retain(ctx, "central", cp[:8], api.RetentionRequest{Expires: &soon})
	denied("shorten the pushed point's retention", err)
	_, err = atk.Hold(ctx, "central", api.HoldRequest{Point: cp, Reason: "keep the ransom"})
	denied("place a legal hold", err)
	_, err = atk.Unlock(ctx, "central")
	denied("remove the central vault's lock", err)
	day := "1d"
	_, err = atk.UpdateVault(ctx, "central", api.VaultUpdate{Retention: &day})
	denied("shorten the central vault's retention", err)
	denied("delete the central vault", atk.DeleteVault(ctx, "central"))
	_, err = atk.Maintain(ctx, "central")
	denied("run maintenance on the central vault", err)
	_, err = atk.Points(ctx, "central", client.PointFilter{})
	denied("list the central vault's points", err)
	_, err = atk.Point(ctx, "central", cp[:8])
	denied("show the pushed point", err)
	_, err = atk.StartRestore(ctx, "central", cp[:8])
	denied("restore the pushed point", err)
	_, err = atk.StartRestore(ctx, "central", direct.ID.String()[:8])
	denied("restore another host's point", err)
	_, err = atk.Vault(ctx, "other")
	denied("show another vault", err)
	_, err = atk.Points(ctx, "other", client.PointFilter{})
	denied("list another vault's points", err)
	if vs, err := atk.Vaults(ctx); err != nil || len(vs) != 0 {
		t.Errorf("the push token lists vaults: %+v %v", vs, err)
	}
	_, err = atk.StartBackup(ctx, "other", api.SessionRequest{Hostname: "x", Paths: []string{"/x"}})
	denied("back up into another vault", err)
	_, err = atk.Audit(ctx, 0, 10)
	denied("read the audit log", err)
	_, err = atk.Events(ctx, 0, 10)
	denied("read the event stream", err)
	// A backup session of its own reads no other principal's listings.
	_, err = atk.StartBackup(ctx, "central", api.SessionRequest{Hostname: "chost", Paths: []string{st.src}, Parent: direct.ID.String()})
	denied("open a session on another host's point", err)

	// Overwrite: a second commit naming the same origin is answered with
	// the first point; content under a false id is refused.
	sess, err := atk.StartBackup(ctx, "central", api.SessionRequest{Hostname: "host1", Paths: []string{st.src}})
	if err != nil {
		t.Fatal(err)
	}
	ck, _ := base64Decode(sess.ContentKey)
	junk := []byte("ransom note\n")
	forged := wire.AppendFrame(nil, wire.Frame{Handle: blob.Handle{ID: contentID(t, ck, []byte("other")), Type: blob.DataBlob}, RawLen: len(junk), Payload: junk})
	if _, err := atk.Upload(ctx, sess.Session, forged); !client.IsStatus(err, 400) {
		t.Errorf("upload under a false id: %v, want 400", err)
	}
	tr := uploadEmptyTree(t, atk, sess.Session, ck)
	origin := &repo.Origin{Site: "site-a", Vault: "prod", Point: p.ID.String(), Time: p.Time}
	over, err := atk.Commit(ctx, sess.Session, api.CommitRequest{Tree: tr.String(), Origin: origin})
	if err != nil || over.ID != cp || over.Tree == tr.String() {
		t.Errorf("commit over the pushed point: %+v %v, want the pushed point unchanged", over.Point, err)
	}
	// A point dated ahead of the central clock is refused.
	sess, err = atk.StartBackup(ctx, "central", api.SessionRequest{Hostname: "host1", Paths: []string{st.src}})
	if err != nil {
		t.Fatal(err)
	}
	tr = uploadEmptyTree(t, atk, sess.Session, ck)
	future := &repo.Origin{Site: "site-a", Vault: "prod", Point: strings.Repeat("ab", 32), Time: st.central.Clock.Now().Add(30 * 24 * time.Hour)}
	if _, err := atk.Commit(ctx, sess.Session, api.CommitRequest{Tree: tr.String(), Origin: future}); !client.IsStatus(err, 400) {
		t.Errorf("commit dated a month ahead: %v, want 400", err)
	}

	// The pushed point and the other host's point are intact.
	ops := st.central.User(t, "cops", "restore-operator@central")
	for _, ref := range []string{cp[:8], direct.ID.String()[:8]} {
		target := restoreFrom(t, ops, "central", ref)
		testfs.Compare(t, st.src, filepath.Join(target, st.src))
	}
	got, err := ops.Point(ctx, "central", cp[:8])
	if err != nil || !got.Retained || !got.Expires.Equal(got.Time.Add(90*24*time.Hour)) {
		t.Fatalf("the pushed point after the attack: %+v %v", got, err)
	}
}

// uploadEmptyTree stores an empty listing in a backup session and returns
// its id.
func uploadEmptyTree(t *testing.T, c *client.Client, session string, ck []byte) blob.ID {
	t.Helper()
	data, err := tree.Encode(&tree.Tree{})
	if err != nil {
		t.Fatal(err)
	}
	id := contentID(t, ck, data)
	frame := wire.AppendFrame(nil, wire.Frame{Handle: blob.Handle{ID: id, Type: blob.TreeBlob}, RawLen: len(data), Payload: data})
	if _, err := c.Upload(context.Background(), session, frame); err != nil {
		t.Fatalf("upload an empty listing: %v", err)
	}
	return id
}

// uploadCut forwards TCP connections to target, and cuts each connection
// once it has carried more than budget bytes towards the target, while
// armed.
type uploadCut struct {
	ln     net.Listener
	target string
	budget int64
	armed  atomic.Bool
	cuts   atomic.Int64
	mu     sync.Mutex
	conns  []net.Conn
	wg     sync.WaitGroup
}

func newUploadCut(t *testing.T, target string, budget int64) *uploadCut {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &uploadCut{ln: ln, target: target, budget: budget}
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

func (p *uploadCut) serve() {
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
			go func() { _, _ = io.Copy(c, up); c.Close() }()
			var sent int64
			buf := make([]byte, 32<<10)
			for {
				n, err := c.Read(buf)
				sent += int64(n)
				if n > 0 && p.armed.Load() && sent > p.budget {
					p.cuts.Add(1)
					return
				}
				if n > 0 {
					if _, werr := up.Write(buf[:n]); werr != nil {
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

func TestPushResumesAfterTheNetworkDrops(t *testing.T) {
	ctx := context.Background()
	st := newPushSites(t, servertest.Options{})
	big := writeIncompressible(t, filepath.Join(st.src, "big.bin"), 12<<20, 9)
	p, _ := backupTo(t, st.host, "prod", "host1", st.src)
	u, err := url.Parse(st.central.URL)
	if err != nil {
		t.Fatal(err)
	}
	// Uploads go in batches of up to 8 MiB: a connection that carries
	// more than 6 MiB is cut, so the largest upload never arrives and the
	// others do.
	proxy := newUploadCut(t, u.Host, 6<<20)
	st.addTarget(t, "https://"+proxy.ln.Addr().String())
	proxy.armed.Store(true)
	_, err = st.wadmin.PushPoint(ctx, "prod", p.ID.String(), "central")
	if code, _ := status(err); code != 502 || proxy.cuts.Load() == 0 {
		t.Fatalf("push through a cut network: %v (cuts %d)", err, proxy.cuts.Load())
	}
	ops := st.central.User(t, "cops", "restore-operator@central")
	if ps, err := ops.Points(ctx, "central", client.PointFilter{}); err != nil || len(ps) != 0 {
		t.Fatalf("a cut push left points: %v %v", ps, err)
	}
	evs, err := st.work.Admin.Events(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if n := countKind(evs.Events, "push.failed"); n != 1 {
		t.Fatalf("push.failed events after a cut push: %d", n)
	}

	proxy.armed.Store(false)
	rep, err := st.wadmin.PushPoint(ctx, "prod", p.ID.String(), "central")
	if err != nil {
		t.Fatal(err)
	}
	if rep.BlobsSent == 0 || rep.BytesSent >= int64(len(big)) {
		t.Fatalf("the resumed push sent %d blobs, %d bytes; the big file alone is %d: it should send only what the cut push did not store",
			rep.BlobsSent, rep.BytesSent, len(big))
	}
	t.Logf("the resumed push sent %d blobs, %d bytes", rep.BlobsSent, rep.BytesSent)
	ps, err := ops.Points(ctx, "central", client.PointFilter{})
	if err != nil || len(ps) != 1 || ps[0].ID != rep.ToPoint {
		t.Fatalf("central points after the resumed push: %+v %v", ps, err)
	}
	target := restoreFrom(t, ops, "central", rep.ToPoint[:8])
	testfs.Compare(t, st.src, filepath.Join(target, st.src))
	// Nothing was stored twice: the central vault holds about one copy of
	// the data.
	if size := dirSize(t, filepath.Join(st.central.DataDir, "vaults")); size > int64(len(big))*3/2 {
		t.Fatalf("the central vault holds %d bytes for %d bytes of data", size, len(big))
	}
}

func TestAutomaticPushAlertsWhenItKeepsFailing(t *testing.T) {
	ctx := context.Background()
	st := newPushSites(t, servertest.Options{PushEvery: 50 * time.Millisecond})
	u, err := url.Parse(st.central.URL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newUploadCut(t, u.Host, 0)
	proxy.armed.Store(true)
	// Registration passes through the proxy unarmed.
	proxy.armed.Store(false)
	st.addTarget(t, "https://"+proxy.ln.Addr().String(), "prod")
	proxy.armed.Store(true)
	p, _ := backupTo(t, st.host, "prod", "host1", st.src)

	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		evs, err := st.work.Admin.Events(ctx, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if countKind(evs.Events, "push.stalled") > 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	evs, err := st.work.Admin.Events(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if countKind(evs.Events, "push.stalled") == 0 || countKind(evs.Events, "push.failed") < 3 {
		t.Fatalf("no push.stalled after failing pushes: %d failed", countKind(evs.Events, "push.failed"))
	}

	// The network comes back: the point is pushed on its own.
	proxy.armed.Store(false)
	ops := st.central.User(t, "cops", "restore-operator@central")
	var ps []api.Point
	for deadline = time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if ps, err = ops.Points(ctx, "central", client.PointFilter{}); err == nil && len(ps) > 0 {
			break
		}
	}
	if len(ps) != 1 || ps[0].Origin == nil || ps[0].Origin.Point != p.ID.String() {
		t.Fatalf("after the network came back: %+v", ps)
	}
}

// A point whose push fails twice, and once more after the workload
// server restarted, raises push.stalled: the count outlives the server.
// Removing the target forgets it.
func TestPushStalledCountSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	st := newPushSites(t, servertest.Options{})
	u, err := url.Parse(st.central.URL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newUploadCut(t, u.Host, 0)
	st.addTarget(t, "https://"+proxy.ln.Addr().String(), "prod")
	proxy.armed.Store(true)
	p, _ := backupTo(t, st.host, "prod", "host1", st.src)
	wadmin, events := st.wadmin, st.work.Admin
	push := func() {
		t.Helper()
		if _, err := wadmin.PushPoint(ctx, "prod", p.ID.String(), "central"); err == nil {
			t.Fatal("a push through the cut connection succeeded")
		}
	}
	stalled := func() []store.Event { return eventsOf(t, events, "push.stalled") }
	push()
	push()
	if n := len(stalled()); n != 0 {
		t.Fatalf("%d push.stalled after two failures, want none yet", n)
	}
	st.work.Stop()
	work := servertest.Start(t, servertest.Options{DataDir: st.work.DataDir, KeyFile: st.work.KeyFile})
	wadmin, events = reconnect(t, work, st.wadmin), reconnect(t, work, st.work.Admin)
	push()
	evs := stalled()
	if len(evs) != 1 || evs[0].Data["failures"] != float64(3) || evs[0].Data["point"] != p.ID.String() {
		t.Fatalf("push.stalled after a third failure past a restart: %+v", evs)
	}

	// A target removed and added again starts from nothing.
	if err := wadmin.DeletePushTarget(ctx, "central"); err != nil {
		t.Fatal(err)
	}
	proxy.armed.Store(false)
	if _, err := wadmin.PutPushTarget(ctx, "central", api.PushTargetRequest{URL: "https://" + proxy.ln.Addr().String(),
		Fingerprint: st.central.Fingerprint, Token: st.pushToken, Vault: "central", Vaults: []string{"prod"}}); err != nil {
		t.Fatal(err)
	}
	proxy.armed.Store(true)
	push()
	push()
	if n := len(stalled()); n != 1 {
		t.Fatalf("%d push.stalled after two failures to the target added again, want still 1", n)
	}
}

// A point whose automatic push keeps failing, and that is then deleted at
// the workload site, has its failures forgotten at the next round of
// pushes: brought back and failing again, it raises push.stalled at its
// third failure once more, where a count that went on would skip it.
func TestPushForgetsTheFailuresOfAPointGoneFromTheVault(t *testing.T) {
	ctx := context.Background()
	st := newPushSites(t, servertest.Options{PushEvery: 50 * time.Millisecond})
	u, err := url.Parse(st.central.URL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newUploadCut(t, u.Host, 0)
	st.addTarget(t, "https://"+proxy.ln.Addr().String(), "prod")
	proxy.armed.Store(true)
	p, _ := backupTo(t, st.host, "prod", "host1", st.src)
	point := p.ID.String()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(st.work.DataDir, "bunker.db")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	failures := func() int {
		t.Helper()
		var n int
		if err := db.QueryRowContext(ctx, `SELECT COALESCE(MAX(failures), 0) FROM failure_streaks WHERE kind = ? AND point = ?`,
			store.StreakPush, point).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	thirds := func() int {
		n := 0
		for _, e := range eventsOf(t, st.work.Admin, "push.stalled") {
			if e.Data["point"] == point && e.Data["failures"] == float64(3) {
				n++
			}
		}
		return n
	}
	waitLong(t, "push.stalled at the third failure", func() bool { return thirds() == 1 })
	if _, err := st.wadmin.DeletePoint(ctx, "prod", point); err != nil {
		t.Fatal(err)
	}
	waitLong(t, "the deleted point's failures forgotten", func() bool { return failures() == 0 })
	if _, err := st.wadmin.Undelete(ctx, "prod", point); err != nil {
		t.Fatal(err)
	}
	waitLong(t, "push.stalled at the third failure since the point came back", func() bool { return thirds() == 2 })
}

// waitLong is waitFor with room for pushes and pulls under the race
// detector.
func waitLong(t *testing.T, what string, cond func() bool) {
	t.Helper()
	waitWithin(t, 30*time.Second, what, cond)
}

func countKind(evs []store.Event, kind string) int {
	n := 0
	for _, e := range evs {
		if e.Kind == kind {
			n++
		}
	}
	return n
}

func dirSize(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	err := filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			n += fi.Size()
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// A push asked for while the same point is being pushed waits for it and
// is answered with its copy: one point at the central site.
func TestConcurrentPushesMakeOnePoint(t *testing.T) {
	ctx := context.Background()
	st := newPushSites(t, servertest.Options{})
	st.addTarget(t, st.central.URL)
	p, _ := backupTo(t, st.host, "prod", "host1", st.src)
	var wg sync.WaitGroup
	reps := make([]api.PushReport, 3)
	errs := make([]error, 3)
	for i := range reps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			reps[i], errs[i] = st.wadmin.PushPoint(ctx, "prod", p.ID.String(), "central")
		}()
	}
	wg.Wait()
	made := 0
	for i, r := range reps {
		if errs[i] != nil {
			t.Fatalf("push %d: %v", i, errs[i])
		}
		if !r.Existing {
			made++
		}
		if r.ToPoint != reps[0].ToPoint {
			t.Fatalf("pushes answered with different points: %s and %s", r.ToPoint, reps[0].ToPoint)
		}
	}
	ops := st.central.User(t, "cops", "restore-operator@central")
	if ps, err := ops.Points(ctx, "central", client.PointFilter{}); err != nil || len(ps) != 1 || made != 1 {
		t.Fatalf("three concurrent pushes made %d pushes and %d central points (%v)", made, len(ps), err)
	}
}

// Once the central vault collected a pushed copy, what the workload server
// remembers of it is not trusted: pushing the point again sends it whole.
func TestPushAfterTheCentralCopyWasCollected(t *testing.T) {
	ctx := context.Background()
	st := newPushSites(t, servertest.Options{})
	if _, err := st.centralAdmin.CreateVault(ctx, api.VaultRequest{Name: "short", Retention: "1h", BinRetention: "1h"}); err != nil {
		t.Fatal(err)
	}
	tok := st.central.Service(t, "site-b", "backup-operator@short").Token()
	put := api.PushTargetRequest{URL: st.central.URL, Fingerprint: st.central.Fingerprint, Token: tok, Vault: "short"}
	if _, err := st.wadmin.PutPushTarget(ctx, "short", put); err != nil {
		t.Fatal(err)
	}
	p, _ := backupTo(t, st.host, "prod", "host1", st.src)
	first, err := st.wadmin.PushPoint(ctx, "prod", p.ID.String(), "short")
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		st.central.Clock.Advance(2 * time.Hour)
		if _, err := st.centralAdmin.Maintain(ctx, "short"); err != nil {
			t.Fatal(err)
		}
	}
	ops := st.central.User(t, "cops", "restore-operator@short")
	if ps, err := ops.Points(ctx, "short", client.PointFilter{State: "all"}); err != nil || len(ps) != 0 {
		t.Fatalf("points left after expiry and purge: %+v %v", ps, err)
	}
	// The workload server forgets its record of the push, as it does when
	// the target is registered again.
	if err := st.wadmin.DeletePushTarget(ctx, "short"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.wadmin.PutPushTarget(ctx, "short", put); err != nil {
		t.Fatal(err)
	}
	again, err := st.wadmin.PushPoint(ctx, "prod", p.ID.String(), "short")
	if err != nil {
		t.Fatal(err)
	}
	if again.Existing || again.ToPoint == first.ToPoint || again.BlobsSent != first.BlobsSent || again.Stats.BlobsRead != first.Stats.BlobsRead {
		t.Fatalf("push after the copy was collected: %+v, the first: %+v", again, first)
	}
	target := restoreFrom(t, ops, "short", again.ToPoint[:8])
	testfs.Compare(t, st.src, filepath.Join(target, st.src))
}
