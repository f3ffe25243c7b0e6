package main_test

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/bunkerhq/bunker/internal/api"
	"github.com/bunkerhq/bunker/internal/audit"
	"github.com/bunkerhq/bunker/internal/rbac"
	"github.com/bunkerhq/bunker/internal/retention"
	"github.com/bunkerhq/bunker/internal/storage/local"
	"github.com/bunkerhq/bunker/internal/store"
	"github.com/bunkerhq/bunker/internal/testfs"
)

// serverProc is a `bunker server` running for a test.
type serverProc struct {
	cmd         *exec.Cmd
	url         string
	fingerprint string
	adminPWFile string
	logFile     string
	done        chan error
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

// startServer runs `bunker server --json` in e and waits for the line that
// says where it listens.
func startServer(t *testing.T, e *env) *serverProc {
	t.Helper()
	logFile := filepath.Join(t.TempDir(), "server.log")
	logs, err := os.Create(logFile)
	if err != nil {
		t.Fatal(err)
	}
	defer logs.Close()
	cmd := exec.Command(bin, "server", "--json", "--listen", "127.0.0.1:"+freePort(t))
	cmd.Env = e.vars
	cmd.Dir = e.home
	cmd.Stderr = logs
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &serverProc{cmd: cmd, logFile: logFile, done: make(chan error, 1)}
	lines := make(chan string, 1)
	go func() {
		br := bufio.NewReader(stdout)
		line, _ := br.ReadString('\n')
		lines <- line
		_, _ = br.WriteTo(discard{})
		s.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-s.done
		}
		// As root, locked vaults are sealed with the immutable attribute;
		// unseal them so the temporary directory can go.
		_ = local.Unseal(e.home)
	})
	var first string
	select {
	case first = <-lines:
	case <-time.After(30 * time.Second):
		t.Fatalf("the server printed nothing in 30s; its log:\n%s", s.log())
	}
	var info struct {
		MessageType string `json:"message_type"`
		URL         string `json:"url"`
		Fingerprint string `json:"fingerprint"`
		AdminPWFile string `json:"admin_password_file"`
	}
	if err := json.Unmarshal([]byte(first), &info); err != nil || info.MessageType != "listening" || info.URL == "" || info.Fingerprint == "" {
		t.Fatalf("first line of `bunker server --json`: %q (%v); log:\n%s", first, err, s.log())
	}
	s.url, s.fingerprint, s.adminPWFile = info.URL, info.Fingerprint, info.AdminPWFile
	return s
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func (s *serverProc) log() string {
	data, _ := os.ReadFile(s.logFile)
	return string(data)
}

// stop sends SIGTERM and checks that the server exits cleanly.
func (s *serverProc) stop(t *testing.T) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-s.done:
		if err != nil {
			t.Fatalf("server exit after SIGTERM: %v; log:\n%s", err, s.log())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("server still running 15s after SIGTERM; log:\n%s", s.log())
	}
	if strings.Contains(s.log(), "panic") {
		t.Fatalf("the server logged a panic:\n%s", s.log())
	}
}

