package main_test

import (
	"crypto/ed25519"
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/bunkerhq/bunker/internal/api"
	"github.com/bunkerhq/bunker/internal/approval"
	"github.com/bunkerhq/bunker/internal/testfs"
)

// pendingOf reads the request a guarded command printed with --json.
func pendingOf(t *testing.T, r result) api.Approval {
	t.Helper()
	var out struct {
		MessageType string       `json:"message_type"`
		Approval    api.Approval `json:"approval"`
		ExitCode    int          `json:"exit_code"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || out.MessageType != "approval_required" || r.code != 8 || out.ExitCode != 8 {
		t.Fatalf("want an approval request and exit 8: exit %d, %v\n%s\n%s", r.code, err, r.stdout, r.stderr)
	}
	return out.Approval
}

// TestApprovalsThroughTheCLI: a team forms with keys made on the
// approvers' machines; a guarded deletion waits, is confirmed, approved by
// two and executed; `approvals verify` passes the export, and catches an
// approval forged in the database.
func TestApprovalsThroughTheCLI(t *testing.T) {
	srvEnv := newEnv(t)
	srv := startServer(t, srvEnv)
	url, fp := srv.url, srv.fingerprint
	login := func(e *env, user, pwFile string) {
		t.Helper()
		e.ok("login", "--server", url, "--fingerprint", fp, "--user", user, "--password-file", pwFile)
	}
	admin := newEnv(t)
	login(admin, "admin", srv.adminPWFile)
	pw := secretFile(t, "a long enough password")
	users := map[string]*env{}
	for name, role := range map[string]string{"vadmin": "vault-admin", "aud": "auditor", "amy": "approver", "bob": "approver", "cat": "approver", "boss": ""} {
		admin.ok("user", "create", name, "--password-file", pw)
		if role != "" {
			admin.ok("role", "bind", name, role)
		}
		users[name] = newEnv(t)
		login(users[name], name, pw)
	}
	admin.ok("role", "bind", "boss", "vault-admin", "--vault", "prod", "--bypass-governance")
	admin.ok("user", "create", "host1", "--service")
	admin.ok("role", "bind", "host1", "backup-operator", "--vault", "prod")
	var hostTok api.NewToken
	admin.json(&hostTok, "token", "create", "--principal", "host1", "--vault", "prod")

	// The team: keys made on each approver's machine, then accepted.
	admin.ok("team", "create", "guards", "--threshold", "2", "--invite", "amy,bob,cat")
	keyIDs := map[string]string{}
	for _, name := range []string{"amy", "bob", "cat"} {
		var k struct {
			KeyFile string `json:"key_file"`
			KeyID   string `json:"key_id"`
		}
		users[name].json(&k, "approver", "keygen")
		if fi, err := os.Stat(k.KeyFile); err != nil || fi.Mode().Perm() != 0o600 || !strings.HasPrefix(k.KeyFile, users[name].home) {
			t.Fatalf("key file %s: %v %v", k.KeyFile, fi, err)
		}
		users[name].fails(1, "refusing to overwrite", "approver", "keygen")
		keyIDs[name] = k.KeyID
		users[name].ok("team", "accept", "guards")
	}
	out := admin.ok("team", "show", "guards")
	for name, id := range keyIDs {
		if !strings.Contains(out, id) || !strings.Contains(out, name) {
			t.Fatalf("team show lacks %s's key %s:\n%s", name, id, out)
		}
	}
	if !strings.Contains(out, "active") {
		t.Fatalf("team show:\n%s", out)
	}

	// A governance vault its team guards, with two points.
	vadmin := users["vadmin"]
	vadmin.ok("vault", "create", "prod", "--retention", "30d", "--lock", "governance")
	vadmin.ok("approvals", "guard", "--vault", "prod", "--team", "guards")
	if out := vadmin.ok("vault", "show", "prod"); !strings.Contains(out, "team guards: delete-early") {
		t.Fatalf("vault show:\n%s", out)
	}
	src := t.TempDir()
	testfs.Build(t, src)
	host := newEnv(t, "BUNKER_TOKEN="+hostTok.Token)
	remote := []string{"--server", url, "--fingerprint", fp, "--vault", "prod"}
	host.ok(append([]string{"backup", "-q", src}, remote...)...)
	host.ok(append([]string{"backup", "-q", src}, remote...)...)
	var pts []api.Point
	vadmin.json(&pts, "point", "list", "--vault", "prod")
	if len(pts) != 2 {
		t.Fatalf("%d points", len(pts))
	}

	// The deletion waits: exit 8, naming the request.
	boss := users["boss"]
	r := boss.fails(8, "approvals confirm", "point", "delete", "--vault", "prod", pts[0].ID[:8])
	if !strings.Contains(r.stderr, "nothing was done") {
		t.Fatalf("stderr: %s", r.stderr)
	}
	var list []api.Approval
	boss.json(&list, "approvals", "list")
	if len(list) != 1 || list[0].State != approval.AwaitingConfirmation {
		t.Fatalf("approvals list: %+v", list)
	}
	id := list[0].Request.ID[:12]
	boss.fails(2, "--yes", "approvals", "confirm", id) // no terminal, no --yes
	if out := boss.ok("approvals", "confirm", id, "--yes"); !strings.Contains(out, "goes to team guards") {
		t.Fatalf("confirm: %s", out)
	}
	users["amy"].ok("approvals", "approve", id, "--yes", "--reason", "ticket 4411")
	users["amy"].fails(1, "already voted", "approvals", "approve", id, "--yes")
	boss.fails(1, "pending-approval", "approvals", "confirm", id, "--yes")
	boss.fails(6, "approval.vote", "approvals", "approve", id, "--yes", "--approver-key", filepath.Join(users["amy"].home, ".config/bunker/approver.key"))
	users["bob"].ok("approvals", "approve", id, "--yes")
	if out := users["cat"].ok("approvals", "show", id); !strings.Contains(out, "approved") || !strings.Contains(out, keyIDs["amy"]) {
		t.Fatalf("approvals show:\n%s", out)
	}
	if out := boss.ok("approvals", "confirm", id, "--yes"); !strings.Contains(out, "executed") {
		t.Fatalf("final confirm: %s", out)
	}
	vadmin.json(&pts, "point", "list", "--vault", "prod")
	if len(pts) != 1 {
		t.Fatalf("after the approved deletion: %d points", len(pts))
	}

	// The export verifies.
	aud := users["aud"]
	export := filepath.Join(t.TempDir(), "audit.jsonl")
	aud.ok("audit", "export", "-o", export)
	if out := aud.ok("approvals", "verify", "--file", export); !strings.Contains(out, "1 executed requests, 1 with enough valid approvals") || !strings.Contains(out, "no problems") {
		t.Fatalf("approvals verify:\n%s", out)
	}

	// A forged approval, inserted straight into the database: the server
	// executes, and the export shows it.
	pr := pendingOf(t, boss.run("point", "delete", "--vault", "prod", pts[0].ID[:8], "--json"))
	boss.ok("approvals", "confirm", pr.Request.ID, "--yes")
	users["amy"].ok("approvals", "approve", pr.Request.ID, "--yes")
	forgeApproval(t, filepath.Join(srvEnv.home, ".local/share/bunker/server/bunker.db"), pr)
	boss.ok("approvals", "confirm", pr.Request.ID, "--yes")
	aud.ok("audit", "export", "-o", export)
	r = aud.fails(4, "failed verification", "approvals", "verify", "--file", export)
	if !strings.Contains(r.stdout, "mallory") || !strings.Contains(r.stdout, approval.KindThreshold) {
		t.Fatalf("approvals verify of a forged approval:\n%s", r.stdout)
	}
	var rep struct {
		OK bool `json:"ok"`
		approval.Report
	}
	r = aud.run("approvals", "verify", "--file", export, "--json")
	if err := json.Unmarshal([]byte(strings.SplitN(r.stdout, "\n", 2)[0]), &rep); err != nil || rep.OK || rep.Executed != 2 || rep.Verified != 1 || r.code != 4 {
		t.Fatalf("approvals verify --json: exit %d %v %+v", r.code, err, rep)
	}
}

// forgeApproval does what an attacker with the database file can: add a
// member with a key of its own to the request's team, sign, and mark the
// request approved.
func forgeApproval(t *testing.T, path string, r api.Approval) {
	t.Helper()
	key, err := approval.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	sig, keyID, err := approval.Sign(key, r.Hash, approval.Approve)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Now().UnixNano()
	pub := []byte(key.Public().(ed25519.PublicKey))
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO team_members (team, principal, state, public_key, key_id, invited_at, invited_by, accepted_at) VALUES (?, 'mallory', 'active', ?, ?, ?, 'admin', ?)`,
			[]any{r.Request.Team, pub, keyID, now, now}},
		{`INSERT INTO approval_votes (request, member, vote, key_id, signature, reason, at) VALUES (?, 'mallory', 'approve', ?, ?, '', ?)`,
			[]any{r.Request.ID, keyID, sig, now}},
		{`UPDATE approval_requests SET state = 'approved', approved_at = ?, deadline = ? WHERE id = ?`,
			[]any{now, now + int64(time.Hour), r.Request.ID}},
	} {
		if _, err := db.Exec(q.sql, q.args...); err != nil {
			t.Fatal(err)
		}
	}
}
