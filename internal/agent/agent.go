// Package agent runs, on a protected host, the runs of backup plans that a
// bunker server queues for that host: it claims a run, runs the plan's pre
// hooks, backs up the host's sources into the plan's vault as `bunker
// backup` does against a server, runs the post hooks, and reports how the
// run went. It needs nothing but a backup-operator credential.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bunkerhq/bunker/internal/api"
	"github.com/bunkerhq/bunker/internal/client"
	"github.com/bunkerhq/bunker/internal/hook"
	"github.com/bunkerhq/bunker/internal/plan"
)

// Defaults of Config.
const (
	DefaultPoll          = 10 * time.Second
	DefaultProgressEvery = 5 * time.Second
	// finishTimeout bounds the report of a run's end, which is sent even
	// when the agent is stopping.
	finishTimeout = time.Minute
)

// Config is what an Agent needs.
type Config struct {
	// Client talks to the server, as a principal with the backup-operator
	// role on the vaults of the host's plans.
	Client *client.Client
	// Host is the host name the plans' sources name.
	Host string
	// Poll is how often Run asks for queued runs (DefaultPoll when zero).
	Poll time.Duration
	// ProgressEvery is how often a run's progress is reported
	// (DefaultProgressEvery when zero).
	ProgressEvery time.Duration
	// Log receives what the agent does (slog.Default() when nil).
	Log *slog.Logger
}

// Agent runs the queued runs of one host. It is not safe for concurrent
// use.
type Agent struct {
	cfg     Config
	checked bool // the credential's host limit was looked at
}

