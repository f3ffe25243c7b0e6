package cli

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/bunkerhq/bunker/internal/api"
	"github.com/bunkerhq/bunker/internal/client"
	"github.com/bunkerhq/bunker/internal/plan"
	"github.com/bunkerhq/bunker/internal/schedule"
)

func newApplyCmd(g *globals) *cobra.Command {
	var file string
	var opts client.ApplyOptions
	cmd := &cobra.Command{
		Use:   "apply -f FILE",
		Short: "Make the server's backup plans what a plan file says",
		Long: `Send a plan file (docs/PLANS.md) to the server, which checks it whole and
makes its plans what the file says: plans it lacks are created, plans that
differ are updated, and with --prune its plans the file does not name are
deleted. Plans are compared in canonical form, so applying a file twice
changes nothing. --dry-run shows the changes, field by field, and makes none.

A refused file changes nothing: each refusal is printed with its plan, field
and line, and the command exits with code 2. Applying needs the vault-admin
role on the vaults the plans write to. With --json, each change is a line
{"message_type":"plan_change",...} and a summary line ends the output; each
refusal is a line {"message_type":"plan_error","plan":...,"field":...,
"line":...,"error":...}.`,
		Example: `  bunker apply -f plans.yaml --dry-run
  bunker apply -f plans.yaml
  bunker apply -f plans.yaml --prune
  cat plans.yaml | bunker apply -f -`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				return usageError{errors.New("name the plan file with -f FILE (- for standard input)")}
			}
			data, err := g.readPlanFile(file)
			if err != nil {
				return err
			}
			c, err := g.dial()
			if err != nil {
				return err
			}
			changes, err := c.ApplyPlans(cmd.Context(), data, opts)
			if err != nil {
				return g.planRefusal(err)
			}
			return g.printChanges(changes, opts.DryRun)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&file, "file", "f", "", "the plan `file` (- for standard input)")
	f.BoolVar(&opts.DryRun, "dry-run", false, "show what would change and change nothing")
	f.BoolVar(&opts.Prune, "prune", false, "also delete the server's plans the file does not name")
	return cmd
}

// readPlanFile reads a plan file, or standard input for "-".
func (g *globals) readPlanFile(name string) ([]byte, error) {
	var r io.Reader = g.stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, fmt.Errorf("read plan file: %w", err)
		}
		defer f.Close()
		r = f
	}
	data, err := io.ReadAll(io.LimitReader(r, plan.MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read plan file %s: %w", name, err)
	}
	if len(data) > plan.MaxFileSize {
		return nil, fmt.Errorf("plan file %s is larger than %d MiB", name, plan.MaxFileSize>>20)
	}
	return data, nil
}

// planRefusal prints each refusal of a refused plan file and returns the
// error to exit with: code 2 for a refused file.
func (g *globals) planRefusal(err error) error {
	var ce *client.Error
	if !errors.As(err, &ce) || ce.Code != "invalid_plan" {
		return failed(err, "apply the plan file")
	}
	for _, pe := range ce.PlanErrors {
		if g.json {
			if err := g.printJSON(map[string]any{"message_type": "plan_error", "plan": pe.Plan, "field": pe.Field, "line": pe.Line, "error": pe.Error}); err != nil {
				return err
			}
			continue
		}
		fe := &plan.FieldError{Plan: pe.Plan, Field: pe.Field, Line: pe.Line, Msg: pe.Error}
		fmt.Fprintln(g.stderr, display(fe.Error()))
	}
	return withCode(ExitUsage, fmt.Errorf("the plan file is refused (%d problems); nothing changed", len(ce.PlanErrors)))
}

// printChanges prints what an apply changed, or would change.
func (g *globals) printChanges(changes []plan.PlanChange, dryRun bool) error {
	if !g.json {
		return plan.WriteDiff(g.stdout, changes)
	}
	counts := map[plan.Action]int{}
	for _, pc := range changes {
		counts[pc.Action]++
		line := map[string]any{"message_type": "plan_change", "action": pc.Action, "plan": pc.Plan, "changes": pc.Changes}
		if err := g.printJSON(line); err != nil {
			return err
		}
	}
	return g.printJSON(map[string]any{"message_type": "summary", "dry_run": dryRun,
		"create": counts[plan.Create], "update": counts[plan.Update], "delete": counts[plan.Delete]})
}

func newPlanCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "plan",
		Short: "See and delete the server's backup plans",
		Long: `The server keeps backup plans, applied with bunker apply, and runs their
schedules. These commands list them, print one in the YAML of a plan file,
and delete one.`,
		Example: `  bunker plan list
  bunker plan show db > db.yaml
  bunker plan delete old`,
	}
	cmd.AddCommand(newPlanListCmd(g), newPlanShowCmd(g), newPlanDeleteCmd(g))
	return cmd
}

func newPlanListCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the backup plans",
		Long: `List the plans of the vaults you may read: name, vault, schedule, hosts,
the newest time run or reported missed, and the next time due. --json prints
an array of plans.`,
		Example: `  bunker plan list
  bunker plan list --json`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.dial()
			if err != nil {
				return err
			}
			plans, err := c.Plans(cmd.Context())
			if err != nil {
				return failed(err, "list plans")
			}
			if g.json {
				if plans == nil {
					plans = []api.Plan{}
				}
				return g.printJSON(plans)
			}
			tw := g.newTable("NAME", "VAULT", "SCHEDULE", "HOSTS", "LAST", "NEXT")
			for _, p := range plans {
				row(tw, p.Plan.Name, p.Plan.Vault, scheduleText(p.Plan.Schedule), displayAll(p.Plan.Hosts(), ","), when(p.LastSlot), when(p.Next))
			}
			return tw.Flush()
		},
	}
}

// scheduleText writes a schedule as a plan file does.
func scheduleText(s plan.Schedule) string {
	if s.Rate > 0 {
		return schedule.Rate{Every: s.Rate}.String()
	}
	if s.Timezone != "" {
		return s.Cron + " " + s.Timezone
	}
	return s.Cron
}

func newPlanShowCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "show NAME",
		Short: "Print a backup plan as a plan file",
		Long: `Print a plan in the YAML of a plan file, in canonical form (defaults filled
in), so that bunker apply -f reads it back unchanged. --json prints the plan
with who made and changed it and its next time.`,
		Example: `  bunker plan show db
  bunker plan show db > db.yaml`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			c, err := g.dial()
			if err != nil {
				return err
			}
			p, err := c.Plan(cmd.Context(), a[0])
			if err != nil {
				return failed(err, "show plan %s", a[0])
			}
			if g.json {
				return g.printJSON(p)
			}
			return plan.Encode(g.stdout, []plan.Plan{p.Plan})
		},
	}
}

func newPlanDeleteCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a backup plan",
		Long: `Delete a plan: it runs no more. The points it made stay, under their
vault's rules. Deleting needs the vault-admin role on the plan's vault, and
is audited.`,
		Example: `  bunker plan delete old`,
		Args:    args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			c, err := g.dial()
			if err != nil {
				return err
			}
			if err := c.DeletePlan(cmd.Context(), a[0]); err != nil {
				return failed(err, "delete plan %s", a[0])
			}
			if g.json {
				return g.printJSON(plan.PlanChange{Action: plan.Delete, Plan: a[0]})
			}
			g.printf("plan %q deleted\n", a[0])
			return nil
		},
	}
}
