package cli

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/bunkerhq/bunker/internal/api"
	"github.com/bunkerhq/bunker/internal/approval"
	"github.com/bunkerhq/bunker/internal/audit"
	"github.com/bunkerhq/bunker/internal/client"
)

// approverKeyFile is the approver key file a command uses: the flag,
// $BUNKER_APPROVER_KEY, or the default in the config directory.
func approverKeyFile(flag string) (string, error) {
	if flag != "" {
		return flag, nil
	}
	if v := os.Getenv("BUNKER_APPROVER_KEY"); v != "" {
		return v, nil
	}
	return approval.DefaultKeyFile()
}

func newApproverCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "approver",
		Short: "Manage this approver's signing key",
		Long: `An approver signs its votes on guarded operations with an ed25519 key pair
made on its own machine. The server keeps only the public key, given when the
approver accepts a team invitation (` + "`bunker team accept`" + `), so a vote
cannot be made without the private key, whoever controls the server.`,
	}
	cmd.AddCommand(newApproverKeygenCmd(g))
	return cmd
}

func newApproverKeygenCmd(g *globals) *cobra.Command {
	var keyFile string
	cmd := &cobra.Command{
		Use:   "keygen [--approver-key FILE]",
		Short: "Make this approver's key pair and print its public key",
		Long: `Make an ed25519 key pair for signing approvals. The private key is written
to --approver-key (default $BUNKER_APPROVER_KEY, else approver.key in your
config directory, ~/.config/bunker/approver.key) with mode 0600; an existing
file is never replaced. The public key and its id are printed: the id is what
` + "`bunker team show`" + ` lists for you once you accepted, so you can check that the
server holds your key and nobody else's.

Keep the private key on this machine; a copy offline is wise. Losing it means
a security-admin must remove you from your teams and invite you again.`,
		Example: `  bunker approver keygen
  bunker approver keygen --approver-key /media/token/approver.key --json`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			path, err := approverKeyFile(keyFile)
			if err != nil {
				return err
			}
			priv, err := approval.GenerateKey()
			if err != nil {
				return err
			}
			if err := approval.WriteKeyFile(path, priv); err != nil {
				return err
			}
			pub := priv.Public().(ed25519.PublicKey)
			if g.json {
				return g.printJSON(map[string]string{"key_file": path, "public_key": approval.EncodePublicKey(pub), "key_id": approval.KeyID(pub)})
			}
			g.printf("wrote the private key to %s (mode 0600)\npublic key: %s\nkey id:     %s\n", path, approval.EncodePublicKey(pub), approval.KeyID(pub))
			g.notef("join a team you were invited to with `bunker team accept TEAM`\n")
			return nil
		},
	}
	cmd.Flags().StringVar(&keyFile, "approver-key", "", "write the private key to this `file`")
	return cmd
}

func newTeamCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "team",
		Short: "Manage approval teams: M of N approvers for guarded operations",
		Long: `An approval team is a set of approvers (principals holding the approver role)
and a threshold M of them, at least 2, who must approve every guarded
operation of the vaults (or the server) it guards. A security-admin creates
it and invites approvers; each accepts with its own key (` + "`bunker approver keygen`" + `),
and the team is active once max(2, M) have accepted. Once active, changing
its members or threshold is itself a request the team approves.`,
		Example: `  bunker team create guards --threshold 2 --invite amy,bob,cat
  bunker team accept guards
  bunker team show guards`,
	}
	cmd.AddCommand(newTeamCreateCmd(g), newTeamChangeCmd(g, "invite"), newTeamChangeCmd(g, "remove"), newTeamThresholdCmd(g),
		newTeamAcceptCmd(g), newTeamShowCmd(g))
	return cmd
}

