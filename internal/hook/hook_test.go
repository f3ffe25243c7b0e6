package hook

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bunkerhq/bunker/internal/plan"
)

func sh(script string, timeout time.Duration, on plan.OnFailure) plan.Hook {
	return plan.Hook{Argv: []string{"/bin/sh", "-c", script}, Timeout: timeout, OnFailure: on}
}

func TestRunSucceeds(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "ran")
	r := Run(context.Background(), plan.Hook{Argv: []string{"/bin/sh", "-c", `printf '%s' "$1" > "$2"`, "sh", "a b", out}, Timeout: 10 * time.Second}, nil)
	if r.Failed() || r.ExitStatus != 0 || r.TimedOut {
		t.Fatalf("result %+v", r)
	}
	// Arguments reach the program as they are: no shell splits them.
	if b, err := os.ReadFile(out); err != nil || string(b) != "a b" {
		t.Fatalf("hook wrote %q, %v", b, err)
	}
}

func TestRunExitStatusAndStderr(t *testing.T) {
	r := Run(context.Background(), sh("echo starting; echo 'disk full' >&2; exit 3", 10*time.Second, plan.Fail), nil)
	if !r.Failed() || r.ExitStatus != 3 || r.TimedOut {
		t.Fatalf("result %+v", r)
	}
	if r.Stderr != "disk full" {
		t.Fatalf("stderr %q", r.Stderr)
	}
	if !strings.Contains(r.Err.Error(), "exited with status 3") {
		t.Fatalf("error %v", r.Err)
	}
}

func TestRunStderrTail(t *testing.T) {
	r := Run(context.Background(), sh("i=0; while [ $i -lt 500 ]; do echo line $i >&2; i=$((i+1)); done; exit 1", 10*time.Second, plan.Fail), nil)
	if !strings.HasPrefix(r.Stderr, "…") || !strings.HasSuffix(r.Stderr, "line 499") || len(r.Stderr) > StderrTail+len("…") {
		t.Fatalf("stderr tail of %d bytes: %q…", len(r.Stderr), r.Stderr[:min(40, len(r.Stderr))])
	}
}

// A hook past its timeout is killed, and so is everything it started.
func TestRunTimeoutKillsProcessGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	began := time.Now()
	r := Run(context.Background(), sh(`sleep 60 & echo $! > `+pidFile+`; echo waiting >&2; wait`, time.Second, plan.Fail), nil)
	if took := time.Since(began); took > 10*time.Second {
		t.Fatalf("a hook with a 1s timeout took %s", took)
	}
	if !r.Failed() || !r.TimedOut || r.ExitStatus != -1 || r.Stderr != "waiting" {
		t.Fatalf("result %+v", r)
	}
	if !strings.Contains(r.Err.Error(), "timeout of 1s") {
		t.Fatalf("error %v", r.Err)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); syscall.Kill(pid, 0) != syscall.ESRCH && !zombie(pid); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the hook's child %d outlived its timeout", pid)
		}
	}
}

// zombie reports whether pid has exited and waits for its parent to reap it.
func zombie(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	_, rest, _ := strings.Cut(string(b), ") ")
	return strings.HasPrefix(rest, "Z")
}

func TestRunMissingProgram(t *testing.T) {
	r := Run(context.Background(), plan.Hook{Argv: []string{"/nonexistent/quiesce"}, Timeout: time.Second}, nil)
	if !r.Failed() || r.ExitStatus != -1 || !strings.Contains(r.Err.Error(), "could not run") {
		t.Fatalf("result %+v", r)
	}
}

func TestRunStopped(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	r := Run(ctx, sh("sleep 60", time.Minute, plan.Fail), nil)
	if !r.Failed() || r.TimedOut || !strings.Contains(r.Err.Error(), "stopped") {
		t.Fatalf("result %+v", r)
	}
}

func TestPre(t *testing.T) {
	ok, bad := "exit 0", "exit 1"
	dir := t.TempDir()
	after := filepath.Join(dir, "after")
	touch := "touch " + after
	for _, tc := range []struct {
		name     string
		hooks    []plan.Hook
		verdict  Verdict
		failures int
		ranAfter bool
	}{
		{"all succeed", []plan.Hook{sh(ok, time.Second, plan.Fail), sh(touch, 5*time.Second, plan.Fail)}, Proceed, 0, true},
		{"continue", []plan.Hook{sh(bad, time.Second, plan.Continue), sh(touch, 5*time.Second, plan.Fail)}, Proceed, 1, true},
		{"skip", []plan.Hook{sh(bad, time.Second, plan.Skip), sh(touch, 5*time.Second, plan.Fail)}, Skip, 1, false},
		{"fail", []plan.Hook{sh(bad, time.Second, plan.Fail), sh(touch, 5*time.Second, plan.Fail)}, Fail, 1, false},
		{"default is fail", []plan.Hook{sh(bad, time.Second, ""), sh(touch, 5*time.Second, plan.Fail)}, Fail, 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_ = os.Remove(after)
			v, failures := Pre(context.Background(), tc.hooks, nil)
			if v != tc.verdict || len(failures) != tc.failures {
				t.Fatalf("verdict %s with %d failures, want %s with %d", v, len(failures), tc.verdict, tc.failures)
			}
			if _, err := os.Stat(after); (err == nil) != tc.ranAfter {
				t.Fatalf("the hook after ran: %v, want %v", err == nil, tc.ranAfter)
			}
		})
	}
}

// Post hooks all run, whatever fails before them.
func TestPost(t *testing.T) {
	after := filepath.Join(t.TempDir(), "after")
	v, failures := Post(context.Background(), []plan.Hook{sh("exit 2", time.Second, plan.Fail), sh("touch "+after, 5*time.Second, plan.Continue)}, nil)
	if v != Fail || len(failures) != 1 || failures[0].ExitStatus != 2 {
		t.Fatalf("verdict %s, failures %+v", v, failures)
	}
	if _, err := os.Stat(after); err != nil {
		t.Fatalf("the post hook after a failed one did not run: %v", err)
	}
	v, failures = Post(context.Background(), []plan.Hook{sh("exit 2", time.Second, plan.Continue)}, nil)
	if v != Proceed || len(failures) != 1 {
		t.Fatalf("continue: verdict %s, failures %+v", v, failures)
	}
}
