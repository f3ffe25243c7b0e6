package main_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const cliPlans = `name: web
schedule:
  rate: every 6h
vault: prod
sources:
  - host: web1
    paths: [/srv/www]
retention:
  keep_last: 4
---
name: db
schedule:
  cron: "30 2 * * *"
vault: prod
sources:
  - host: db1
    paths: [/var/backups]
`

// TestApplyPlans drives bunker apply and bunker plan against a real
// server: a dry run, an apply, the same apply again, a refused file, the
// plans read back, prune and delete, and an outsider refused.
func TestApplyPlans(t *testing.T) {
	srv := startServer(t, newEnv(t))
	login := func(e *env, user, pwFile string) {
		t.Helper()
		e.ok("login", "--server", srv.url, "--fingerprint", srv.fingerprint, "--user", user, "--password-file", pwFile)
	}
	admin := newEnv(t)
	login(admin, "admin", srv.adminPWFile)
	pw, opsPW := secretFile(t, "vault admin password 1"), secretFile(t, "restore operator pw 2")
	admin.ok("user", "create", "vadmin", "--password-file", pw)
	admin.ok("user", "create", "ops", "--password-file", opsPW)
	admin.ok("role", "bind", "vadmin", "vault-admin")
	admin.ok("role", "bind", "ops", "restore-operator", "--vault", "prod")
	vadmin, ops := newEnv(t), newEnv(t)
	login(vadmin, "vadmin", pw)
	login(ops, "ops", opsPW)
	vadmin.ok("vault", "create", "prod", "--retention", "30d")

	dir := t.TempDir()
	file := filepath.Join(dir, "plans.yaml")
	if err := os.WriteFile(file, []byte(cliPlans), 0o600); err != nil {
		t.Fatal(err)
	}
	out := vadmin.ok("apply", "-f", file, "--dry-run")
	if !strings.Contains(out, `+ plan "web" (create)`) || !strings.Contains(out, "2 to create, 0 to update, 0 to delete") {
		t.Fatalf("apply --dry-run:\n%s", out)
	}
	if out := vadmin.ok("plan", "list"); strings.Contains(out, "web") {
		t.Fatalf("a dry run created plans:\n%s", out)
	}
	vadmin.ok("apply", "-f", file)
	if out := vadmin.ok("apply", "-f", file); !strings.Contains(out, "no changes") {
		t.Fatalf("second apply:\n%s", out)
	}
	out = vadmin.ok("plan", "list")
	if !strings.Contains(out, "every 6h") || !strings.Contains(out, "db1") {
		t.Fatalf("plan list:\n%s", out)
	}
	shown := vadmin.ok("plan", "show", "web")
	if !strings.Contains(shown, "rate: every 6h") || !strings.Contains(shown, "start_window: 1h") {
		t.Fatalf("plan show:\n%s", shown)
	}

	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte(strings.Replace(cliPlans, "paths: [/srv/www]", "paths: [srv/www]", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	vadmin.fails(2, `plan "web": sources[0].paths[0] (line 7)`, "apply", "-f", bad)
	r := vadmin.run("apply", "-f", bad, "--json")
	var first map[string]any
	if err := json.Unmarshal([]byte(strings.SplitN(r.stdout, "\n", 2)[0]), &first); err != nil || r.code != 2 ||
		first["message_type"] != "plan_error" || first["field"] != "sources[0].paths[0]" || first["line"] != float64(7) {
		t.Fatalf("apply --json of a refused file: exit %d, %s", r.code, r.stdout)
	}

	ops.fails(6, "vault.policy", "apply", "-f", file, "--prune")
	ops.fails(6, "vault.policy", "plan", "delete", "web")

	web := filepath.Join(dir, "web.yaml")
	if err := os.WriteFile(web, []byte(shown), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := vadmin.ok("apply", "-f", web); !strings.Contains(out, "no changes") {
		t.Fatalf("applying plan show's output:\n%s", out)
	}
	if out := vadmin.ok("apply", "-f", web, "--prune"); !strings.Contains(out, `- plan "db" (delete)`) {
		t.Fatalf("apply --prune:\n%s", out)
	}
	vadmin.ok("plan", "delete", "web")
	vadmin.fails(1, "no plan", "plan", "show", "web")
}
