package main_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bunkerhq/bunker/internal/api"
	"github.com/bunkerhq/bunker/internal/store"
	"github.com/bunkerhq/bunker/internal/testfs"
)

func TestRuleAndDeliveryCommands(t *testing.T) {
	srv := startServer(t, newEnv(t))
	login := []string{"login", "--server", srv.url, "--fingerprint", srv.fingerprint}
	admin := newEnv(t)
	admin.ok(append(login, "--user", "admin", "--password-file", srv.adminPWFile)...)
	vadminPW := secretFile(t, "vault admin password 1")
	admin.ok("user", "create", "vadmin", "--password-file", vadminPW)
	admin.ok("role", "bind", "vadmin", "vault-admin")
	admin.ok("user", "create", "host1", "--service")
	admin.ok("role", "bind", "host1", "backup-operator", "--vault", "prod")
	var hostTok api.NewToken
	admin.json(&hostTok, "token", "create", "--principal", "host1")

	vadmin := newEnv(t)
	vadmin.ok(append(login, "--user", "vadmin", "--password-file", vadminPW)...)
	vadmin.ok("vault", "create", "prod", "--retention", "7d")
	vadmin.ok("vault", "create", "central", "--retention", "90d")

	// A YAML rule without a name copies prod's new points into central;
	// a JSON one sends them to a webhook whose secret the server lacks.
	dir := t.TempDir()
	copyRule := filepath.Join(dir, "to-central.yaml")
	writeFile(t, copyRule, "description: every new point of prod, to central\npattern:\n  kind: [backup.completed]\n  vault: [prod]\ntargets:\n  - copy: {action: central}\n")
	if out := vadmin.ok("rule", "put", "to-central", "-f", copyRule); !strings.Contains(out, "event rule to-central stored; it sends to copy central") {
		t.Fatalf("rule put:\n%s", out)
	}
	hookRule := `{"name": "hook", "pattern": {"kind": ["backup.completed"]},
		"targets": [{"webhook": {"url": "https://alerts.example/secret-path", "secret": "missing"}}]}`
	if r := vadmin.runIn([]byte(hookRule), "rule", "put", "hook", "-f", "-"); r.code != 0 {
		t.Fatalf("rule put -f -: exit %d\n%s", r.code, r.stderr)
	}
	var rules []api.EventRule
	vadmin.json(&rules, "rule", "list")
	if len(rules) != 2 || rules[0].Name != "hook" || rules[1].Name != "to-central" {
		t.Fatalf("rule list --json: %+v", rules)
	}
	if out := vadmin.ok("rule", "list"); !strings.Contains(out, "to-central") || !strings.Contains(out, "enabled") {
		t.Fatalf("rule list:\n%s", out)
	}
	shown := vadmin.ok("rule", "show", "to-central")
	var spec map[string]any
	if err := json.Unmarshal([]byte(shown), &spec); err != nil || spec["name"] != "to-central" || spec["description"] != "every new point of prod, to central" {
		t.Fatalf("rule show: %v\n%s", err, shown)
	}
	// What show prints, put takes back.
	shownFile := filepath.Join(dir, "shown.json")
	writeFile(t, shownFile, shown)
	vadmin.ok("rule", "put", "to-central", "-f", shownFile)

	// Refusals: a file naming another rule, a bad pattern, no permission.
	vadmin.fails(2, `names rule "to-central", not other`, "rule", "put", "other", "-f", shownFile)
	bad := filepath.Join(dir, "bad.json")
	writeFile(t, bad, `{"pattern": {"kinds": ["backup.completed"]}, "targets": [{"copy": {"action": "central"}}]}`)
	vadmin.fails(2, "pattern.kinds: not a field of the event", "rule", "put", "bad", "-f", bad)
	vadmin.fails(2, "-f FILE", "rule", "put", "bad")
	admin.fails(6, "rule.admin", "rule", "put", "to-central", "-f", shownFile)

	src := t.TempDir()
	testfs.Build(t, src)
	host := newEnv(t, "BUNKER_TOKEN="+hostTok.Token)
	host.ok("backup", "-q", "--vault", "prod", "--server", srv.url, "--fingerprint", srv.fingerprint, src)

	// The copy is delivered, the webhook without its secret is a dead letter.
	var ds []store.Delivery
	deadline := time.Now().Add(30 * time.Second)
	for {
		vadmin.json(&ds, "delivery", "list")
		if len(ds) == 2 && ds[0].State != store.DeliveryPending && ds[1].State != store.DeliveryPending {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("deliveries after 30s: %+v", ds)
		}
		time.Sleep(50 * time.Millisecond)
	}
	states := map[string]store.Delivery{}
	for _, d := range ds {
		states[d.Rule] = d
	}
	if states["to-central"].State != store.DeliveryDelivered || states["hook"].State != store.DeliveryDead {
		t.Fatalf("deliveries: %+v", ds)
	}
	var dead []store.Delivery
	admin.json(&dead, "delivery", "list", "--state", "dead")
	if len(dead) != 1 || dead[0].Rule != "hook" || !strings.Contains(dead[0].LastError, "missing") {
		t.Fatalf("dead letters, as security-admin: %+v", dead)
	}
	if out := vadmin.ok("delivery", "list", "--rule", "hook"); !strings.Contains(out, dead[0].ID) || strings.Contains(out, "secret-path") {
		t.Fatalf("delivery list --rule hook:\n%s", out)
	}
	var points []api.Point
	vadmin.json(&points, "point", "list", "--vault", "central")
	if len(points) != 1 || points[0].Origin == nil || points[0].Origin.Vault != "prod" {
		t.Fatalf("central after the rule's copy: %+v", points)
	}

	if out := vadmin.ok("delivery", "replay", dead[0].ID); !strings.Contains(out, "is due again (replay 1)") {
		t.Fatalf("delivery replay:\n%s", out)
	}
	vadmin.fails(1, "not a dead letter", "delivery", "replay", states["to-central"].ID)
	admin.fails(6, "delivery.replay", "delivery", "replay", dead[0].ID)
	vadmin.fails(2, "--state", "delivery", "list", "--state", "lost")

	vadmin.ok("rule", "remove", "hook")
	vadmin.fails(1, "no event rule hook", "rule", "show", "hook")
}

func writeFile(t *testing.T, name, content string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