func (g *globals) printTeam(t api.Team, verb string) error {
	if g.json {
		return g.printJSON(t)
	}
	g.printf("%s team %s: %s, %d of %d active members must approve (rejections: %s)\n", verb, display(t.Name), t.Status, t.Threshold, t.Active, t.Reject)
	tw := g.newTable("MEMBER", "STATE", "KEY", "INVITED", "ACCEPTED")
	for _, m := range t.Members {
		row(tw, m.Principal, string(m.State), m.KeyID, when(m.InvitedAt), when(m.AcceptedAt))
	}
	return tw.Flush()
}

func newTeamCreateCmd(g *globals) *cobra.Command {
	var threshold int
	var invite []string
	var reject string
	cmd := &cobra.Command{
		Use:   "create NAME --threshold M [--invite A,B,…]",
		Short: "Create an approval team and invite approvers",
		Long: `Create a team whose approval takes --threshold M members (at least 2), and
invite the approvers named by --invite. --reject says what a rejection does:
"any" (the default) ends a request at the first rejection, "unreachable" only
once M approvals can no longer be reached. Needs the security-admin role.`,
		Example: `  bunker team create guards --threshold 2 --invite amy,bob,cat`,
		Args:    args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			c, err := g.dial()
			if err != nil {
				return err
			}
			t, err := c.CreateTeam(cmd.Context(), api.TeamRequest{Name: a[0], Threshold: threshold, Reject: reject, Invite: invite})
			if err != nil {
				return failed(err, "create team %s", a[0])
			}
			return g.printTeam(t, "created")
		},
	}
	cmd.Flags().IntVar(&threshold, "threshold", 2, "approvals each request needs (`M`, at least 2)")
	cmd.Flags().StringSliceVar(&invite, "invite", nil, "approvers to invite (`names`, comma-separated)")
	cmd.Flags().StringVar(&reject, "reject", "", "what a rejection does: any (default) or unreachable")
	return cmd
}

func newTeamChangeCmd(g *globals, verb string) *cobra.Command {
	short := "Invite approvers to a team"
	if verb == "remove" {
		short = "Remove members from a team"
	}
	return &cobra.Command{
		Use:   verb + " TEAM MEMBER…",
		Short: short,
		Long: short + `. While the team is forming the change is made at once;
once it is active it becomes an approval request that the team approves
(exit code 8): confirm it with ` + "`bunker approvals confirm ID`" + `. Needs the
security-admin role.`,
		Example: "  bunker team " + verb + " guards dan",
		Args:    args(cobra.MinimumNArgs(2)),
		RunE: func(cmd *cobra.Command, a []string) error {
			c, err := g.dial()
			if err != nil {
				return err
			}
			ch := api.TeamChange{Invite: a[1:]}
			if verb == "remove" {
				ch = api.TeamChange{Remove: a[1:]}
			}
			t, err := c.ChangeTeam(cmd.Context(), a[0], ch)
			if err != nil {
				return failed(err, "%s members of team %s", verb, a[0])
			}
			return g.printTeam(t, "changed")
		},
	}
}

func newTeamThresholdCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "threshold TEAM M",
		Short: "Set how many members must approve",
		Long: `Set a team's threshold (at least 2, at most its active members). Of an
active team this is an approval request the team approves (exit code 8).`,
		Example: "  bunker team threshold guards 3",
		Args:    args(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, a []string) error {
			var m int
			if _, err := fmt.Sscanf(a[1], "%d", &m); err != nil || fmt.Sprint(m) != a[1] {
				return usageError{fmt.Errorf("threshold %q: give a whole number", a[1])}
			}
			c, err := g.dial()
			if err != nil {
				return err
			}
			t, err := c.ChangeTeam(cmd.Context(), a[0], api.TeamChange{Threshold: m})
			if err != nil {
				return failed(err, "set the threshold of team %s", a[0])
			}
			return g.printTeam(t, "changed")
		},
	}
}

