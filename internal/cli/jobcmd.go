package cli

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/bunkerhq/bunker/internal/client"
	"github.com/bunkerhq/bunker/internal/store"
	"github.com/bunkerhq/bunker/internal/ui"
)

func newJobCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "jobs",
		Aliases: []string{"job"},
		Short:   "See the server's jobs: backups, copies, verifications, scans, maintenance",
		Long: `The server records work it runs in the background or on request (each backup,
copy, verification, scan and maintenance pass) as a job with its state,
progress, start, duration, bytes and error. The history is kept and can be
filtered. "bunker job" is the same command.`,
		Example: `  bunker jobs list --kind verify --state failed --since 24h
  bunker jobs show 42
  bunker jobs watch 42`,
	}
	cmd.AddCommand(newJobListCmd(g), newJobShowCmd(g), newJobWatchCmd(g))
	return cmd
}

func newJobListCmd(g *globals) *cobra.Command {
	var q client.JobQuery
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List jobs, newest first",
		Long: `List the server's jobs, newest first (200 unless --limit says otherwise): id,
kind, vault, state (queued, running, succeeded, failed, skipped), start, duration,
bytes and error. --kind, --state, --vault and --since (an RFC 3339 time or a
duration such as 24h) narrow the list. Auditors see every job; vault-admins
the jobs of the vaults they maintain. --json prints an array of jobs.`,
		Example: `  bunker jobs list
  bunker jobs list --kind backup --vault prod --since 7d
  bunker jobs list --state failed --json`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.dial()
			if err != nil {
				return err
			}
			page, err := c.QueryJobs(cmd.Context(), q)
			if err != nil {
				return failed(err, "list jobs")
			}
			jobs := page.Jobs
			if g.json {
				if jobs == nil {
					jobs = []client.Job{}
				}
				return g.printJSON(jobs)
			}
			tw := g.newTable("ID", "KIND", "VAULT", "STATE", "STARTED", "DURATION", "BYTES", "ERROR")
			for _, j := range jobs {
				row(tw, strconv.FormatInt(j.ID, 10), j.Kind, j.Vault, string(j.State), when(j.Started), jobDuration(j), jobBytes(j.Bytes), j.Error)
			}
			return tw.Flush()
		},
	}
	f := cmd.Flags()
	f.StringVar(&q.Kind, "kind", "", "only jobs of this `kind` (backup, copy, verify, scan, maintenance, plan)")
	f.StringVar(&q.State, "state", "", "only jobs in this `state` (queued, running, succeeded, failed, skipped)")
	f.StringVar(&q.Vault, "vault", "", "only jobs of this `vault`")
	f.StringVar(&q.Since, "since", "", "only jobs started since this `time` (RFC 3339, or a duration such as 24h)")
	f.IntVar(&q.Limit, "limit", 0, "at most this many jobs (default 200, at most 1000)")
	return cmd
}

func jobDuration(j client.Job) string {
	d := ui.Duration(time.Duration(j.DurationMS) * time.Millisecond)
	if j.Finished.IsZero() && j.State == store.JobRunning {
		return d + " so far"
	}
	if j.Finished.IsZero() {
		return ""
	}
	return d
}

func jobBytes(n int64) string {
	if n == 0 {
		return ""
	}
	return strconv.FormatInt(n, 10)
}

func parseJobID(s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, usageError{fmt.Errorf("job id %q is not a positive integer", s)}
	}
	return id, nil
}

func newJobShowCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "show ID",
		Short: "Show one job: state, progress, duration, bytes, detail and error",
		Long: `Show one job with its state, progress, start, finish, duration, bytes, detail
and error. --json prints the job.`,
		Example: `  bunker jobs show 42
  bunker jobs show 42 --json`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			id, err := parseJobID(a[0])
			if err != nil {
				return err
			}
			c, err := g.dial()
			if err != nil {
				return err
			}
			j, err := c.Job(cmd.Context(), id)
			if err != nil {
				return failed(err, "show job %d", id)
			}
			if g.json {
				return g.printJSON(j)
			}
			g.printJob(j)
			return nil
		},
	}
}

