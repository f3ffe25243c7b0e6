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
