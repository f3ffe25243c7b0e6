package cli

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/bunkerhq/bunker/internal/api"
	"github.com/bunkerhq/bunker/internal/store"
)

func newTokenCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Manage API tokens",
		Long: `Manage API tokens: the credentials of service accounts (and of scripts
acting for a user). A token carries its principal's roles, limited to the
vaults it names, if any, and its agent calls and backups to the hosts it
names, if any; the server keeps only a hash of it, so it is shown
once, when it is made. Give it to a protected host as $BUNKER_TOKEN.

Anyone can make, list and revoke their own tokens; tokens of other
principals need the security-admin role.`,
		Example: `  bunker token create --principal web1 --vault prod --host web1.example.com --label web1
  bunker token list --principal web1
  bunker token revoke 7h2kq9x4m1c8b3zd`,
	}
	cmd.AddCommand(newTokenCreateCmd(g), newTokenListCmd(g), newTokenRevokeCmd(g))
	return cmd
}

func newTokenCreateCmd(g *globals) *cobra.Command {
	var principal, expires, label string
	var vaults, hosts []string
	cmd := &cobra.Command{
		Use:   "create [--principal NAME] [--vault NAME]... [--host NAME]... [--expires DURATION] [--label TEXT]",
		Short: "Make an API token (shown once)",
		Long: `Make an API token for yourself or, as a security-admin, for another
principal (typically a service account). --vault limits it to the named
vaults (repeatable); without it, it reaches every vault the principal's
roles cover. --host limits its agent calls and backups to the named host
(repeatable): the token of a protected host's agent should name that host,
so that whoever takes the host cannot claim, report or back up as another.
It expires after --expires (default 90d, at most 2y).

The token is printed once and cannot be shown again: store it where it is
needed, e.g. as $BUNKER_TOKEN of the host that backs up. With --json it is
the "token" field.`,
		Example: `  bunker token create --principal web1 --vault prod --host web1.example.com --label "web1 nightly"
  bunker token create --expires 7d --json`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if expires != "" {
				if err := checkSpan("expires", expires); err != nil {
					return err
				}
			}
			c, err := g.dial()
			if err != nil {
				return err
			}
			t, err := c.CreateToken(cmd.Context(), api.TokenRequest{Principal: principal, Label: label, Vaults: vaults, Hosts: hosts, ExpiresIn: expires})
			if err != nil {
				who := principal
				if who == "" {
					who = "yourself"
				}
				return failed(err, "create a token for %s", who)
			}
			if g.json {
				return g.printJSON(t)
			}
			scope := "every vault its roles cover"
			if len(t.Vaults) > 0 {
				scope = "vaults " + displayAll(t.Vaults, ", ")
			}
			if len(t.Hosts) > 0 {
				scope += ", as hosts " + displayAll(t.Hosts, ", ")
			}
			g.printf("token %s for %s, valid until %s, for %s:\n%s\n", t.ID, display(t.Principal), when(t.ExpiresAt), scope, t.Token)
			fmt.Fprintf(g.stderr, "This is the only time the token is shown: store it now (e.g. as $BUNKER_TOKEN). Revoke it with `bunker token revoke %s`.\n", t.ID)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&principal, "principal", "", "make the token for this `principal` (default: yourself)")
	fl.StringArrayVar(&vaults, "vault", nil, "limit the token to this vault `name` (repeatable)")
	fl.StringArrayVar(&hosts, "host", nil, "limit the token's agent calls and backups to this host `name` (repeatable)")
	fl.StringVar(&expires, "expires", "", "the token expires after this `duration` (default 90d, at most 2y)")
	fl.StringVar(&label, "label", "", "a note to tell the token apart (`text`)")
	return cmd
}

// tokenState says whether a token still works.
func tokenState(t store.Token, now time.Time) string {
	switch {
	case !t.RevokedAt.IsZero():
		return "revoked"
	case !now.Before(t.ExpiresAt):
		return "expired"
	}
	return "valid"
}

func newTokenListCmd(g *globals) *cobra.Command {
	var principal string
	cmd := &cobra.Command{
		Use:   "list [--principal NAME]",
		Short: "List API tokens",
		Long: `List tokens (never their secrets): your own, or as a security-admin those of
--principal, or of everyone when you are a security-admin and give none.
Session tokens from ` + "`bunker login`" + ` are listed too. --json prints an array.`,
		Example: `  bunker token list
  bunker token list --principal web1 --json`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.dial()
			if err != nil {
				return err
			}
			ts, err := c.Tokens(cmd.Context(), principal)
			if err != nil {
				return failed(err, "list tokens")
			}
			if g.json {
				if ts == nil {
					ts = []store.Token{}
				}
				return g.printJSON(ts)
			}
			now := time.Now()
			tw := g.newTable("ID", "PRINCIPAL", "KIND", "LABEL", "VAULTS", "HOSTS", "CREATED", "EXPIRES", "LAST USED", "STATE")
			for _, t := range ts {
				row(tw, t.ID, t.Principal, string(t.Kind), t.Label, displayAll(t.Vaults, ","), displayAll(t.Hosts, ","), when(t.CreatedAt),
					when(t.ExpiresAt), when(t.LastUsed), tokenState(t, now))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&principal, "principal", "", "list the tokens of this `principal` (security-admin)")
	return cmd
}

func newTokenRevokeCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke an API token",
		Long: `Revoke a token by its id (the part ` + "`bunker token list`" + ` shows); it stops
working at once. Revoking another principal's token needs the
security-admin role.`,
		Example: `  bunker token revoke 7h2kq9x4m1c8b3zd`,
		Args:    args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			id := strings.TrimSpace(a[0])
			c, err := g.dial()
			if err != nil {
				return err
			}
			if err := c.RevokeToken(cmd.Context(), id); err != nil {
				return failed(err, "revoke token %s", id)
			}
			if g.json {
				return g.printJSON(map[string]string{"status": "revoked", "id": id})
			}
			g.printf("revoked token %s\n", display(id))
			return nil
		},
	}
}