func newTeamAcceptCmd(g *globals) *cobra.Command {
	var keyFile string
	cmd := &cobra.Command{
		Use:   "accept TEAM [--approver-key FILE]",
		Short: "Join a team you were invited to, with your public key",
		Long: `Accept an invitation to a team, as yourself, giving the server the public key
of your approver key (made with ` + "`bunker approver keygen`" + `). Your votes are then
signatures by that key. Check afterwards that ` + "`bunker team show TEAM`" + ` lists
your key id.`,
		Example: "  bunker team accept guards",
		Args:    args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			priv, err := readApproverKey(keyFile)
			if err != nil {
				return err
			}
			c, err := g.dial()
			if err != nil {
				return err
			}
			t, err := c.AcceptTeam(cmd.Context(), a[0], approval.EncodePublicKey(priv.Public().(ed25519.PublicKey)))
			if err != nil {
				return failed(err, "accept team %s", a[0])
			}
			return g.printTeam(t, "joined")
		},
	}
	cmd.Flags().StringVar(&keyFile, "approver-key", "", "your approver key `file` (default $BUNKER_APPROVER_KEY or ~/.config/bunker/approver.key)")
	return cmd
}

func readApproverKey(flag string) (ed25519.PrivateKey, error) {
	path, err := approverKeyFile(flag)
	if err != nil {
		return nil, err
	}
	priv, err := approval.ReadKeyFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("no approver key at %s: make one with `bunker approver keygen`, or name yours with --approver-key", path)
	}
	return priv, err
}

func newTeamShowCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "show [TEAM]",
		Short:   "Show a team, or list every team",
		Long:    `Show a team's members (their state and key ids), threshold and status; with no TEAM, every team.`,
		Example: "  bunker team show guards\n  bunker team show --json",
		Args:    args(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			c, err := g.dial()
			if err != nil {
				return err
			}
			if len(a) == 1 {
				t, err := c.Team(cmd.Context(), a[0])
				if err != nil {
					return failed(err, "show team %s", a[0])
				}
				return g.printTeam(t, "")
			}
			ts, err := c.Teams(cmd.Context())
			if err != nil {
				return failed(err, "list teams")
			}
			if g.json {
				return g.printJSON(ts)
			}
			tw := g.newTable("TEAM", "STATUS", "THRESHOLD", "ACTIVE", "MEMBERS")
			for _, t := range ts {
				var names []string
				for _, m := range t.Members {
					names = append(names, m.Principal+"("+string(m.State)+")")
				}
				row(tw, t.Name, t.Status, fmt.Sprint(t.Threshold), fmt.Sprint(t.Active), strings.Join(names, " "))
			}
			return tw.Flush()
		},
	}
}

func newApprovalsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "approvals",
		Short: "Confirm, approve, reject and verify requests for guarded operations",
		Long: `A guarded operation (deleting a point before its expiry, releasing a legal
hold, changing a lock in its grace period, deleting a vault, lowering
retention, changing or turning off approval, binding security-admin, restoring
an infected point, opening an air-gapped vault) does nothing at first: the
server records a request pinning the exact operation and its parameters, and
the command exits with code 8 naming it. Then:

  1. the requester confirms its intent:      bunker approvals confirm ID
  2. M members of the team approve, signed:  bunker approvals approve ID
  3. the requester confirms once more, and the server executes exactly the
     pinned operation, once:                 bunker approvals confirm ID

Each step has a deadline (24 hours by default). ` + "`bunker approvals verify`" + ` checks
an audit export offline for executed operations without enough valid
signatures.`,
		Example: `  bunker approvals list --state pending-approval
  bunker approvals show 3fa9c1d2
  bunker approvals approve 3fa9c1d2 --reason "ticket 4411"
  bunker approvals verify --file audit.jsonl`,
	}
	cmd.AddCommand(newApprovalsListCmd(g), newApprovalsShowCmd(g), newApprovalsConfirmCmd(g), newApprovalsVoteCmd(g, approval.Approve),
		newApprovalsVoteCmd(g, approval.Reject), newApprovalsCancelCmd(g), newApprovalsVerifyCmd(g), newApprovalsGuardCmd(g))
	return cmd
}