func (g *globals) printJob(j client.Job) {
	w := g.stdout
	fmt.Fprintf(w, "job %d: %s", j.ID, j.Kind)
	if j.Vault != "" {
		fmt.Fprintf(w, " of vault %s", j.Vault)
	}
	fmt.Fprintf(w, ", %s\n", j.State)
	fmt.Fprintf(w, "started:  %s by %s\n", when(j.Started), j.By)
	if !j.Finished.IsZero() {
		fmt.Fprintf(w, "finished: %s\n", when(j.Finished))
	}
	if d := jobDuration(j); d != "" {
		fmt.Fprintf(w, "duration: %s\n", d)
	}
	if j.Bytes != 0 {
		fmt.Fprintf(w, "bytes:    %d\n", j.Bytes)
	}
	if p := progressLine(j.Progress); p != "" {
		fmt.Fprintf(w, "progress: %s\n", p)
	}
	for k, v := range j.Detail {
		fmt.Fprintf(w, "  %s: %v\n", k, v)
	}
	if j.Error != "" {
		fmt.Fprintf(w, "error:    %s\n", j.Error)
	}
}

// progressLine describes p in one line, or is empty when p says nothing.
func progressLine(p store.JobProgress) string {
	s := p.Phase
	if p.ItemsDone > 0 || p.ItemsTotal > 0 {
		s += fmt.Sprintf(" %d", p.ItemsDone)
		if p.ItemsTotal > 0 {
			s += fmt.Sprintf("/%d", p.ItemsTotal)
		}
		s += " items"
	}
	if p.BytesDone > 0 || p.BytesTotal > 0 {
		s += fmt.Sprintf(" %d", p.BytesDone)
		if p.BytesTotal > 0 {
			s += fmt.Sprintf("/%d", p.BytesTotal)
		}
		s += " bytes"
	}
	return s
}

func newJobWatchCmd(g *globals) *cobra.Command {
	var every time.Duration
	cmd := &cobra.Command{
		Use:   "watch ID",
		Short: "Follow a job until it ends; exit 0 if it succeeded, 1 if it failed",
		Long: `Poll a job until it has ended, showing its progress on a terminal, then print
it as "bunker jobs show" does. The exit status is 0 when the job succeeded
and 1 when it failed.`,
		Example: `  bunker jobs watch 42
  bunker jobs watch 42 --every 5s`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			id, err := parseJobID(a[0])
			if err != nil {
				return err
			}
			if every <= 0 {
				return usageError{errors.New("--every must be positive")}
			}
			c, err := g.dial()
			if err != nil {
				return err
			}
			f, ok := g.stderr.(*os.File)
			tty := ok && term.IsTerminal(int(f.Fd())) && !g.json && !g.quiet
			ctx := cmd.Context()
			for {
				j, err := c.Job(ctx, id)
				if err != nil {
					return failed(err, "watch job %d", id)
				}
				if j.State == store.JobSucceded || j.State == store.JobFailed || j.State == store.JobSkipped {
					if tty {
						fmt.Fprint(g.stderr, "\r\033[K")
					}
					if g.json {
						if err := g.printJSON(j); err != nil {
							return err
						}
					} else {
						g.printJob(j)
					}
					if j.State == store.JobFailed {
						return withCode(ExitFailed, fmt.Errorf("job %d failed: %s", id, j.Error))
					}
					return nil
				}
				if tty {
					fmt.Fprintf(g.stderr, "\r\033[Kjob %d %s, %s %s", id, j.State, jobDuration(j), progressLine(j.Progress))
				}
				select {
				case <-ctx.Done():
					return fmt.Errorf("watch job %d: %w", id, ctx.Err())
				case <-time.After(every):
				}
			}
		},
	}
	cmd.Flags().DurationVar(&every, "every", time.Second, "poll the server this often")
	return cmd
}
