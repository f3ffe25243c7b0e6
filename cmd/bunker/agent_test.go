package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bunkerhq/bunker/internal/api"
	"github.com/bunkerhq/bunker/internal/client"
	"github.com/bunkerhq/bunker/internal/server/servertest"
	"github.com/bunkerhq/bunker/internal/store"
)

// agentServer is a test server with vault prod, the plans of file applied
// and come due, and an env whose token is a backup-operator's on prod.
func agentServer(t *testing.T, file string, jobs int) (*servertest.Server, *client.Client, *env) {
	t.Helper()
	ctx := context.Background()
	s := servertest.Start(t, servertest.Options{})
	vadmin := s.User(t, "vadmin", "vault-admin", "auditor")
	if _, err := vadmin.CreateVault(ctx, api.VaultRequest{Name: "prod", Retention: "30d"}); err != nil {
		t.Fatal(err)
	}
	if _, err := vadmin.ApplyPlans(ctx, []byte(file), client.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	s.Clock.Advance(time.Hour)
	waitJobs(t, vadmin, func(js []client.Job) bool { return len(js) == jobs })
	agent := s.Service(t, "agent1", "backup-operator@prod")
	e := newEnv(t, "BUNKER_SERVER="+s.URL, "BUNKER_FINGERPRINT="+s.Fingerprint, "BUNKER_TOKEN="+agent.Token())
	return s, vadmin, e
}

// waitJobs waits until the plan jobs satisfy cond.
func waitJobs(t *testing.T, c *client.Client, cond func([]client.Job) bool) []client.Job {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		page, err := c.QueryJobs(context.Background(), client.JobQuery{Kind: "plan"})
		if err != nil {
			t.Fatal(err)
		}
		if cond(page.Jobs) {
			return page.Jobs
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for the plan jobs; they are %+v", page.Jobs)
		}
	}
}

func agentPlan(name, host, src, pre, marks string) string {
	return `name: ` + name + `
schedule:
  rate: every 1h
vault: prod
sources:
  - host: ` + host + `
    paths: [` + src + `]
hooks:
  pre:
    - argv: ` + pre + `
  post:
    - argv: [/usr/bin/touch, ` + filepath.Join(marks, host) + `]
`
}