func newApprovalsListCmd(g *globals) *cobra.Command {
	var f client.ApprovalFilter
	cmd := &cobra.Command{
		Use:   "list [--state S] [--team T] [--vault NAME] [--requester P]",
		Short: "List approval requests",
		Long: `List the requests you may see, newest first: your own and your teams';
security-admins and auditors see all. --state is one of awaiting-confirmation,
pending-approval, approved, executed, rejected, expired, cancelled; --vault
keeps the requests about one vault (* for server-wide ones).`,
		Example: "  bunker approvals list --state pending-approval",
		Args:    args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			f.Vault = g.vault
			c, err := g.dial()
			if err != nil {
				return err
			}
			rs, err := c.Approvals(cmd.Context(), f)
			if err != nil {
				return failed(err, "list approval requests")
			}
			if g.json {
				return g.printJSON(rs)
			}
			tw := g.newTable("ID", "STATE", "OPERATION", "TARGET", "REQUESTER", "TEAM", "APPROVALS", "DEADLINE")
			for _, r := range rs {
				row(tw, r.Request.ID[:12], string(r.State), string(r.Request.Operation), r.Request.Target, r.Request.Requester,
					r.Request.Team, fmt.Sprintf("%d/%d", r.Approvals, r.Threshold), when(r.Deadline))
			}
			return tw.Flush()
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.State, "state", "", "only requests in this `state`")
	fl.StringVar(&f.Team, "team", "", "only requests of this `team`")
	fl.StringVar(&f.Requester, "requester", "", "only requests by this `principal`")
	return cmd
}

// checkedRequest reads a request and checks, here, that its pinned form
// hashes to its hash and is the request shown.
func checkedRequest(ctx context.Context, c *client.Client, id string) (api.Approval, error) {
	r, err := c.Approval(ctx, id)
	if err != nil {
		return r, failed(err, "read approval request %s", id)
	}
	req, hash, err := approval.ParseCanonical([]byte(r.Canonical))
	if err != nil || hash != r.Hash || req.ID != r.Request.ID || req.Operation != r.Request.Operation || req.Target != r.Request.Target {
		return r, withCode(ExitDamaged, fmt.Errorf("request %s: the server shows a pinned form that does not hash to its hash %s: do not confirm or approve it", id, r.Hash))
	}
	r.Request = req
	return r, nil
}

func (g *globals) printApproval(r api.Approval) error {
	if g.json {
		return g.printJSON(r)
	}
	q := r.Request
	g.printf("request %s: %s\n", q.ID, r.State)
	g.printf("  operation  %s (%s)\n", q.Operation, q.Operation.Describe())
	g.printf("  on         %s\n  parameters %s\n", display(q.Target), display(string(q.Params)))
	g.printf("  requester  %s, %s\n  team       %s: %d of %d approvals\n", display(q.Requester), when(q.Created), display(q.Team), r.Approvals, r.Threshold)
	g.printf("  hash       %s\n", r.Hash)
	if !r.Deadline.IsZero() {
		g.printf("  deadline   %s\n", when(r.Deadline))
	}
	if r.Note != "" {
		g.printf("  note       %s\n", display(r.Note))
	}
	for _, b := range r.Ballots {
		g.printf("  %-7s    %s with %s, %s: %s\n", b.Vote, display(b.Member), b.KeyID, when(b.At), display(b.Reason))
	}
	g.printf("  next       %s\n", display(r.Next))
	return nil
}

func newApprovalsShowCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "show ID",
		Short: "Show a request: the pinned operation, its hash and the signed votes",
		Long: `Show a request, after checking here that its pinned form hashes to its hash.
ID is the request's id or at least 8 of its first hex digits.`,
		Example: "  bunker approvals show 3fa9c1d2",
		Args:    args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			c, err := g.dial()
			if err != nil {
				return err
			}
			r, err := checkedRequest(cmd.Context(), c, a[0])
			if err != nil {
				return err
			}
			return g.printApproval(r)
		},
	}
}

