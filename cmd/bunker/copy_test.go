package main_test

import (
	"strings"
	"testing"

	"github.com/bunkerhq/bunker/internal/api"
	"github.com/bunkerhq/bunker/internal/testfs"
)

func TestPointCopyCommand(t *testing.T) {
	srv := startServer(t, newEnv(t))
	login := []string{"login", "--server", srv.url, "--fingerprint", srv.fingerprint}
	admin := newEnv(t)
	admin.ok(append(login, "--user", "admin", "--password-file", srv.adminPWFile)...)
	vadminPW := secretFile(t, "vault admin password 1")
	admin.ok("user", "create", "vadmin", "--password-file", vadminPW)
	admin.ok("role", "bind", "vadmin", "vault-admin")
	admin.ok("user", "create", "host1", "--service")
	admin.ok("role", "bind", "host1", "backup-operator", "--vault", "prod")
	admin.ok("user", "create", "copier", "--service")
	admin.ok("role", "bind", "copier", "restore-operator", "--vault", "prod")
	admin.ok("role", "bind", "copier", "backup-operator", "--vault", "central")
	var hostTok, copierTok api.NewToken
	admin.json(&hostTok, "token", "create", "--principal", "host1")
	admin.json(&copierTok, "token", "create", "--principal", "copier")

	vadmin := newEnv(t)
	vadmin.ok(append(login, "--user", "vadmin", "--password-file", vadminPW)...)
	vadmin.ok("vault", "create", "prod", "--retention", "7d")
	vadmin.ok("vault", "create", "central", "--retention", "90d")

	src := t.TempDir()
	testfs.Build(t, src)
	remote := []string{"--server", srv.url, "--fingerprint", srv.fingerprint}
	host := newEnv(t, "BUNKER_TOKEN="+hostTok.Token)
	host.ok(append([]string{"backup", "-q", "--vault", "prod", src}, remote...)...)

	copier := newEnv(t, "BUNKER_TOKEN="+copierTok.Token)
	cp := append([]string{"point", "copy", "--vault", "prod", "latest"}, remote...)
	var rep api.CopyReport
	copier.json(&rep, append(cp, "--to", "central")...)
	if rep.Existing || rep.Point.Vault != "central" || rep.Point.Origin == nil || rep.Point.Origin.Vault != "prod" || rep.Stats.BlobsRead == 0 {
		t.Fatalf("point copy --json: %+v", rep)
	}
	if out := copier.ok(append(cp, "--to", "central")...); !strings.Contains(out, "holds a copy of point") {
		t.Fatalf("point copy of a copied point:\n%s", out)
	}
	copier.fails(2, "--to", cp...)
	host.fails(6, "data.read", append(cp, "--to", "central")...)

	// The copy restores from the central vault.
	target := t.TempDir()
	admin.ok("role", "bind", "vadmin", "restore-operator", "--vault", "central")
	vadmin.ok(append([]string{"restore", "-q", rep.Point.ID[:8], "--vault", "central", "--target", target}, remote...)...)
	testfs.Compare(t, src, target+src)
}

func TestRemoteCommands(t *testing.T) {
	work, central := startServer(t, newEnv(t)), startServer(t, newEnv(t))
	// The workload site: a vault, a backup host, a replication principal.
	wadmin := newEnv(t)
	wadmin.ok("login", "--server", work.url, "--fingerprint", work.fingerprint, "--user", "admin", "--password-file", work.adminPWFile)
	wadmin.ok("user", "create", "host1", "--service")
	wadmin.ok("role", "bind", "host1", "backup-operator", "--vault", "prod")
	wadmin.ok("user", "create", "puller", "--service")
	wadmin.ok("role", "bind", "puller", "restore-operator", "--vault", "prod")
	wvadminPW := secretFile(t, "workload vault admin 1")
	wadmin.ok("user", "create", "wvadmin", "--password-file", wvadminPW)
	wadmin.ok("role", "bind", "wvadmin", "vault-admin")
	var hostTok, pullTok api.NewToken
	wadmin.json(&hostTok, "token", "create", "--principal", "host1")
	wadmin.json(&pullTok, "token", "create", "--principal", "puller")
	wv := newEnv(t)
	wv.ok("login", "--server", work.url, "--fingerprint", work.fingerprint, "--user", "wvadmin", "--password-file", wvadminPW)
	wv.ok("vault", "create", "prod", "--retention", "7d")
	src := t.TempDir()
	testfs.Build(t, src)
	host := newEnv(t, "BUNKER_TOKEN="+hostTok.Token)
	host.ok("backup", "-q", "--vault", "prod", "--server", work.url, "--fingerprint", work.fingerprint, src)

	// The central site.
	cadmin := newEnv(t)
	cadmin.ok("login", "--server", central.url, "--fingerprint", central.fingerprint, "--user", "admin", "--password-file", central.adminPWFile)
	cvPW := secretFile(t, "central vault admin 1")
	cadmin.ok("user", "create", "cvadmin", "--password-file", cvPW)
	cadmin.ok("role", "bind", "cvadmin", "vault-admin")
	cv := newEnv(t)
	cv.ok("login", "--server", central.url, "--fingerprint", central.fingerprint, "--user", "cvadmin", "--password-file", cvPW)
	cv.ok("vault", "create", "central", "--retention", "90d")

	add := []string{"remote", "add", "site-a", "--url", work.url, "--fingerprint", work.fingerprint, "--follow", "prod:central"}
	cv.fails(1, "restore-operator only", append(add, "--token-file", secretFile(t, hostTok.Token))...)
	cv.fails(2, "REMOTE-VAULT:LOCAL-VAULT", "remote", "add", "site-a", "--url", work.url, "--fingerprint", work.fingerprint,
		"--token-file", secretFile(t, pullTok.Token), "--follow", "prod")
	cv.ok(append(add, "--token-file", secretFile(t, pullTok.Token))...)
	var rs []api.Remote
	cv.json(&rs, "remote", "list")
	if len(rs) != 1 || rs[0].Name != "site-a" || len(rs[0].Follow) != 1 || rs[0].Follow[0].ToVault != "central" {
		t.Fatalf("remote list --json: %+v", rs)
	}
	if out := cv.ok("remote", "sync", "site-a"); !strings.Contains(out, "copied point") || !strings.Contains(out, "on site-a") {
		t.Fatalf("remote sync:\n%s", out)
	}
	if out := cv.ok("remote", "sync", "site-a"); !strings.Contains(out, "nothing new") {
		t.Fatalf("second remote sync:\n%s", out)
	}
	var rep api.CopyReport
	cv.json(&rep, "remote", "pull", "site-a", "--from", "prod", "latest", "--to", "central")
	if !rep.Existing || rep.FromSite != "site-a" || rep.Point.Origin == nil || rep.Point.Origin.Site != "site-a" {
		t.Fatalf("remote pull of a pulled point --json: %+v", rep)
	}
	if out := cv.ok("posture"); !strings.Contains(out, "does not meet 3-2-1-1") || !strings.Contains(out, "site-a/prod") || !strings.Contains(out, "here/central") {
		t.Fatalf("posture:\n%s", out)
	}
	if out := cv.ok("remote", "remove", "site-a"); out != "remote site-a removed\n" {
		t.Fatalf("remote remove printed %q", out)
	}
	cv.fails(1, "no remote site-a", "remote", "remove", "site-a")
}