// bunker agent --once runs the queued runs of its host, prints one line
// each, and exits 1 when one failed.
func TestAgentOnce(t *testing.T) {
	src, marks := t.TempDir(), t.TempDir()
	writeFiles(t, src, map[string]string{"a.txt": "alpha"})
	file := agentPlan("good", "h1", src, "[/bin/true]", marks) + "---\n" + agentPlan("bad", "h2", src, `[/bin/sh, -c, "echo no quorum >&2; exit 5"]`, marks)
	s, vadmin, e := agentServer(t, file, 2)

	r := e.run("agent", "--host", "h1", "--once", "--json")
	if r.code != 0 {
		t.Fatalf("agent h1: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, "not limited to its host") || !strings.Contains(r.stderr, "--principal agent1 --host h1") {
		t.Fatalf("agent with a token for every host gave no warning:\n%s", r.stderr)
	}
	var line struct {
		Type   string   `json:"message_type"`
		Plan   string   `json:"plan"`
		State  string   `json:"state"`
		Points []string `json:"points"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &line); err != nil || line.Type != "plan_run" || line.Plan != "good" || line.State != "succeeded" || len(line.Points) != 1 {
		t.Fatalf("agent h1 printed %q (%v)", r.stdout, err)
	}
	r = e.run("agent", "--host", "h2", "--once")
	if r.code != 1 || !strings.Contains(r.stdout, "plan bad: failed") || !strings.Contains(r.stdout, "status 5") {
		t.Fatalf("agent h2: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	for _, host := range []string{"h1", "h2"} {
		if _, err := os.Stat(filepath.Join(marks, host)); err != nil {
			t.Errorf("post hook of %s: %v", host, err)
		}
	}
	// Nothing left: exit 0, and a note.
	if r := e.run("agent", "--host", "h1", "--once"); r.code != 0 || !strings.Contains(r.stderr, "no runs queued") {
		t.Fatalf("agent with nothing queued: exit %d\n%s", r.code, r.stderr)
	}
	if r := e.run("agent", "--once"); r.code != 2 || !strings.Contains(r.stderr, "--host") {
		t.Fatalf("agent without --host: exit %d\n%s", r.code, r.stderr)
	}
	// A token the server does not know: exit 6.
	bad := newEnv(t, "BUNKER_SERVER="+s.URL, "BUNKER_FINGERPRINT="+s.Fingerprint, "BUNKER_TOKEN=not-a-token")
	if r := bad.run("agent", "--host", "h1", "--once"); r.code != 6 {
		t.Fatalf("agent with a bad token: exit %d\n%s", r.code, r.stderr)
	}
	jobs := waitJobs(t, vadmin, func([]client.Job) bool { return true })
	for _, j := range jobs {
		if want := map[string]store.JobState{"h1": store.JobSucceded, "h2": store.JobFailed}[j.Detail["host"].(string)]; j.State != want {
			t.Errorf("job of %s is %s, want %s", j.Detail["host"], j.State, want)
		}
	}
}

// bunker token create --host makes a token that runs only that host's
// agent: as another host it is denied (exit 6) and the run stays queued.
func TestAgentTokenForOneHost(t *testing.T) {
	src, marks := t.TempDir(), t.TempDir()
	writeFiles(t, src, map[string]string{"a.txt": "alpha"})
	s, vadmin, _ := agentServer(t, agentPlan("good", "h2", src, "[/bin/true]", marks), 1)
	admin := newEnv(t, "BUNKER_SERVER="+s.URL, "BUNKER_FINGERPRINT="+s.Fingerprint, "BUNKER_TOKEN="+s.Admin.Token())
	var tok api.NewToken
	admin.json(&tok, "token", "create", "--principal", "agent1", "--host", "h1", "--vault", "prod")
	if len(tok.Hosts) != 1 || tok.Hosts[0] != "h1" {
		t.Fatalf("token %+v", tok)
	}
	if out := admin.ok("token", "list", "--principal", "agent1"); !strings.Contains(out, "HOSTS") || !strings.Contains(out, " h1 ") {
		t.Fatalf("token list:\n%s", out)
	}
	h1 := newEnv(t, "BUNKER_SERVER="+s.URL, "BUNKER_FINGERPRINT="+s.Fingerprint, "BUNKER_TOKEN="+tok.Token)
	if r := h1.run("agent", "--host", "h2", "--once"); r.code != 6 || !strings.Contains(r.stderr, "limited to hosts h1") || !strings.Contains(r.stderr, "limited to other hosts") {
		t.Fatalf("agent h2 with h1's token: exit %d\n%s", r.code, r.stderr)
	}
	if r := h1.run("agent", "--host", "h1", "--once"); r.code != 0 || strings.Contains(r.stderr, "limited") {
		t.Fatalf("agent h1 with its own token: exit %d\n%s", r.code, r.stderr)
	}
	if js := waitJobs(t, vadmin, func([]client.Job) bool { return true }); len(js) != 1 || js[0].State != store.JobQueued {
		t.Fatalf("jobs after the refused agent: %+v", js)
	}
	if _, err := os.Stat(filepath.Join(marks, "h2")); !os.IsNotExist(err) {
		t.Fatalf("a hook of h2 ran: %v", err)
	}
}

// SIGTERM stops the agent: the run going is stopped, its post hooks run,
// and it is reported failed.
func TestAgentStopsOnSIGTERM(t *testing.T) {
	src, marks := t.TempDir(), t.TempDir()
	writeFiles(t, src, map[string]string{"a.txt": "alpha"})
	_, vadmin, e := agentServer(t, agentPlan("slow", "h1", src, "[/bin/sleep, '60']", marks), 1)
	cmd := exec.Command(bin, "agent", "--host", "h1", "--poll", "1s")
	cmd.Env, cmd.Dir = e.vars, e.home
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitJobs(t, vadmin, func(js []client.Job) bool { return len(js) == 1 && js[0].State == store.JobRunning })
	time.Sleep(200 * time.Millisecond) // the hook has started
	began := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("agent after SIGTERM: %v\n%s", err, stderr.String())
	}
	if took := time.Since(began); took > 10*time.Second {
		t.Fatalf("the agent took %s to stop", took)
	}
	jobs := waitJobs(t, vadmin, func([]client.Job) bool { return true })
	if j := jobs[0]; j.State != store.JobFailed || !strings.Contains(j.Error, "stopped") {
		t.Fatalf("job of the stopped run: %+v", j.Job)
	}
	if _, err := os.Stat(filepath.Join(marks, "h1")); err != nil {
		t.Fatalf("post hook of the stopped run: %v", err)
	}
}