// deliberate asks, on a terminal, for the first 8 hex digits of the hash,
// so that nothing is confirmed or signed by a slip; without a terminal it
// needs --yes.
func (g *globals) deliberate(r api.Approval, what string, yes bool) error {
	if yes {
		return nil
	}
	if !g.json {
		g.printApproval(r)
	}
	answer, ok, err := g.terminalLine(fmt.Sprintf("To %s request %s, type the first 8 characters of its hash: ", what, r.Request.ID[:12]))
	if err != nil {
		return err
	}
	if !ok {
		return usageError{fmt.Errorf("to %s a request without a terminal, give --yes", what)}
	}
	if answer != r.Hash[:8] {
		return errors.New("that is not the start of the request's hash: nothing was done")
	}
	return nil
}

func newApprovalsConfirmCmd(g *globals) *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:   "confirm ID [--yes]",
		Short: "Confirm your request: first your intent, then, once approved, to execute it",
		Long: `Confirm a request you made. Awaiting your confirmation, it goes to the team,
whose members are notified. Approved, it is executed: the server checks the
pinned operation and the signed approvals again and performs exactly that
operation, once; an operation that issues a credential (a restore-access
grant, a one-time restore of an infected point) prints it, once.

On a terminal you are shown the request and asked for the first 8 characters
of its hash; --yes skips that (for scripts that already checked the request).`,
		Example: "  bunker approvals confirm 3fa9c1d2",
		Args:    args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			ctx := cmd.Context()
			c, err := g.dial()
			if err != nil {
				return err
			}
			r, err := checkedRequest(ctx, c, a[0])
			if err != nil {
				return err
			}
			what := "confirm"
			if r.State == approval.Approved {
				what = "execute"
			}
			if err := g.deliberate(r, what, yes); err != nil {
				return err
			}
			done, err := c.ConfirmApproval(ctx, r.Request.ID, r.Hash)
			if err != nil {
				return failed(err, "%s request %s", what, r.Request.ID[:12])
			}
			if g.json {
				return g.printJSON(done)
			}
			switch done.State {
			case approval.PendingApproval:
				g.printf("request %s goes to team %s: %d of its members must approve (`bunker approvals approve %s`)\n",
					done.Request.ID[:12], done.Request.Team, done.Threshold, done.Request.ID[:12])
			case approval.Executed:
				g.printf("request %s executed: %s on %s\n", done.Request.ID[:12], done.Request.Operation, display(done.Request.Target))
				if gr := done.Grant; gr != nil {
					g.printf("grant %s for %s on vault %s, until %s (shown once):\n%s\n", gr.ID, gr.Principal, gr.Vault, when(gr.ExpiresAt), gr.Token)
					g.notef("use it as BUNKER_TOKEN for `bunker restore --server … --vault %s`\n", gr.Vault)
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&yes, "yes", false, "do not ask for the hash")
	return cmd
}

