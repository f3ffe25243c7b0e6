package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/bunkerhq/bunker/internal/api"
	"github.com/bunkerhq/bunker/internal/client"
	"github.com/bunkerhq/bunker/internal/eventrule"
	"github.com/bunkerhq/bunker/internal/store"
)

func newRuleCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rule",
		Short: "Route the server's events to webhooks, mail, commands and copies",
		Long: `An event rule selects the server's events (a backup completed, a copy failed,
a verdict changed…) with a pattern and sends each to its targets: a webhook,
an email, a command, or a copy into another vault. Deliveries are retried,
and those that keep failing wait as dead letters (` + "`bunker delivery`" + `).
Managing rules needs vault-admin on all vaults. See docs/EVENTS.md.`,
	}
	cmd.AddCommand(newRulePutCmd(g), newRuleListCmd(g), newRuleShowCmd(g), newRuleRemoveCmd(g))
	return cmd
}

// readRuleFile reads a rule, JSON or YAML, from a file or standard input
// for "-", and returns it as JSON naming rule name: a file that names no
// rule gets name, one that names another is refused.
func (g *globals) readRuleFile(file, name string) (json.RawMessage, error) {
	var r io.Reader = g.stdin
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return nil, fmt.Errorf("read the rule file: %w", err)
		}
		defer f.Close()
		r = f
	}
	data, err := io.ReadAll(io.LimitReader(r, eventrule.MaxRuleBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read the rule file %s: %w", file, err)
	}
	if len(data) > eventrule.MaxRuleBytes {
		return nil, usageError{fmt.Errorf("the rule file %s is larger than %d bytes", file, eventrule.MaxRuleBytes)}
	}
	if t := bytes.TrimSpace(data); len(t) > 0 && t[0] == '{' {
		return nameRule(t, name, file)
	}
	var v any
	if err := yaml.Unmarshal(data, &v); err != nil {
		return nil, usageError{fmt.Errorf("the rule file %s is neither JSON nor YAML: %w", file, err)}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, usageError{fmt.Errorf("the rule file %s: %w (write it as a mapping with string keys)", file, err)}
	}
	return nameRule(b, name, file)
}

// nameRule checks the name a rule's JSON object gives, or puts name in
// it, keeping the rest byte for byte for the server to read strictly.
func nameRule(b []byte, name, file string) (json.RawMessage, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		return nil, usageError{fmt.Errorf("the rule file %s: want one JSON object or YAML mapping: %w", file, err)}
	}
	raw, ok := fields["name"]
	if !ok {
		n, _ := json.Marshal(name)
		rest := bytes.TrimPrefix(bytes.TrimSpace(b), []byte("{"))
		sep := ","
		if len(bytes.TrimSpace(rest)) > 0 && bytes.TrimSpace(rest)[0] == '}' {
			sep = ""
		}
		return json.RawMessage(`{"name":` + string(n) + sep + string(rest)), nil
	}
	var have string
	if err := json.Unmarshal(raw, &have); err == nil && have != name {
		return nil, usageError{fmt.Errorf("the rule file %s names rule %q, not %s: make them the same, or leave the name out of the file", file, have, name)}
	}
	return b, nil
}

func newRulePutCmd(g *globals) *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "put NAME -f FILE",
		Short: "Create an event rule, or replace the rule of that name",
		Long: `Create or replace event rule NAME from a JSON or YAML file (- for standard
input) holding its description, enabled, pattern and targets, as
docs/EVENTS.md describes them; its name may be left out. The server reads the
rule strictly and names the field at fault in every refusal. A copy target's
action names the vault of this server the event's point is copied into.`,
		Example: `  bunker rule put failures -f failures.yaml
  echo '{"pattern": {"kind": ["backup.completed"], "vault": ["prod"]}, "targets": [{"copy": {"action": "central"}}]}' |
      bunker rule put to-central -f -`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			if file == "" {
				return usageError{errors.New("name the rule file with -f FILE (- for standard input)")}
			}
			if err := eventrule.CheckName(a[0]); err != nil {
				return usageError{fmt.Errorf("rule name: %w", err)}
			}
			body, err := g.readRuleFile(file, a[0])
			if err != nil {
				return err
			}
			c, err := g.dial()
			if err != nil {
				return err
			}
			r, err := c.PutEventRule(cmd.Context(), a[0], body)
			var ce *client.Error
			if errors.As(err, &ce) && ce.Status == http.StatusBadRequest {
				return withCode(ExitUsage, fmt.Errorf("the rule file %s is refused: %s; nothing changed", file, ce.Message))
			}
			if err != nil {
				return failed(err, "put event rule %s", a[0])
			}
			if g.json {
				return g.printJSON(r)
			}
			g.printf("event rule %s stored; it sends to %s\n", r.Name, strings.Join(r.Targets, ", "))
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "the rule `file`, JSON or YAML (- for standard input)")
	return cmd
}

// ruleState says whether a stored rule routes events.
func ruleState(r api.EventRule) string {
	var spec struct {
		Enabled *bool `json:"enabled"`
	}
	if err := json.Unmarshal(r.Rule, &spec); err == nil && spec.Enabled != nil && !*spec.Enabled {
		return "disabled"
	}
	return "enabled"
}

func newRuleListCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the event rules",
		Args:  args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.dial()
			if err != nil {
				return err
			}
			rs, err := c.EventRules(cmd.Context())
			if err != nil {
				return failed(err, "list event rules")
			}
			if g.json {
				return g.printJSON(rs)
			}
			if len(rs) == 0 {
				g.printf("no event rules (add one with `bunker rule put`)\n")
				return nil
			}
			tw := g.newTable("NAME", "STATE", "TARGETS", "UPDATED", "BY")
			for _, r := range rs {
				row(tw, r.Name, ruleState(r), strings.Join(r.Targets, ", "), r.UpdatedAt.Local().Format(time.DateTime), r.UpdatedBy)
			}
			return tw.Flush()
		},
	}
}

func newRuleShowCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "show NAME",
		Short: "Print an event rule, as `bunker rule put` takes it",
		Example: `  bunker rule show failures > failures.json
  bunker rule put failures -f failures.json`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			c, err := g.dial()
			if err != nil {
				return err
			}
			r, err := c.EventRule(cmd.Context(), a[0])
			if err != nil {
				return failed(err, "show event rule %s", a[0])
			}
			if g.json {
				return g.printJSON(r)
			}
			var out bytes.Buffer
			if err := json.Indent(&out, r.Rule, "", "  "); err != nil {
				return fmt.Errorf("event rule %s: the server sent an invalid rule: %w", a[0], err)
			}
			out.WriteByte('\n')
			_, err = g.stdout.Write(out.Bytes())
			return err
		},
	}
}

func newRuleRemoveCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "remove NAME",
		Short: "Remove an event rule (deliveries it queued are still made)",
		Args:  args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			c, err := g.dial()
			if err != nil {
				return err
			}
			if err := c.DeleteEventRule(cmd.Context(), a[0]); err != nil {
				return failed(err, "remove event rule %s", a[0])
			}
			if g.json {
				return g.printJSON(map[string]string{"status": "deleted", "rule": a[0]})
			}
			g.printf("event rule %s removed\n", a[0])
			return nil
		},
	}
}

func newDeliveryCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "delivery",
		Short: "List the deliveries of events to the rules' targets, and replay dead letters",
		Long: `Every event a rule matches is delivered to each of the rule's targets from a
durable outbox, retried with backoff. A delivery that keeps failing, or fails
in a way retrying cannot fix, becomes a dead letter: it waits, with its last
error, until it is replayed. Listing needs vault-admin on all vaults or
security-admin; replaying needs vault-admin on all vaults. See
docs/EVENTS.md.`,
	}
	cmd.AddCommand(newDeliveryListCmd(g), newDeliveryReplayCmd(g))
	return cmd
}

func newDeliveryListCmd(g *globals) *cobra.Command {
	var state, rule string
	var limit int
	cmd := &cobra.Command{
		Use:   "list [--state pending|delivered|dead] [--rule NAME]",
		Short: "List deliveries, newest first",
		Example: `  bunker delivery list --state dead
  bunker delivery list --rule failures --json`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch store.DeliveryState(state) {
			case "", store.DeliveryPending, store.DeliveryDelivered, store.DeliveryDead:
			default:
				return usageError{fmt.Errorf("--state %q: want pending, delivered or dead", state)}
			}
			if limit < 0 {
				return usageError{fmt.Errorf("--limit %d: want a positive number", limit)}
			}
			c, err := g.dial()
			if err != nil {
				return err
			}
			ds, err := c.Deliveries(cmd.Context(), client.DeliveryFilter{State: store.DeliveryState(state), Rule: rule, Limit: limit})
			if err != nil {
				return failed(err, "list deliveries")
			}
			if g.json {
				return g.printJSON(ds)
			}
			if len(ds) == 0 {
				g.printf("no deliveries\n")
				return nil
			}
			tw := g.newTable("ID", "STATE", "RULE", "KIND", "TARGET", "ATTEMPTS", "CREATED", "LAST ERROR")
			for _, d := range ds {
				row(tw, d.ID, string(d.State), d.Rule, d.Kind, d.TargetName, fmt.Sprint(d.Attempts),
					d.CreatedAt.Local().Format(time.DateTime), d.LastError)
			}
			return tw.Flush()
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&state, "state", "", "only deliveries in this `state`: pending, delivered or dead")
	fl.StringVar(&rule, "rule", "", "only deliveries of this `rule`")
	fl.IntVar(&limit, "limit", 0, "at most this many (default 100, at most 1000)")
	return cmd
}

func newDeliveryReplayCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "replay ID",
		Short: "Send a dead letter again, with its attempts counted afresh",
		Long: `Make a dead letter due at once, with its attempts counted afresh. It keeps
its id, so a receiver that already got it can drop it, and goes to the target
as the rule had it when the event was routed. Only dead letters are replayed.`,
		Example: `  bunker delivery replay 0f3a9c5e1b2d4f6a8c0e1b3d5f7a9c1e`,
		Args:    args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			c, err := g.dial()
			if err != nil {
				return err
			}
			d, err := c.ReplayDelivery(cmd.Context(), a[0])
			if err != nil {
				return failed(err, "replay delivery %s", a[0])
			}
			if g.json {
				return g.printJSON(d)
			}
			g.printf("delivery %s of rule %s to %s is due again (replay %d)\n", d.ID, d.Rule, d.TargetName, d.Replays)
			return nil
		},
	}
}
