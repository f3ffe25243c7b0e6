package cli

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/bunkerhq/bunker/internal/agent"
	"github.com/bunkerhq/bunker/internal/api"
)

type agentFlags struct {
	host string
	poll time.Duration
	once bool
}

func newAgentCmd(g *globals) *cobra.Command {
	var f agentFlags
	cmd := &cobra.Command{
		Use:   "agent --host NAME [--poll 10s] [--once]",
		Short: "Run the backup plans' runs the server queues for this host",
		Long: `Run, on a protected host, the runs of the backup plans whose sources name
this host. When a plan's run comes due, the server queues it; the agent
claims it, runs the plan's pre hooks, backs up the host's sources into the
plan's vault (as bunker backup does against a server), runs the post hooks,
and reports how the run went. The server's clock decides when runs are due.

The agent needs nothing but a backup-operator credential on the plans'
vaults: log in with bunker login, or set $BUNKER_TOKEN and $BUNKER_SERVER.

Without --once, the agent asks for runs every --poll until it gets SIGTERM
or SIGINT; a run going then is stopped, its post hooks run, and it is
reported failed. With --once, it runs what is queued and exits, with code 1
if a run failed.`,
		Example: `  bunker agent --host db1.example.com
  BUNKER_TOKEN=$(cat /etc/bunker/agent.token) bunker agent --server https://backup:8443 --host web1
  bunker agent --host web1 --once --json`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error { return runAgent(cmd.Context(), g, &f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.host, "host", "", "the host `name` the plans' sources name (required)")
	fl.DurationVar(&f.poll, "poll", agent.DefaultPoll, "how often to ask the server for runs")
	fl.BoolVar(&f.once, "once", false, "run what is queued, then exit")
	return cmd
}

func runAgent(ctx context.Context, g *globals, f *agentFlags) error {
	if strings.TrimSpace(f.host) == "" {
		return usageError{fmt.Errorf("--host is missing: give the host name the plans' sources name")}
	}
	if f.poll < time.Second {
		return usageError{fmt.Errorf("--poll %s is too short: give at least 1s", f.poll)}
	}
	c, _, err := g.connect(true)
	if err != nil {
		return err
	}
	level := slog.LevelInfo
	if g.quiet {
		level = slog.LevelWarn
	}
	var h slog.Handler = slog.NewTextHandler(g.stderr, &slog.HandlerOptions{Level: level})
	if g.json {
		h = slog.NewJSONHandler(g.stderr, &slog.HandlerOptions{Level: level})
	}
	a, err := agent.New(agent.Config{Client: c, Host: f.host, Poll: f.poll, Log: slog.New(h)})
	if err != nil {
		return err
	}
	if !f.once {
		return serverError(a.Run(ctx))
	}
	out, err := a.Once(ctx)
	failed := 0
	for _, o := range out {
		if o.Report.State == api.RunFailed {
			failed++
		}
		if perr := g.printOutcome(o); perr != nil {
			return perr
		}
	}
	if err != nil {
		return serverError(err)
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d runs failed (bunker jobs list --kind plan --state failed shows why)", failed, len(out))
	}
	if len(out) == 0 {
		g.notef("no runs queued for host %s\n", f.host)
	}
	return nil
}

// printOutcome prints how one run ended.
func (g *globals) printOutcome(o agent.Outcome) error {
	if g.json {
		return g.printJSON(map[string]any{"message_type": "plan_run", "job": o.Job, "plan": o.Plan, "state": o.Report.State,
			"points": o.Report.Points, "error": o.Report.Error, "hooks_failed": len(o.Report.Hooks)})
	}
	g.printf("job %d, plan %s: %s", o.Job, o.Plan, o.Report.State)
	if len(o.Report.Points) > 0 {
		g.printf(", points %s", strings.Join(o.Report.Points, " "))
	}
	if o.Report.Error != "" {
		g.printf(": %s", o.Report.Error)
	}
	g.printf("\n")
	return nil
}