func newApprovalsVoteCmd(g *globals, vote approval.Vote) *cobra.Command {
	var keyFile, reason string
	var yes bool
	cmd := &cobra.Command{
		Use:   string(vote) + " ID [--reason TEXT] [--approver-key FILE] [--yes]",
		Short: map[approval.Vote]string{approval.Approve: "Approve a request, signing it with your key", approval.Reject: "Reject a request, signing it with your key"}[vote],
		Long: `Sign your vote on a request of your team with your approver key and send it.
The request is read and its pinned form hashed here, and what you sign is that
hash with your vote ("bunker approval v1", the hash, the vote, your key id):
the signature is good for this request and this vote only. You cannot vote on
your own request, and you vote once.

On a terminal you are shown the request and asked for the first 8 characters
of its hash; --yes skips that.`,
		Example: "  bunker approvals " + string(vote) + " 3fa9c1d2 --reason \"ticket 4411\"",
		Args:    args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			ctx := cmd.Context()
			priv, err := readApproverKey(keyFile)
			if err != nil {
				return err
			}
			c, err := g.dial()
			if err != nil {
				return err
			}
			r, err := checkedRequest(ctx, c, a[0])
			if err != nil {
				return err
			}
			if err := g.deliberate(r, string(vote), yes); err != nil {
				return err
			}
			sig, keyID, err := approval.Sign(priv, r.Hash, vote)
			if err != nil {
				return err
			}
			done, err := c.Vote(ctx, r.Request.ID, string(vote), api.VoteRequest{KeyID: keyID, Signature: sig, Reason: reason})
			if err != nil {
				return failed(err, "%s request %s", vote, r.Request.ID[:12])
			}
			if g.json {
				return g.printJSON(done)
			}
			g.printf("%s request %s with key %s: it is %s (%d of %d approvals)\n", map[approval.Vote]string{approval.Approve: "approved", approval.Reject: "rejected"}[vote],
				done.Request.ID[:12], keyID, done.State, done.Approvals, done.Threshold)
			return nil
		},
	}
	cmd.Flags().StringVar(&keyFile, "approver-key", "", "your approver key `file` (default $BUNKER_APPROVER_KEY or ~/.config/bunker/approver.key)")
	cmd.Flags().StringVar(&reason, "reason", "", "why (recorded with the vote)")
	cmd.Flags().BoolVar(&yes, "yes", false, "do not ask for the hash")
	return cmd
}

func newApprovalsCancelCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "cancel ID",
		Short:   "Withdraw your request",
		Long:    `Withdraw a request you made that has not been executed, rejected or expired.`,
		Example: "  bunker approvals cancel 3fa9c1d2",
		Args:    args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			c, err := g.dial()
			if err != nil {
				return err
			}
			r, err := c.CancelApproval(cmd.Context(), a[0])
			if err != nil {
				return failed(err, "cancel request %s", a[0])
			}
			if g.json {
				return g.printJSON(r)
			}
			g.printf("request %s cancelled\n", r.Request.ID[:12])
			return nil
		},
	}
}

// approvalsResult is what `approvals verify --json` prints.
type approvalsResult struct {
	OK        bool   `json:"ok"`
	Source    string `json:"source"`
	KeyID     string `json:"key_id"`
	KeySource string `json:"key_source"`
	approval.Report
}

