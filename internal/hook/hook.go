// Package hook runs the pre and post hooks of a plan's run on an agent
// host: each command without a shell, in a process group of its own,
// killed with everything it started when its timeout passes.
package hook

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/bunkerhq/bunker/internal/plan"
)

// StderrTail is how many bytes of a hook's standard error a Result keeps:
// the last ones, where the reason for a failure usually is.
const StderrTail = 2048

// waitDelay bounds how long Run waits for a killed hook's output to close.
const waitDelay = 2 * time.Second

// Result is how one hook ended.
type Result struct {
	Hook plan.Hook
	// ExitStatus is the hook's exit status; -1 when it was killed or did
	// not start.
	ExitStatus int
	// TimedOut reports that the hook was killed at its timeout.
	TimedOut bool
	// Stderr is the end of what the hook wrote to standard error.
	Stderr   string
	Duration time.Duration
	// Err says why the hook failed; nil when it exited with status 0.
	Err error
}

// Failed reports whether the hook failed: an exit status other than 0,
// its timeout, or a command that could not start.
func (r Result) Failed() bool { return r.Err != nil }

// Run runs hook h with environment env (nil: the agent's own), waiting at
// most h.Timeout (plan.DefaultHookTimeout when zero). When ctx ends first,
// the hook is killed too; its Result then carries ctx's error.
func Run(ctx context.Context, h plan.Hook, env []string) Result {
	r := Result{Hook: h, ExitStatus: -1}
	if len(h.Argv) == 0 {
		r.Err = errors.New("hook has no command: give argv")
		return r
	}
	timeout := h.Timeout
	if timeout <= 0 {
		timeout = plan.DefaultHookTimeout
	}
	tctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd, tail := Command(tctx, h.Argv, env)
	began := time.Now()
	err := cmd.Run()
	r.Duration = time.Since(began)
	r.Stderr = tail.String()
	if cmd.ProcessState != nil && cmd.ProcessState.Exited() {
		r.ExitStatus = cmd.ProcessState.ExitCode()
	}
	r.Err = describe(h, err, tctx, ctx, timeout, r.ExitStatus)
	if errors.Is(tctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
		r.TimedOut = true
	}
	return r
}

// Command returns argv (argv[0] by absolute path) set up to run as hooks
// run: without a shell, with environment env (nil: the agent's own), in a
// process group of its own that is killed when ctx ends, with the end of
// its standard error kept in the returned Tail.
func Command(ctx context.Context, argv, env []string) (*exec.Cmd, *Tail) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = env
	tail := &Tail{max: StderrTail}
	cmd.Stderr = tail
	cmd.WaitDelay = waitDelay
	setProcessGroup(cmd)
	return cmd, tail
}

// describe turns what running hook h returned into the failure to report.
func describe(h plan.Hook, err error, tctx, ctx context.Context, timeout time.Duration, status int) error {
	name := h.Argv[0]
	switch {
	case ctx.Err() != nil && (err != nil || status != 0):
		return fmt.Errorf("hook %s was stopped: %w", name, ctx.Err())
	case errors.Is(tctx.Err(), context.DeadlineExceeded) && (err != nil || status != 0):
		return fmt.Errorf("hook %s did not finish within its timeout of %s and was killed; raise hooks timeout in the plan or make the command faster", name, timeout)
	case err == nil:
		return nil
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) && status >= 0 {
		return fmt.Errorf("hook %s exited with status %d", name, status)
	}
	if errors.As(err, &ee) {
		return fmt.Errorf("hook %s was killed: %s", name, ee.ProcessState)
	}
	return fmt.Errorf("hook %s could not run: %w; check the path in the plan's hooks argv", name, err)
}

// Tail is an io.Writer that keeps the last StderrTail bytes written to it.
type Tail struct {
	mu    sync.Mutex
	max   int
	buf   []byte
	extra bool // bytes before buf were dropped
}

// Write keeps the end of p.
func (w *Tail) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	if over := len(w.buf) - w.max; over > 0 {
		w.buf = append(w.buf[:0], w.buf[over:]...)
		w.extra = true
	}
	return len(p), nil
}

// String returns the bytes kept, valid UTF-8, trimmed of surrounding
// white space, marked with … when the start was dropped.
func (w *Tail) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := strings.ToValidUTF8(string(w.buf), "\uFFFD")
	s = strings.TrimSpace(s)
	if w.extra {
		s = "…" + s
	}
	return s
}