// New checks cfg and returns an agent.
func New(cfg Config) (*Agent, error) {
	if cfg.Client == nil {
		return nil, errors.New("agent: no client: connect to the server first")
	}
	if cfg.Host == "" {
		return nil, errors.New("agent: host is missing: give the host name the plans' sources name")
	}
	if cfg.Poll < 0 || cfg.ProgressEvery < 0 {
		return nil, errors.New("agent: poll and progress intervals must not be negative")
	}
	if cfg.Poll == 0 {
		cfg.Poll = DefaultPoll
	}
	if cfg.ProgressEvery == 0 {
		cfg.ProgressEvery = DefaultProgressEvery
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &Agent{cfg: cfg}, nil
}

// Outcome is how one run ended, as reported to the server.
type Outcome struct {
	Job    int64
	Plan   string
	Report api.FinishRequest
}

// Once runs the host's queued runs, one after another, until none is
// left, and returns how each ended. It stops at the first error talking to
// the server, and when ctx ends.
func (a *Agent) Once(ctx context.Context) ([]Outcome, error) {
	if !a.checked {
		a.checked = true
		a.checkHosts(ctx)
	}
	var out []Outcome
	for ctx.Err() == nil {
		o, ok, err := a.next(ctx)
		if err != nil {
			return out, err
		}
		if !ok {
			return out, nil
		}
		out = append(out, o)
	}
	return out, ctx.Err()
}

// Run runs the host's runs as the server queues them, asking every Poll,
// until ctx ends; then it returns nil. A run going when ctx ends is
// stopped, its post hooks run, and it is reported failed. Errors talking
// to the server are logged and tried again at the next poll.
func (a *Agent) Run(ctx context.Context) error {
	a.cfg.Log.Info("agent started", "host", a.cfg.Host, "server", a.cfg.Client.URL(), "poll", a.cfg.Poll)
	for {
		if _, err := a.Once(ctx); err != nil && ctx.Err() == nil {
			a.cfg.Log.Error("agent: ask the server for runs", "err", err)
			if client.IsStatus(err, 401) || client.IsStatus(err, 403) {
				return err
			}
		}
		t := time.NewTimer(a.cfg.Poll)
		select {
		case <-ctx.Done():
			t.Stop()
			a.cfg.Log.Info("agent stopped", "host", a.cfg.Host)
			return nil
		case <-t.C:
		}
	}
}

// checkHosts warns when the agent's token is not limited to its host: if
// the host is taken, such a token can claim, report and back up as every
// other host of its vaults. A failure to ask is left to the claim that
// follows to report.
func (a *Agent) checkHosts(ctx context.Context) {
	who, err := a.cfg.Client.Whoami(ctx)
	if err != nil || who.Token == nil {
		return
	}
	switch hosts := who.Token.Hosts; {
	case len(hosts) == 0:
		a.cfg.Log.Warn("the agent's token is not limited to its host: make it one that is, with bunker token create --principal "+who.Principal+" --host "+a.cfg.Host,
			"host", a.cfg.Host, "principal", who.Principal)
	case !slices.Contains(hosts, a.cfg.Host):
		a.cfg.Log.Warn("the agent's token is limited to other hosts: the server will refuse its calls for "+a.cfg.Host,
			"host", a.cfg.Host, "token_hosts", strings.Join(hosts, ","))
	}
}

// next claims and runs one run; ok is false when none was queued.
func (a *Agent) next(ctx context.Context) (Outcome, bool, error) {
	job, err := a.cfg.Client.ClaimJob(ctx, a.cfg.Host)
	if err != nil {
		return Outcome{}, false, fmt.Errorf("claim a run for host %s: %w", a.cfg.Host, err)
	}
	if job == nil {
		return Outcome{}, false, nil
	}
	log := a.cfg.Log.With("job", job.ID, "plan", job.Plan.Name, "slot", job.Slot)
	log.Info("run started")
	rep := a.runJob(ctx, job, log)
	if err := a.finish(ctx, job.ID, rep); err != nil {
		return Outcome{}, false, fmt.Errorf("report the end of run %d of plan %s: %w", job.ID, job.Plan.Name, err)
	}
	log.Info("run ended", "state", rep.State, "points", rep.Points, "error", rep.Error)
	return Outcome{Job: job.ID, Plan: job.Plan.Name, Report: rep}, true, nil
}

// finish reports the end of run id, even when ctx has ended, trying again
// for a while when the server cannot be reached or fails; a refusal is
// not tried again.
func (a *Agent) finish(ctx context.Context, id int64, rep api.FinishRequest) error {
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
	defer cancel()
	wait := time.Second
	for {
		err := a.cfg.Client.FinishJob(fctx, id, rep)
		var ce *client.Error
		if err == nil || (errors.As(err, &ce) && ce.Status < 500) {
			return err
		}
		a.cfg.Log.Warn("report the end of a run; trying again", "job", id, "err", err, "in", wait)
		select {
		case <-fctx.Done():
			return err
		case <-time.After(wait):
		}
		wait *= 2
	}
}

// runJob runs one claimed run: pre hooks, sources, post hooks.
func (a *Agent) runJob(ctx context.Context, job *api.AgentJob, log *slog.Logger) api.FinishRequest {
	p := job.Plan
	env := hookEnv(job)
	var rep api.FinishRequest
	verdict, fails := hook.Pre(ctx, p.Hooks.Pre, env)
	rep.Hooks = append(rep.Hooks, reports("pre", fails)...)
	var errs []string
	switch verdict {
	case hook.Fail:
		errs = append(errs, "pre hook failed, nothing was backed up: "+fails[len(fails)-1].Err.Error())
	case hook.Skip:
		errs = append(errs, "pre hook failed, the run is skipped: "+fails[len(fails)-1].Err.Error())
	default:
		prog := newReporter(a.cfg.Client, job.ID, a.cfg.ProgressEvery, log)
		for i, src := range p.Sources {
			id, read, err := a.backup(ctx, job, src, prog)
			rep.Bytes += read
			if id != "" {
				rep.Points = append(rep.Points, id)
			}
			if err != nil {
				errs = append(errs, fmt.Sprintf("source %d (%s): %v", i, describeSource(src), err))
				log.Error("source failed", "source", describeSource(src), "err", err)
			}
		}
		prog.stop()
	}
	// Post hooks undo what pre hooks did: they run even when the agent is
	// stopping, each within its own timeout.
	postVerdict, fails := hook.Post(context.WithoutCancel(ctx), p.Hooks.Post, env)
	rep.Hooks = append(rep.Hooks, reports("post", fails)...)
	if postVerdict == hook.Fail {
		errs = append(errs, "post hook failed: "+fails[len(fails)-1].Err.Error())
	}
	rep.State = api.RunSucceeded
	switch {
	case verdict == hook.Skip && postVerdict != hook.Fail:
		rep.State = api.RunSkipped
	case len(errs) > 0:
		rep.State = api.RunFailed
	}
	if verdict == hook.Skip {
		rep.Points = nil
	}
	rep.Error = strings.Join(errs, "; ")
	return rep
}

// hookEnv is the environment hooks run with: the agent's, and what the run
// is.
func hookEnv(job *api.AgentJob) []string {
	return append(os.Environ(),
		"BUNKER_PLAN="+job.Plan.Name,
		"BUNKER_VAULT="+job.Plan.Vault,
		"BUNKER_HOST="+job.Host,
		"BUNKER_JOB="+strconv.FormatInt(job.ID, 10),
		"BUNKER_SLOT="+job.Slot.UTC().Format(time.RFC3339),
	)
}

// reports turns failed hooks into what the server is told.
func reports(phase string, fails []hook.Result) []api.HookReport {
	var out []api.HookReport
	for _, r := range fails {
		on := r.Hook.OnFailure
		if on == "" {
			on = plan.Fail
		}
		out = append(out, api.HookReport{Phase: phase, Argv: r.Hook.Argv, OnFailure: string(on), ExitStatus: r.ExitStatus,
			TimedOut: r.TimedOut, Stderr: r.Stderr, Error: r.Err.Error(), DurationMS: r.Duration.Milliseconds()})
	}
	return out
}

// describeSource names a source for people.
func describeSource(s plan.Source) string {
	if s.Stdin != nil {
		return "stdin " + s.Stdin.Name
	}
	return strings.Join(s.Paths, " ")
}