func newApprovalsVerifyCmd(g *globals) *cobra.Command {
	var file, pubB64, keyID string
	cmd := &cobra.Command{
		Use:   "verify [--file EXPORT] [--public-key BASE64 | --key-id ID]",
		Short: "Check that every executed guarded operation carried M valid signatures",
		Long: `Verify the approvals in the audit log, offline: the hash chain and signed
checkpoints as ` + "`bunker audit verify`" + ` checks them, then, replaying the log, that
every executed request hashes to its pinned form and carries its team's
threshold of valid signed approvals by distinct members of the team as it was
at that point (not the requester, not removed, with the key each accepted
with), and that every change of an active team was approved by it. So an
approval forged in the server's database, or an operation run without one,
shows here. Exit code 4 means problems were found.

The export and the trusted key are as for ` + "`bunker audit verify`" + `: --file reads an
export written by ` + "`bunker audit export`" + `, else one is fetched (auditor role).`,
		Example: `  bunker approvals verify
  bunker approvals verify --file audit.jsonl --key-id ed25519:3fa9c1d2e4b5a6f7 --json`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ex, err := g.readExport(cmd.Context(), file, pubB64, keyID)
			if err != nil {
				return err
			}
			rep := approval.Verify(ex.entries, ex.checkpoints, ex.trusted)
			if ex.keyProblem != nil {
				rep.Audit.Problems = append([]audit.Problem{*ex.keyProblem}, rep.Audit.Problems...)
			}
			if rep.Audit.Problems == nil {
				rep.Audit.Problems = []audit.Problem{}
			}
			res := approvalsResult{OK: rep.OK(), Source: ex.source, KeyID: approval.KeyID(ex.trusted), KeySource: ex.keySource, Report: rep}
			if g.json {
				if err := g.printJSON(res); err != nil {
					return err
				}
			} else {
				g.printf("verified the approvals in %d entries of %s against key %s (%s): %s\n", rep.Audit.Entries, ex.source, res.KeyID, ex.keySource, rep.Summary())
				for _, p := range rep.Audit.Problems {
					g.printf("  seq %d  audit %s  %s\n", p.Seq, p.Kind, display(p.Detail))
				}
				for _, p := range rep.Problems {
					g.printf("  seq %d  %s  request %s  %s\n", p.Seq, p.Kind, display(p.Request), display(p.Detail))
				}
				if rep.OK() {
					g.printf("no problems found\n")
				}
			}
			if !rep.OK() {
				return withCode(ExitDamaged, fmt.Errorf("the approvals in the audit log of %s failed verification: %d problems (listed above)", ex.source, len(rep.Problems)+len(rep.Audit.Problems)))
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&file, "file", "", "verify this export `file` instead of fetching one from the server")
	fl.StringVar(&pubB64, "public-key", "", "check checkpoints with this ed25519 public key (`base64`)")
	fl.StringVar(&keyID, "key-id", "", "trust the export's key only if it has this `id` (ed25519:…)")
	return cmd
}

func newApprovalsGuardCmd(g *globals) *cobra.Command {
	var team string
	var unguard []string
	var off bool
	cmd := &cobra.Command{
		Use:   "guard [--vault NAME] [--team TEAM [--unguard OP,…] | --off]",
		Short: "Show or set which team approves a vault's (or the server's) guarded operations",
		Long: `Without --team or --off, show who approves the guarded operations of a vault
(--vault NAME) or of the server (binding security-admin). --team sets
the team (it must be active); every operation is then guarded except those
named by --unguard (delete-early, hold-release, lock-change, vault-delete,
retention-lower, vault-team, approval-off, infected-restore). --off removes
the team.

Setting a team where none guards takes effect at once; changing the team,
removing it or guarding fewer operations is itself a request the current team
approves (exit code 8). A vault-admin sets a vault's team, a security-admin
the server's.`,
		Example: `  bunker approvals guard --vault prod --team guards
  bunker approvals guard --vault prod
  bunker approvals guard --team guards          # the server: binding security-admin`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if off && (team != "" || len(unguard) > 0) {
				return usageError{errors.New("--off removes the team: give it without --team and --unguard")}
			}
			vault := g.vault
			c, err := g.dial()
			if err != nil {
				return err
			}
			where := "the server"
			if vault != "" {
				where = "vault " + vault
			}
			var set api.ApprovalSettings
			switch {
			case team == "" && !off:
				set, err = c.ApprovalSettings(cmd.Context(), vault)
			default:
				set, err = c.SetApprovalSettings(cmd.Context(), vault, api.ApprovalSettingsRequest{Team: team, Unguarded: unguard})
				if err == nil && off {
					g.printf("no team approves the guarded operations of %s now\n", where)
					return nil
				}
			}
			if err != nil {
				return failed(err, "approval settings of %s", where)
			}
			if g.json {
				return g.printJSON(set)
			}
			ops := make([]string, len(set.Guarded))
			for i, o := range set.Guarded {
				ops[i] = string(o)
			}
			g.printf("team %s approves on %s: %s\n", display(set.Team), where, strings.Join(ops, ", "))
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&team, "team", "", "the approving `team`")
	fl.StringSliceVar(&unguard, "unguard", nil, "operations the team does not guard (`ops`, comma-separated)")
	fl.BoolVar(&off, "off", false, "remove the team")
	return cmd
}

func newAccessCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "access",
		Short: "Ask for, list and revoke restore access to air-gapped vaults",
		Long: `An air-gapped vault has no principal with read or restore access. A recovery
principal (a restore-operator) asks for read-only restore access for a while;
the vault's team approves it, M of N, and the final confirmation prints a
grant: a credential that can list and restore from that vault and nothing
else, that expires by itself, can be revoked, and whose every use is audited.`,
		Example: `  bunker access request --vault vault --duration 8h --reason "site1 compromised"
  bunker approvals confirm 3fa9c1d2      # then, once approved, again
  BUNKER_TOKEN=$GRANT bunker restore --server $S --vault vault latest --target /srv/r`,
	}
	cmd.AddCommand(newAccessRequestCmd(g), newAccessListCmd(g), newAccessRevokeCmd(g))
	return cmd
}

