package main_test

import (
	"strings"
	"testing"

	"github.com/bunkerhq/bunker/internal/api"
	"github.com/bunkerhq/bunker/internal/testfs"
)

func TestPushCommands(t *testing.T) {
	work, central := startServer(t, newEnv(t)), startServer(t, newEnv(t))
	// The central site: a vault, and a principal that may only add points
	// to it.
	cadmin := newEnv(t)
	cadmin.ok("login", "--server", central.url, "--fingerprint", central.fingerprint, "--user", "admin", "--password-file", central.adminPWFile)
	cvPW := secretFile(t, "central vault admin 1")
	cadmin.ok("user", "create", "cvadmin", "--password-file", cvPW)
	cadmin.ok("role", "bind", "cvadmin", "vault-admin")
	cadmin.ok("user", "create", "site-a", "--service")
	cadmin.ok("role", "bind", "site-a", "backup-operator", "--vault", "central")
	var pushTok, adminTok api.NewToken
	cadmin.json(&pushTok, "token", "create", "--principal", "site-a")
	cadmin.json(&adminTok, "token", "create", "--principal", "cvadmin")
	cv := newEnv(t)
	cv.ok("login", "--server", central.url, "--fingerprint", central.fingerprint, "--user", "cvadmin", "--password-file", cvPW)
	cv.ok("vault", "create", "central", "--retention", "90d")

	// The workload site: a vault, a backup host, and a vault-admin who
	// may read the vault it pushes.
	wadmin := newEnv(t)
	wadmin.ok("login", "--server", work.url, "--fingerprint", work.fingerprint, "--user", "admin", "--password-file", work.adminPWFile)
	wadmin.ok("user", "create", "host1", "--service")
	wadmin.ok("role", "bind", "host1", "backup-operator", "--vault", "prod")
	wvPW := secretFile(t, "workload vault admin 1")
	wadmin.ok("user", "create", "wvadmin", "--password-file", wvPW)
	wadmin.ok("role", "bind", "wvadmin", "vault-admin")
	wadmin.ok("role", "bind", "wvadmin", "restore-operator", "--vault", "prod")
	var hostTok api.NewToken
	wadmin.json(&hostTok, "token", "create", "--principal", "host1")
	wv := newEnv(t)
	wv.ok("login", "--server", work.url, "--fingerprint", work.fingerprint, "--user", "wvadmin", "--password-file", wvPW)
	wv.ok("vault", "create", "prod", "--retention", "7d")
	src := t.TempDir()
	testfs.Build(t, src)
	host := newEnv(t, "BUNKER_TOKEN="+hostTok.Token)
	host.ok("backup", "-q", "--vault", "prod", "--server", work.url, "--fingerprint", work.fingerprint, src)

	add := []string{"push-target", "add", "central", "--url", central.url, "--fingerprint", central.fingerprint, "--vault", "central"}
	wv.fails(1, "backup-operator on vault central only", append(add, "--token-file", secretFile(t, adminTok.Token))...)
	wv.fails(2, "--vault", "push-target", "add", "central", "--url", central.url, "--fingerprint", central.fingerprint,
		"--token-file", secretFile(t, pushTok.Token))
	wv.ok(append(add, "--token-file", secretFile(t, pushTok.Token))...)
	var ts []api.PushTarget
	wv.json(&ts, "push-target", "list")
	if len(ts) != 1 || ts[0].Name != "central" || ts[0].Vault != "central" || ts[0].Principal != "site-a" {
		t.Fatalf("push-target list --json: %+v", ts)
	}
	if out := wv.ok("point", "push", "--vault", "prod", "latest", "--target", "central"); !strings.Contains(out, "pushed point") || !strings.Contains(out, "of vault central") {
		t.Fatalf("point push:\n%s", out)
	}
	var rep api.PushReport
	wv.json(&rep, "point", "push", "--vault", "prod", "latest", "--target", "central")
	if !rep.Existing || rep.ToPoint == "" {
		t.Fatalf("point push of a pushed point --json: %+v", rep)
	}
	var p api.Point
	cv.json(&p, "point", "show", "--vault", "central", rep.ToPoint[:8])
	if p.Origin == nil || p.Origin.Site != "site-a" || p.Origin.Vault != "prod" || p.CreatedBy != "site-a" {
		t.Fatalf("the pushed point at the central site: %+v", p)
	}
	var removed map[string]string
	wv.json(&removed, "push-target", "remove", "central")
	if removed["status"] != "deleted" || removed["push_target"] != "central" {
		t.Fatalf("push-target remove --json: %v", removed)
	}
	wv.fails(1, "no push target central", "push-target", "remove", "central")
}
