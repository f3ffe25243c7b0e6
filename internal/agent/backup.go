package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bunkerhq/bunker/internal/api"
	"github.com/bunkerhq/bunker/internal/archiver"
	"github.com/bunkerhq/bunker/internal/client"
	"github.com/bunkerhq/bunker/internal/filter"
	"github.com/bunkerhq/bunker/internal/hook"
	"github.com/bunkerhq/bunker/internal/plan"
	"github.com/bunkerhq/bunker/internal/remote"
	"github.com/bunkerhq/bunker/internal/repo"
)

// backup backs up one source of a run into the plan's vault, as `bunker
// backup` does against a server, and returns the point's id (when one was
// made) and the bytes read.
func (a *Agent) backup(ctx context.Context, job *api.AgentJob, src plan.Source, prog *reporter) (string, int64, error) {
	req := api.SessionRequest{Hostname: job.Host, Tags: []string{"plan:" + job.Plan.Name}}
	var m *filter.Matcher
	var err error
	if src.Stdin != nil {
		req.Paths = []string{"/" + src.Stdin.Name}
	} else {
		if req.Paths, err = archiver.AbsPaths(src.Paths); err != nil {
			return "", 0, err
		}
		if len(src.Excludes) > 0 {
			if m, err = filter.New(src.Excludes); err != nil {
				return "", 0, fmt.Errorf("excludes: %w", err)
			}
		}
	}
	b, err := remote.StartBackup(ctx, a.cfg.Client, job.Plan.Vault, req)
	if err != nil {
		return "", 0, fmt.Errorf("open a backup session on vault %s: %w", job.Plan.Vault, err)
	}
	defer func() {
		if err := b.Close(context.WithoutCancel(ctx)); err != nil {
			a.cfg.Log.Warn("end backup session", "job", job.ID, "err", err)
		}
	}()
	prog.phase("backup " + describeSource(src))
	opts := archiver.Options{Excludes: m, Hostname: job.Host, Tags: req.Tags, Progress: prog, Scan: src.Stdin == nil, Parent: b.Parent()}
	arch, err := archiver.New(b, opts)
	if err != nil {
		return "", 0, err
	}
	var p *repo.Point
	var fileErrs []archiver.FileError
	if src.Stdin != nil {
		p, err = backupCommand(ctx, arch, src.Stdin)
	} else {
		p, fileErrs, err = arch.Backup(ctx, src.Paths)
	}
	if err != nil {
		return "", 0, err
	}
	id := p.ID.String()
	if b.Point != nil {
		id = b.Point.ID
	}
	if len(fileErrs) > 0 {
		return id, p.Summary.BytesRead, fmt.Errorf("point %s saved, but %d files could not be read, the first %s: %v", p.ID.Short(), len(fileErrs), fileErrs[0].Path, fileErrs[0].Err)
	}
	return id, p.Summary.BytesRead, nil
}

// backupCommand backs up the standard output of a stdin source's command
// as one file. A command that fails makes no point.
func backupCommand(ctx context.Context, arch *archiver.Archiver, s *plan.Stdin) (*repo.Point, error) {
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cmd, tail := hook.Command(cctx, s.Command, nil)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w; check the path in the plan's stdin command", s.Command[0], err)
	}
	p, err := arch.BackupReader(ctx, s.Name, &commandReader{r: out, cmd: cmd, tail: tail})
	if err != nil {
		cancel()
		_ = cmd.Wait()
		return nil, err
	}
	return p, nil
}

// commandReader reads a command's standard output and ends with an error,
// not io.EOF, when the command fails, so that no point is made of a
// failed command's output.
type commandReader struct {
	r    io.Reader
	cmd  *exec.Cmd
	tail *hook.Tail
	done bool
}

func (c *commandReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if !errors.Is(err, io.EOF) || c.done {
		return n, err
	}
	c.done = true
	if werr := c.cmd.Wait(); werr != nil {
		msg := fmt.Sprintf("command %s failed: %v", c.cmd.Path, werr)
		if s := c.tail.String(); s != "" {
			msg += ": " + s
		}
		return n, errors.New(msg)
	}
	return n, io.EOF
}

// reporter counts a run's progress for the archiver and sends it to the
// server every so often.
type reporter struct {
	c     *client.Client
	job   int64
	every time.Duration
	log   *slog.Logger

	filesDone, bytesDone, filesTotal, bytesTotal atomic.Int64

	mu       sync.Mutex
	curPhase string
	quit     chan struct{}
	wg       sync.WaitGroup
}

func newReporter(c *client.Client, job int64, every time.Duration, log *slog.Logger) *reporter {
	r := &reporter{c: c, job: job, every: every, log: log, quit: make(chan struct{})}
	r.wg.Add(1)
	go r.loop()
	return r
}

func (r *reporter) loop() {
	defer r.wg.Done()
	t := time.NewTicker(r.every)
	defer t.Stop()
	for {
		select {
		case <-r.quit:
			return
		case <-t.C:
			r.send()
		}
	}
}

// send reports the progress so far; a failure is logged, not fatal.
func (r *reporter) send() {
	r.mu.Lock()
	phase := r.curPhase
	r.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), r.every)
	defer cancel()
	err := r.c.JobProgress(ctx, r.job, api.ProgressRequest{Phase: phase, BytesDone: r.bytesDone.Load(), BytesTotal: r.bytesTotal.Load(),
		FilesDone: r.filesDone.Load(), FilesTotal: r.filesTotal.Load()})
	if err != nil {
		r.log.Warn("report progress", "job", r.job, "err", err)
	}
}

// phase names what the run does now.
func (r *reporter) phase(p string) {
	r.mu.Lock()
	r.curPhase = p
	r.mu.Unlock()
}

// stop ends the reports with a last one.
func (r *reporter) stop() {
	close(r.quit)
	r.wg.Wait()
	r.send()
}

// AddTotal grows the work known to lie ahead.
func (r *reporter) AddTotal(files, bytes int64) {
	r.filesTotal.Add(files)
	r.bytesTotal.Add(bytes)
}

// AddDone records finished work.
func (r *reporter) AddDone(files, bytes int64) {
	r.filesDone.Add(files)
	r.bytesDone.Add(bytes)
}

// Error records a file that could not be read; the backup reports it.
func (r *reporter) Error(string, error) {}