func newAccessRequestCmd(g *globals) *cobra.Command {
	var duration, reason string
	cmd := &cobra.Command{
		Use:   "request --vault NAME [--duration 8h] [--reason TEXT]",
		Short: "Ask for restore access to an air-gapped vault",
		Long: `Ask for read-only restore access to the air-gapped vault --vault for
--duration (1h to 30d, default 8h). This records a request the vault's team
approves; confirm it with ` + "`bunker approvals confirm ID`" + `, wait for the approvals,
and confirm again to receive the grant.`,
		Example: `  bunker access request --vault vault --duration 4h --reason "recovery drill"`,
		Args:    args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if duration != "" {
				if err := checkSpan("duration", duration); err != nil {
					return err
				}
			}
			name, err := g.vaultName()
			if err != nil {
				return err
			}
			c, err := g.dial()
			if err != nil {
				return err
			}
			p, err := c.RequestAccess(cmd.Context(), name, api.AccessRequest{Duration: duration, Reason: reason})
			if err != nil {
				return failed(err, "ask for access to vault %s", name)
			}
			if g.json {
				return g.printJSON(p)
			}
			g.printf("request %s asks team %s for restore access to vault %s\nconfirm it: bunker approvals confirm %s\n",
				p.Approval.Request.ID, p.Approval.Request.Team, name, p.Approval.Request.ID[:12])
			return nil
		},
	}
	cmd.Flags().StringVar(&duration, "duration", "", "how long the grant lasts (`duration`, 1h to 30d; default 8h)")
	cmd.Flags().StringVar(&reason, "reason", "", "why, for the approvers")
	return cmd
}

func newAccessListCmd(g *globals) *cobra.Command {
	var principal string
	cmd := &cobra.Command{
		Use:     "list [--principal NAME]",
		Short:   "List restore-access grants",
		Long:    `List your grants; a security-admin or an auditor sees every one (--principal narrows it).`,
		Example: "  bunker access list",
		Args:    args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.dial()
			if err != nil {
				return err
			}
			gs, err := c.Grants(cmd.Context(), principal)
			if err != nil {
				return failed(err, "list grants")
			}
			if g.json {
				return g.printJSON(gs)
			}
			tw := g.newTable("GRANT", "PRINCIPAL", "VAULT", "POINT", "EXPIRES", "REVOKED", "REQUEST")
			for _, gr := range gs {
				row(tw, gr.ID, gr.Principal, gr.Vault, short(gr.Point), when(gr.ExpiresAt), when(gr.RevokedAt), short(gr.Request))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&principal, "principal", "", "only this principal's grants")
	return cmd
}

func newAccessRevokeCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "revoke GRANT",
		Short:   "Revoke a grant before it expires",
		Long:    `Revoke a grant: its holder, a security-admin or a member of the vault's team may.`,
		Example: "  bunker access revoke 2gq4xk7mtrw5a3pe",
		Args:    args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			c, err := g.dial()
			if err != nil {
				return err
			}
			gr, err := c.RevokeGrant(cmd.Context(), a[0])
			if err != nil {
				return failed(err, "revoke grant %s", a[0])
			}
			if g.json {
				return g.printJSON(gr)
			}
			g.printf("grant %s of %s on vault %s revoked\n", gr.ID, gr.Principal, gr.Vault)
			return nil
		},
	}
}
