package cli

import (
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/bunkerhq/bunker/internal/store"
	"github.com/bunkerhq/bunker/internal/ui"
)

func newJobCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "job",
		Short: "See the server's recent jobs, such as maintenance passes",
		Long: `The server records work it runs in the background or on request, such as
each maintenance pass, as a job with its state, start, end and error.`,
		Example: `  bunker job list`,
	}
	cmd.AddCommand(newJobListCmd(g))
	return cmd
}

func newJobListCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List recent jobs, newest first",
		Long: `List the server's recent jobs (up to 200), newest first: id, kind, vault,
state (running, succeeded, failed), start, duration and error. Auditors see
every job; vault-admins the jobs of the vaults they maintain. --json prints
an array of jobs.`,
		Example: `  bunker job list
  bunker job list --json`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.dial()
			if err != nil {
				return err
			}
			jobs, err := c.Jobs(cmd.Context())
			if err != nil {
				return failed(err, "list jobs")
			}
			if g.json {
				if jobs == nil {
					jobs = []store.Job{}
				}
				return g.printJSON(jobs)
			}
			tw := g.newTable("ID", "KIND", "VAULT", "STATE", "STARTED", "DURATION", "ERROR")
			for _, j := range jobs {
				dur := ""
				switch {
				case !j.Finished.IsZero():
					dur = ui.Duration(j.Finished.Sub(j.Started))
				case j.State == store.JobRunning:
					dur = ui.Duration(time.Since(j.Started)) + " so far"
				}
				row(tw, strconv.FormatInt(j.ID, 10), j.Kind, j.Vault, string(j.State), when(j.Started), dur, j.Error)
			}
			return tw.Flush()
		},
	}
}
