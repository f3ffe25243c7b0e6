package eventrule

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// commandPath is the PATH a command target runs with.
const commandPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// maxCommandOutput bounds what is kept of a command's standard error.
const maxCommandOutput = 1024

// runCommand runs a command target once: the envelope on its standard
// input, an environment of its own, its working directory /, killed with
// its process group at the time limit. Exit status 0 is success; any
// other, or the time limit, is a failure to retry. A program that cannot
// be started is a permanent failure.
func (r *Runner) runCommand(ctx context.Context, c *CommandTarget, a Attempt) error {
	prog := c.Argv[0]
	name := "command " + filepath.Base(prog)
	if !underDir(prog, filepath.Clean(r.CommandDir)) || r.CommandDir == "" {
		return permanent(fmt.Errorf("%s: %s is not under this server's command directory %q", name, prog, r.CommandDir))
	}
	timeout := time.Duration(c.Timeout)
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, prog, c.Argv[1:]...)
	cmd.Dir = "/"
	cmd.Env = commandEnv(a)
	cmd.Stdin = bytes.NewReader(append(bytes.Clone(a.Raw), '\n'))
	stderr := &limitedBuffer{max: maxCommandOutput}
	cmd.Stdout, cmd.Stderr = nil, stderr // stdout goes to /dev/null
	cmd.WaitDelay = 5 * time.Second
	setProcessGroup(cmd)
	err := cmd.Run()
	if err == nil {
		return nil
	}
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("%s: killed after %v: %w", name, timeout, ctx.Err())
	case errors.As(err, &ee):
		msg := strings.Join(strings.Fields(stderr.String()), " ")
		if msg != "" {
			msg = ": " + msg
		}
		return fmt.Errorf("%s: %s%s", name, ee.ProcessState, msg)
	case errors.Is(err, os.ErrNotExist), errors.Is(err, os.ErrPermission):
		return permanent(fmt.Errorf("%s: %w", name, err))
	}
	return fmt.Errorf("%s: %w", name, err)
}

// commandEnv is a command's whole environment: a fixed PATH, the C
// locale, UTC, and what the delivery is.
func commandEnv(a Attempt) []string {
	env := []string{
		"PATH=" + commandPath,
		"LC_ALL=C.UTF-8",
		"TZ=UTC",
		"BUNKER_DELIVERY_ID=" + a.DeliveryID,
		"BUNKER_DELIVERY_ATTEMPT=" + strconv.Itoa(a.Number),
		"BUNKER_RULE=" + a.Rule,
	}
	if e := a.Event; e != nil {
		env = append(env, "BUNKER_EVENT_ID="+e.ID, "BUNKER_EVENT_KIND="+e.Kind, "BUNKER_VAULT="+e.Vault, "BUNKER_SUBJECT="+e.Subject)
	}
	for i, kv := range env {
		env[i] = strings.Map(func(r rune) rune {
			if r == 0 {
				return -1
			}
			return r
		}, kv)
	}
	return env
}

// limitedBuffer keeps the first max bytes written to it.
type limitedBuffer struct {
	buf bytes.Buffer
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (b *limitedBuffer) String() string { return strings.ToValidUTF8(b.buf.String(), "?") }
