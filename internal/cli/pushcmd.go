package cli

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/bunkerhq/bunker/internal/api"
	"github.com/bunkerhq/bunker/internal/client"
	"github.com/bunkerhq/bunker/internal/ui"
)

func newPushTargetCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "push-target",
		Short: "Push copies of points to a central bunker server",
		Long: `Where the central site cannot call in to a workload site, the workload
server pushes its points to a vault of the central server, its push target,
with a token the central server issued for a principal that holds
backup-operator on that one vault and nothing else: the token adds points
and cannot read, change or delete what is there. The central server seals
each pushed point under its own keys, retention and lock. Registering push
targets needs vault-admin on all vaults. See docs/COPIES.md.`,
	}
	cmd.AddCommand(newPushTargetAddCmd(g), newPushTargetListCmd(g), newPushTargetRemoveCmd(g))
	return cmd
}

func newPushTargetAddCmd(g *globals) *cobra.Command {
	var u, fp, tokenFile, vault, site string
	var vaults []string
	cmd := &cobra.Command{
		Use:   "add NAME --url URL --fingerprint FP --token-file FILE --vault CENTRAL-VAULT [--push VAULT]...",
		Short: "Register a central server to push to, or replace its settings",
		Long: `Register a central bunker server to push points to. --fingerprint pins its
certificate (as ` + "`bunker server`" + ` prints it there). --token-file holds a token
the central server issued for a principal that holds backup-operator on
--vault there and no other role; the server checks this with the central
server before it keeps anything, and stores the token sealed. Each --push
names a vault here whose new points are pushed on their own, every
--push-every of ` + "`bunker server`" + ` (this needs data.read on it). --site is the
name this server goes by in the origin of its pushed points (default: the
token's principal). Adding a target again replaces its settings.`,
		Example: `  bunker push-target add central --url https://central.example:8443 \
      --fingerprint sha256:4b1e… --token-file /run/secrets/push.token --vault site-a --push prod`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			if u == "" || fp == "" || tokenFile == "" || vault == "" {
				return usageError{errors.New("give --url, --fingerprint, --token-file and --vault")}
			}
			tok, err := os.ReadFile(tokenFile)
			if err != nil {
				return fmt.Errorf("read the token: %w", err)
			}
			c, err := g.dial()
			if err != nil {
				return err
			}
			t, err := c.PutPushTarget(cmd.Context(), a[0], api.PushTargetRequest{URL: u, Fingerprint: fp,
				Token: strings.TrimSpace(string(tok)), Vault: vault, Vaults: vaults, Site: site})
			if err != nil {
				return failed(err, "register push target %s", a[0])
			}
			if g.json {
				return g.printJSON(t)
			}
			g.printf("push target %s at %s registered as %s, into vault %s; pushing %s\n", t.Name, t.URL, t.Principal, t.Vault, pushText(t.Vaults))
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&u, "url", "", "the central server's `URL`, https://host:port")
	fl.StringVar(&fp, "fingerprint", "", "the central server's certificate `fingerprint`, sha256:… (this server's own is pinned by the login or $BUNKER_FINGERPRINT)")
	fl.StringVar(&tokenFile, "token-file", "", "`file` holding the push token the central server issued")
	fl.StringVar(&vault, "vault", "", "the central server's `vault` the points go into")
	fl.StringArrayVar(&vaults, "push", nil, "push every new point of this `vault` here on its own (repeatable)")
	fl.StringVar(&site, "site", "", "the `name` this server goes by in its pushed points' origin")
	return cmd
}

func pushText(vs []string) string {
	if len(vs) == 0 {
		return "no vault on its own (push points with `bunker point push`)"
	}
	return "the new points of " + displayAll(vs, ", ")
}

func newPushTargetListCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the push targets",
		Args:  args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.dial()
			if err != nil {
				return err
			}
			ts, err := c.PushTargets(cmd.Context())
			if err != nil {
				return failed(err, "list push targets")
			}
			if g.json {
				return g.printJSON(ts)
			}
			if len(ts) == 0 {
				g.printf("no push targets (add one with `bunker push-target add`)\n")
				return nil
			}
			for _, t := range ts {
				g.printf("%s\t%s\t%s\tvault %s as %s\tpushing %s\n", t.Name, t.URL, t.Fingerprint, display(t.Vault), display(t.Principal), pushText(t.Vaults))
			}
			return nil
		},
	}
}

func newPushTargetRemoveCmd(g *globals) *cobra.Command {
	return newPeerRemoveCmd(g, "push target", "Forget a push target and its token (points already pushed stay there)", (*client.Client).DeletePushTarget)
}

func newPointPushCmd(g *globals) *cobra.Command {
	var target string
	cmd := &cobra.Command{
		Use:   "push --vault NAME POINT --target NAME",
		Short: "Push a point to a central server",
		Long: `Push a point to a push target: a vault of a central bunker server, through a
backup session there. Only the chunks the central vault lacks are uploaded;
the central server encrypts them under its own keys and seals the copy with
its own time, retention and lock, its origin naming this point. A push cut
short sends only the rest when run again; a point pushed already is not sent
twice.

Needs data.read on the point's vault and vault-admin on all vaults
(push.admin).`,
		Example: `  bunker point push --vault prod latest --target central`,
		Args:    args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			if err := checkPointRef(a[0]); err != nil {
				return err
			}
			if target == "" {
				return usageError{errors.New("--target: name the push target (see `bunker push-target list`)")}
			}
			c, vault, err := g.pointTarget()
			if err != nil {
				return err
			}
			rep, err := c.PushPoint(cmd.Context(), vault, a[0], target)
			if err != nil {
				return failed(err, "push point %s of vault %s to %s", a[0], vault, target)
			}
			if g.json {
				return g.printJSON(rep)
			}
			g.printPush(rep)
			return nil
		},
	}
	cmd.Flags().StringVar(&target, "target", "", "the push `target`")
	return cmd
}

// printPush prints one push report for people.
func (g *globals) printPush(rep api.PushReport) {
	if rep.Existing {
		g.printf("point %s of vault %s was pushed to %s already: point %s of vault %s there\n",
			short(rep.FromPoint), display(rep.FromVault), display(rep.Target), short(rep.ToPoint), display(rep.ToVault))
		return
	}
	expires := "never (kept until deleted)"
	if !rep.Expires.IsZero() {
		expires = rep.Expires.Local().Format(time.DateTime)
	}
	if rep.Lock != "" {
		expires += ", " + rep.Lock + " lock"
	}
	g.printf("pushed point %s of vault %s to %s as point %s of vault %s (job %d) in %.1fs: sent %d chunks (%s) of %d read, %d listings skipped; expires %s\n",
		short(rep.FromPoint), display(rep.FromVault), display(rep.Target), short(rep.ToPoint), display(rep.ToVault), rep.Job, rep.DurationSeconds,
		rep.BlobsSent, ui.Bytes(rep.BytesSent), rep.Stats.BlobsRead, rep.Stats.TreesSkipped, expires)
}