// json runs a command with --json that must succeed and decodes its stdout,
// which must be exactly one JSON document, into v.
func (e *env) json(v any, args ...string) {
	e.t.Helper()
	out := e.ok(append(args, "--json")...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		e.t.Fatalf("bunker %s --json: not one JSON document: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// fails runs a command that must exit with code and say want on stderr.
func (e *env) fails(code int, want string, args ...string) result {
	e.t.Helper()
	r := e.run(args...)
	if r.code != code || !strings.Contains(r.stderr, want) {
		e.t.Fatalf("bunker %s: exit %d, want %d with %q\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, code, want, r.stdout, r.stderr)
	}
	return r
}

// secretFile writes a password to a new file and returns its name.
func secretFile(t *testing.T, s string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(p, []byte(s+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestServerManagement drives a real server with the real CLI: principals,
// roles within the separation of duties, tokens, a locked vault, backup and
// restore through it, points, legal holds, the recycle bin, maintenance,
// TOTP, passwords, the audit log and its verification.
func TestServerManagement(t *testing.T) {
	srv := startServer(t, newEnv(t))
	url, fp := srv.url, srv.fingerprint
	login := func(e *env, user, pwFile string) {
		t.Helper()
		e.ok("login", "--server", url, "--fingerprint", fp, "--user", user, "--password-file", pwFile)
	}
	admin := newEnv(t)
	login(admin, "admin", srv.adminPWFile)
	if out := admin.ok("whoami"); !strings.Contains(out, "security-admin on all vaults") {
		t.Fatalf("whoami: %s", out)
	}

	// Principals.
	vadminPW, opsPW, audPW := secretFile(t, "vault admin password 1"), secretFile(t, "restore operator pw 2"), secretFile(t, "auditor password 3")
	var p api.Principal
	admin.json(&p, "user", "create", "vadmin", "--password-file", vadminPW)
	if p.Name != "vadmin" || p.Kind != store.User {
		t.Fatalf("user create --json: %+v", p.Principal)
	}
	admin.ok("user", "create", "ops", "--password-file", opsPW)
	admin.ok("user", "create", "aud", "--password-file", audPW)
	admin.json(&p, "user", "create", "host1", "--service")
	if p.Kind != store.Service {
		t.Fatalf("service account kind %q", p.Kind)
	}
	admin.fails(2, "no password", "user", "create", "host2", "--service", "--password-file", opsPW)
	admin.fails(2, "no password given", "user", "create", "nopw")
	admin.fails(1, "at least 12", "user", "create", "shortpw", "--password-file", secretFile(t, "short"))

	// Roles, and the separation of duties.
	var b store.Binding
	admin.json(&b, "role", "bind", "vadmin", "vault-admin")
	if b.Role != rbac.VaultAdmin || b.Vault != rbac.AllVaults || b.ID == 0 {
		t.Fatalf("role bind --json: %+v", b)
	}
	admin.ok("role", "bind", "host1", "backup-operator", "--vault", "prod")
	admin.ok("role", "bind", "ops", "restore-operator", "--vault", "prod")
	if out := admin.ok("role", "bind", "aud", "auditor"); !strings.Contains(out, "auditor on the whole server") {
		t.Fatalf("role bind: %s", out)
	}
	admin.fails(6, "create-vs-restore", "role", "bind", "host1", "restore-operator", "--vault", "prod")
	admin.fails(6, "create-vs-delete", "role", "bind", "host1", "vault-admin")
	admin.fails(6, "no-self-grant", "role", "bind", "admin", "auditor")
	admin.fails(2, "unknown role", "role", "bind", "ops", "superuser")
	admin.fails(2, "vault-admin bindings only", "role", "bind", "ops", "restore-operator", "--bypass-governance")
	var bs []store.Binding
	admin.json(&bs, "role", "list")
	if len(bs) != 5 {
		t.Fatalf("role list: %d bindings, want 5: %+v", len(bs), bs)
	}
	admin.json(&bs, "role", "list", "--principal", "host1")
	if len(bs) != 1 || bs[0].Role != rbac.BackupOperator || bs[0].Vault != "prod" {
		t.Fatalf("role list --principal host1: %+v", bs)
	}
	var cs []rbac.Constraint
	admin.json(&cs, "role", "constraints")
	if len(cs) != 4 || cs[0].Name != rbac.NoSelfGrant || !cs[0].Fixed || !cs[0].Enabled {
		t.Fatalf("role constraints: %+v", cs)
	}
	var roles []api.Role
	admin.json(&roles, "role", "roles")
	if len(roles) != 6 {
		t.Fatalf("role roles: %+v", roles)
	}
	if out := admin.ok("role", "roles"); !strings.Contains(out, "backup-operator") || !strings.Contains(out, "point.create") {
		t.Fatalf("role roles:\n%s", out)
	}
	var ps []api.Principal
	admin.json(&ps, "user", "list")
	if len(ps) != 5 {
		t.Fatalf("user list: %d principals", len(ps))
	}
	if out := admin.ok("user", "list"); !strings.Contains(out, "backup-operator@prod") || !strings.Contains(out, "TOTP") {
		t.Fatalf("user list:\n%s", out)
	}

	// Tokens: one in JSON, one read from the human output.
	var hostTok api.NewToken
	admin.json(&hostTok, "token", "create", "--principal", "host1", "--vault", "prod", "--label", "host1")
	if !strings.HasPrefix(hostTok.Token, "bkr_") || hostTok.Principal != "host1" || len(hostTok.Vaults) != 1 {
		t.Fatalf("token create --json: %+v", hostTok)
	}
	r := admin.run("token", "create", "--principal", "ops", "--expires", "1d")
	if r.code != 0 || !strings.Contains(r.stderr, "only time the token is shown") {
		t.Fatalf("token create: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	opsTok := ""
	for _, l := range strings.Split(r.stdout, "\n") {
		if strings.HasPrefix(l, "bkr_") {
			opsTok = l
		}
	}
	if opsTok == "" {
		t.Fatalf("token create printed no token:\n%s", r.stdout)
	}
	admin.fails(2, "--expires", "token", "create", "--expires", "soon")
	var toks []store.Token
	admin.json(&toks, "token", "list", "--principal", "host1")
	if len(toks) != 1 || toks[0].ID != hostTok.ID || toks[0].Label != "host1" || toks[0].Vaults[0] != "prod" {
		t.Fatalf("token list: %+v", toks)
	}

	// A vault, locked under governance.
	vadmin := newEnv(t)
	login(vadmin, "vadmin", vadminPW)
	var v api.Vault
	vadmin.json(&v, "vault", "create", "prod", "--retention", "30d")
	if v.Name != "prod" || v.Policy.Retention != 30*24*time.Hour || v.Policy.BinRetention != retention.DefaultBinRetention {
		t.Fatalf("vault create --json: %+v", v.Vault)
	}
	vadmin.fails(2, "--retention", "vault", "create", "other", "--retention", "3x")
	vadmin.fails(1, "already exists", "vault", "create", "prod")
	vadmin.fails(2, "--mode", "vault", "lock", "prod", "--mode", "sometimes")
	vadmin.json(&v, "vault", "lock", "prod", "--mode", "governance", "--min-retention", "1d")
	if v.Policy.Lock.Mode != retention.Governance || v.Policy.Lock.MinRetention != 24*time.Hour {
		t.Fatalf("vault lock --json: %+v", v.Policy)
	}
	vadmin.json(&v, "vault", "set", "prod", "--bin-retention", "3d")
	if v.Policy.BinRetention != 3*24*time.Hour || v.Policy.Retention != 30*24*time.Hour {
		t.Fatalf("vault set --json: %+v", v.Policy)
	}
	vadmin.fails(2, "nothing to change", "vault", "set", "prod")
	if out := vadmin.ok("vault", "show", "prod"); !strings.Contains(out, "lock mode       governance") || !strings.Contains(out, "retention       30d") {
		t.Fatalf("vault show:\n%s", out)
	}
	var vs []api.Vault
	vadmin.json(&vs, "vault", "list")
	if len(vs) != 1 || vs[0].Name != "prod" {
		t.Fatalf("vault list: %+v", vs)
	}

	// Back up with the service token, twice; the host may do nothing else.
	src := t.TempDir()
	testfs.Build(t, src)
	host := newEnv(t, "BUNKER_TOKEN="+hostTok.Token)
	remote := []string{"--server", url, "--fingerprint", fp, "--vault", "prod"}
	host.ok(append([]string{"backup", "-q", "--tag", "daily", src}, remote...)...)
	host.ok(append([]string{"backup", "-q", src}, remote...)...)
	host.fails(6, "lacks the point.read permission", append([]string{"point", "list"}, remote...)...)
	host.fails(6, "lacks the point.delete permission", append([]string{"point", "delete", "latest"}, remote...)...)

	// Restore with the restore operator's token.
	ops := newEnv(t, "BUNKER_TOKEN="+opsTok)
	target := t.TempDir()
	ops.ok(append([]string{"restore", "-q", "latest", "--target", target}, remote...)...)
	testfs.Compare(t, src, filepath.Join(target, src))

	// Points.
	var pts []api.Point
	vadmin.json(&pts, "point", "list", "--vault", "prod")
	if len(pts) != 2 {
		t.Fatalf("point list: %d points", len(pts))
	}
	first, second := pts[0], pts[1]
	for _, pt := range pts {
		if !pt.Retained || pt.Lock != retention.Governance || pt.State != store.Active || pt.CreatedBy != "host1" ||
			pt.Expires.Sub(pt.Time) != 30*24*time.Hour {
			t.Fatalf("point %+v", pt.Point)
		}
	}
	if len(first.Tags) != 1 || first.Tags[0] != "daily" || second.Parent != first.ID {
		t.Fatalf("points: tags %v, parent %q (want %s)", first.Tags, second.Parent, first.ID)
	}
	list := vadmin.ok("point", "list", "--vault", "prod")
	for _, want := range []string{"RETAINED", first.ID[:8], second.ID[:8], "daily", "2 points"} {
		if !strings.Contains(list, want) {
			t.Fatalf("point list lacks %q:\n%s", want, list)
		}
	}
	var pt api.Point
	vadmin.json(&pt, "point", "show", "--vault", "prod", "latest")
	if pt.ID != second.ID {
		t.Fatalf("point show latest: %s, want %s", pt.ID, second.ID)
	}
	if out := vadmin.ok("point", "show", "--vault", "prod", first.ID[:8]); !strings.Contains(out, first.ID) || !strings.Contains(out, "governance: retained") {
		t.Fatalf("point show:\n%s", out)
	}
	vadmin.fails(2, "hex digits", "point", "show", "--vault", "prod", "xyz")
	vadmin.fails(2, "--vault", "point", "list")

	// A legal hold stops deletion; after its release, the lock still does.
	var h store.Hold
	vadmin.json(&h, "point", "hold", "--vault", "prod", first.ID[:8], "--reason", "case 42")
	if h.ID == 0 || h.Point != first.ID || h.Reason != "case 42" {
		t.Fatalf("point hold --json: %+v", h)
	}
	vadmin.fails(2, "exactly one", "point", "hold", "--vault", "prod", first.ID[:8], "--tag", "daily", "--reason", "x")
	vadmin.fails(2, "exactly one", "point", "hold", "--vault", "prod", "--reason", "x")
	vadmin.fails(2, "--reason", "point", "hold", "--vault", "prod", "--tag", "daily")
	var hs []store.Hold
	vadmin.json(&hs, "point", "holds", "--vault", "prod")
	if len(hs) != 1 || hs[0].ID != h.ID {
		t.Fatalf("point holds: %+v", hs)
	}
	vadmin.json(&pt, "point", "show", "--vault", "prod", first.ID)
	if len(pt.Holds) != 1 || pt.Holds[0] != h.ID {
		t.Fatalf("point show: holds %v, want [%d]", pt.Holds, h.ID)
	}
	vadmin.fails(1, "release it first", "point", "delete", "--vault", "prod", first.ID[:8])
	vadmin.json(&h, "point", "release", "--vault", "prod", strconv.FormatInt(h.ID, 10))
	if h.ReleasedAt.IsZero() || h.ReleasedBy != "vadmin" {
		t.Fatalf("point release --json: %+v", h)
	}
	vadmin.json(&hs, "point", "holds", "--vault", "prod")
	if len(hs) != 0 {
		t.Fatalf("holds after release: %+v", hs)
	}
	vadmin.json(&hs, "point", "holds", "--vault", "prod", "--released")
	if len(hs) != 1 {
		t.Fatalf("holds --released: %+v", hs)
	}
	// Holds by tag and by time range cover the points they select.
	var byTag, byTime store.Hold
	vadmin.json(&byTag, "point", "hold", "--vault", "prod", "--tag", "daily", "--reason", "tagged")
	vadmin.json(&byTime, "point", "hold", "--vault", "prod", "--reason", "range",
		"--from", second.Time.Add(-time.Millisecond).Format(time.RFC3339Nano), "--to", second.Time.Add(time.Minute).Format(time.RFC3339))
	if byTag.Tag != "daily" || byTime.From.IsZero() || byTime.To.IsZero() {
		t.Fatalf("holds: %+v %+v", byTag, byTime)
	}
	vadmin.json(&pts, "point", "list", "--vault", "prod")
	if len(pts) != 2 || len(pts[0].Holds) != 1 || pts[0].Holds[0] != byTag.ID || len(pts[1].Holds) != 1 || pts[1].Holds[0] != byTime.ID {
		t.Fatalf("holds by tag %d and time %d; points hold %v and %v", byTag.ID, byTime.ID, pts[0].Holds, pts[1].Holds)
	}
	vadmin.ok("point", "release", "--vault", "prod", strconv.FormatInt(byTag.ID, 10))
	vadmin.ok("point", "release", "--vault", "prod", strconv.FormatInt(byTime.ID, 10))
	vadmin.fails(1, "already released", "point", "release", "--vault", "prod", strconv.FormatInt(byTime.ID, 10))
	vadmin.fails(1, "governance lock keeps point "+first.ID[:8], "point", "delete", "--vault", "prod", first.ID[:8])
	vadmin.fails(1, "holds 2 points", "vault", "delete", "prod")

	// Retention.
	vadmin.json(&pt, "point", "retain", "--vault", "prod", second.ID[:8], "--extend", "30d")
	if !pt.Expires.Equal(second.Expires.Add(30 * 24 * time.Hour)) {
		t.Fatalf("point retain --extend 30d: expires %v, was %v", pt.Expires, second.Expires)
	}
	vadmin.fails(2, "exactly one", "point", "retain", "--vault", "prod", second.ID[:8], "--extend", "1d", "--forever")
	vadmin.fails(1, "governance lock forbids shortening", "point", "retain", "--vault", "prod", second.ID[:8],
		"--until", second.Expires.Add(24*time.Hour).UTC().Format(time.RFC3339))

	// Unlocked, a point can go to the recycle bin and come back.
	vadmin.json(&v, "vault", "unlock", "prod")
	if v.Policy.Lock.Mode != retention.None {
		t.Fatalf("vault unlock --json: %+v", v.Policy.Lock)
	}
	vadmin.json(&pt, "point", "delete", "--vault", "prod", first.ID[:8])
	if pt.State != store.Binned || pt.PurgeAfter.Sub(pt.BinnedAt) != 3*24*time.Hour {
		t.Fatalf("point delete --json: %+v", pt.Point)
	}
	vadmin.json(&pts, "point", "list", "--vault", "prod", "--state", "binned")
	if len(pts) != 1 || pts[0].ID != first.ID {
		t.Fatalf("point list --state binned: %+v", pts)
	}
	vadmin.json(&pt, "point", "undelete", "--vault", "prod", first.ID[:8])
	if pt.State != store.Active {
		t.Fatalf("point undelete --json: %+v", pt.Point)
	}
	var rep api.MaintenanceReport
	vadmin.json(&rep, "vault", "maintain", "prod")
	if rep.Job == 0 || rep.GC == nil || rep.GC.Points != 2 || len(rep.Purged) != 0 {
		t.Fatalf("vault maintain --json: %+v", rep)
	}
	if out := vadmin.ok("vault", "maintain", "prod"); !strings.Contains(out, "garbage collection: 2 points") || !strings.Contains(out, "retention extended on 0 objects") {
		t.Fatalf("vault maintain:\n%s", out)
	}
	var jobs []store.Job
	vadmin.json(&jobs, "job", "list")
	if len(jobs) < 2 || jobs[0].Kind != "maintenance" || jobs[0].Vault != "prod" || jobs[0].State != store.JobSucceded {
		t.Fatalf("job list: %+v", jobs)
	}
	if out := vadmin.ok("job", "list"); !strings.Contains(out, "maintenance") || !strings.Contains(out, "succeeded") {
		t.Fatalf("job list:\n%s", out)
	}
	var maint []store.Job
	vadmin.json(&maint, "jobs", "list", "--kind", "maintenance", "--vault", "prod", "--state", "succeeded", "--limit", "1")
	if len(maint) != 1 || maint[0].ID != jobs[0].ID {
		t.Fatalf("jobs list with filters: %+v", maint)
	}
	id := strconv.FormatInt(jobs[0].ID, 10)
	var shown store.Job
	vadmin.json(&shown, "jobs", "show", id)
	if shown.ID != jobs[0].ID || shown.Kind != "maintenance" || shown.State != store.JobSucceded {
		t.Fatalf("jobs show: %+v", shown)
	}
	if out := vadmin.ok("jobs", "watch", id); !strings.Contains(out, "job "+id+": maintenance of vault prod, succeeded") {
		t.Fatalf("jobs watch:\n%s", out)
	}
	vadmin.fails(2, "not a positive integer", "jobs", "show", "x")
	vadmin.fails(1, "state", "jobs", "list", "--state", "done")

	// TOTP: enroll in two steps, then a security-admin resets it.
	var enroll api.TOTPEnrollment
	vadmin.json(&enroll, "user", "totp", "enroll")
	code, err := totp.GenerateCode(enroll.Secret, time.Now())
	if err != nil || !strings.HasPrefix(enroll.URL, "otpauth://") || enroll.Enabled {
		t.Fatalf("user totp enroll --json: %v %v", enroll, err)
	}
	vadmin.ok("user", "totp", "enroll", "--code", code)
	admin.json(&ps, "user", "list")
	for _, p := range ps {
		if p.Name == "vadmin" && !p.TOTP {
			t.Fatal("user list: vadmin has no TOTP after enrolment")
		}
	}
	vadmin.fails(6, "TOTP second factor", "login", "--user", "vadmin", "--password-file", vadminPW)
	admin.ok("user", "totp", "reset", "vadmin")
	admin.json(&ps, "user", "list")
	for _, p := range ps {
		if p.Name == "vadmin" && p.TOTP {
			t.Fatal("user list: vadmin still has TOTP after reset")
		}
	}

	// Passwords.
	newPW := secretFile(t, "a brand new password")
	vadmin.ok("user", "passwd", "--current-password-file", vadminPW, "--new-password-file", newPW)
	vadmin.fails(6, "wrong", "login", "--user", "vadmin", "--password-file", vadminPW)
	login(vadmin, "vadmin", newPW)
	admin.ok("user", "passwd", "ops", "--new-password-file", newPW)
	admin.fails(2, "--current-password-file", "user", "passwd", "admin")

	// The audit log.
	aud := newEnv(t)
	login(aud, "aud", audPW)
	vadmin.fails(6, "audit.read", "audit", "tail")
	var entries []audit.Entry
	for _, l := range strings.Split(strings.TrimSpace(aud.ok("audit", "tail", "-n", "5", "--json")), "\n") {
		var e audit.Entry
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("audit tail --json line %q: %v", l, err)
		}
		entries = append(entries, e)
	}
	// The newest entries: aud's login, then vadmin's refused read.
	if len(entries) != 5 || entries[3].Action != "auth.login" || entries[3].Actor != "aud" ||
		entries[4].Actor != "vadmin" || entries[4].Outcome != audit.OutcomeDenied {
		t.Fatalf("audit tail -n 5: %+v", entries)
	}
	for i := 1; i < len(entries); i++ {
		if entries[i].Seq != entries[i-1].Seq+1 {
			t.Fatalf("audit tail: seqs %d then %d", entries[i-1].Seq, entries[i].Seq)
		}
	}
	if out := aud.ok("audit", "tail", "-n", "3"); len(strings.Split(strings.TrimSpace(out), "\n")) != 3 || !strings.Contains(out, "auth.login") {
		t.Fatalf("audit tail -n 3:\n%s", out)
	}
	if out := aud.ok("audit", "verify"); !strings.Contains(out, "no problems found") {
		t.Fatalf("audit verify:\n%s", out)
	}
	var vr struct {
		OK             bool            `json:"ok"`
		Entries        int             `json:"entries"`
		LastSeq        uint64          `json:"last_seq"`
		LastCheckpoint uint64          `json:"last_checkpoint"`
		KeySource      string          `json:"key_source"`
		Problems       []audit.Problem `json:"problems"`
	}
	aud.json(&vr, "audit", "verify")
	if !vr.OK || vr.Entries < 20 || vr.LastCheckpoint != vr.LastSeq || vr.KeySource != "saved at login" || vr.Problems == nil {
		t.Fatalf("audit verify --json: %+v", vr)
	}
	export := filepath.Join(t.TempDir(), "audit.jsonl")
	aud.ok("audit", "export", "-o", export)
	data, err := os.ReadFile(export)
	if err != nil {
		t.Fatal(err)
	}
	var header struct {
		KeyID     string `json:"key_id"`
		PublicKey []byte `json:"public_key"`
	}
	if err := json.Unmarshal(data[:strings.IndexByte(string(data), '\n')], &header); err != nil || header.KeyID == "" {
		t.Fatalf("export header: %v", err)
	}
	aud.ok("audit", "verify", "--file", export)
	// An edited entry is found and named.
	lines := strings.Split(string(data), "\n")
	edited := uint64(0)
	for i, l := range lines {
		if strings.Contains(l, `"action":"vault.lock"`) {
			var e audit.Entry
			if err := json.Unmarshal([]byte(l), &e); err != nil {
				t.Fatal(err)
			}
			lines[i], edited = strings.Replace(l, `"target":"vault/prod"`, `"target":"vault/prox"`, 1), e.Seq
			break
		}
	}
	tampered := filepath.Join(t.TempDir(), "tampered.jsonl")
	if err := os.WriteFile(tampered, []byte(strings.Join(lines, "\n")), 0o644); err != nil || edited == 0 {
		t.Fatalf("tamper: %v (entry %d)", err, edited)
	}
	r = aud.run("audit", "verify", "--file", tampered, "--json")
	if r.code != 4 || !json.Valid([]byte(strings.Split(r.stdout, "\n")[0])) {
		t.Fatalf("audit verify of a tampered export: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	json.Unmarshal([]byte(strings.Split(r.stdout, "\n")[0]), &vr)
	if vr.OK || len(vr.Problems) != 1 || vr.Problems[0].Kind != audit.KindEdited || vr.Problems[0].Seq != edited {
		t.Fatalf("tampered export: problems %+v, want one edited entry %d", vr.Problems, edited)
	}
	if r := aud.fails(4, "failed verification", "audit", "verify", "--file", tampered); !strings.Contains(r.stdout, "seq "+strconv.FormatUint(edited, 10)+"  edited") {
		t.Fatalf("audit verify does not name the edited entry %d:\n%s", edited, r.stdout)
	}
	// Without a login, the trusted key must be given.
	stranger := newEnv(t)
	stranger.fails(2, "--public-key", "audit", "verify", "--file", export)
	stranger.ok("audit", "verify", "--file", export, "--key-id", header.KeyID)
	stranger.ok("audit", "verify", "--file", export, "--public-key", base64.StdEncoding.EncodeToString(header.PublicKey))
	stranger.fails(4, "failed verification", "audit", "verify", "--file", export, "--key-id", "ed25519:0000000000000000")
	if out := stranger.run("audit", "verify", "--file", export, "--key-id", "ed25519:0000000000000000").stdout; !strings.Contains(out, "wrong-key") {
		t.Fatalf("wrong key id not reported:\n%s", out)
	}

	// tail --follow prints new entries until interrupted.
	follow := exec.Command(bin, "audit", "tail", "-n", "0", "--follow", "--json")
	follow.Env, follow.Dir = aud.vars, aud.home
	out, err := follow.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := follow.Start(); err != nil {
		t.Fatal(err)
	}
	seen := make(chan audit.Entry, 16)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var e audit.Entry
			if json.Unmarshal(sc.Bytes(), &e) == nil {
				seen <- e
			}
		}
		close(seen)
	}()
	time.Sleep(300 * time.Millisecond)
	admin.ok("user", "create", "late", "--service")
	deadline := time.After(15 * time.Second)
wait:
	for {
		select {
		case e, ok := <-seen:
			if !ok {
				t.Fatal("audit tail --follow ended by itself")
			}
			if e.Target == "principal/late" && e.Action == "principal.create" {
				break wait
			}
		case <-deadline:
			follow.Process.Kill()
			t.Fatal("audit tail --follow did not print the new entry within 15s")
		}
	}
	follow.Process.Signal(os.Interrupt)
	for range seen {
	}
	if err := follow.Wait(); err != nil {
		t.Fatalf("audit tail --follow after an interrupt: %v", err)
	}

	// Disabling revokes tokens; revoked tokens stop working.
	admin.json(&p, "user", "disable", "ops")
	if !p.Disabled {
		t.Fatalf("user disable --json: %+v", p.Principal)
	}
	ops.fails(6, "", append([]string{"restore", "latest", "--target", t.TempDir()}, remote...)...)
	admin.ok("user", "enable", "ops")
	admin.ok("token", "revoke", hostTok.ID)
	host.fails(6, "revoked", append([]string{"backup", "-q", src}, remote...)...)
	admin.json(&toks, "token", "list", "--principal", "host1")
	if len(toks) != 1 || toks[0].RevokedAt.IsZero() {
		t.Fatalf("token list after revoke: %+v", toks)
	}
	admin.ok("role", "unbind", strconv.FormatInt(b.ID, 10))
	vadmin.fails(6, "vault.read", "vault", "show", "prod")

	srv.stop(t)
	if r := admin.run("vault", "list"); r.code == 0 {
		t.Fatal("vault list succeeded with the server stopped")
	}
}

// TestServerNotifyFlags: bad notification targets stop the server before
// it starts, with a message that names the flag.
func TestServerNotifyFlags(t *testing.T) {
	e := newEnv(t)
	data := filepath.Join(t.TempDir(), "data")
	base := []string{"server", "--data", data, "--key-file", filepath.Join(t.TempDir(), "k"), "--listen", "127.0.0.1:0"}
	e.fails(2, "needs --webhook-secret-file", append(base, "--notify", "https://hooks.example/x")...)
	e.fails(2, "--notify", append(base, "--notify", "gopher://x")...)
	e.fails(2, "--webhook-secret-file", append(base, "--webhook-secret-file", secretFile(t, "s"))...)
	e.fails(2, "--webhook-secret-file", append(base, "--notify", "https://hooks.example/x", "--webhook-secret-file", filepath.Join(t.TempDir(), "none"))...)
	if _, err := os.Stat(data); !os.IsNotExist(err) {
		t.Fatalf("the server made its data directory before refusing: %v", err)
	}
}
