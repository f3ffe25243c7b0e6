package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/bunkerhq/bunker/internal/api"
	"github.com/bunkerhq/bunker/internal/client"
	"github.com/bunkerhq/bunker/internal/store"
	"github.com/bunkerhq/bunker/internal/ui"
)

func newRemoteCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "remote",
		Short: "Pull copies of points from other bunker servers",
		Long: `A central bunker server pulls copies of new points from workload servers,
its remotes, with a read-only replication token each of them issued: the
workload sites hold no credential for the central site. Each pulled point
is sealed in a vault of this server under its keys, retention and lock.
Registering remotes and pulling needs vault-admin on all vaults. See
docs/COPIES.md.`,
	}
	cmd.AddCommand(newRemoteAddCmd(g), newRemoteListCmd(g), newRemoteRemoveCmd(g), newRemotePullCmd(g), newRemoteSyncCmd(g))
	return cmd
}

// parseFollow reads REMOTE-VAULT:LOCAL-VAULT.
func parseFollow(specs []string) ([]store.Follow, error) {
	var out []store.Follow
	for _, s := range specs {
		from, to, ok := strings.Cut(s, ":")
		if !ok || from == "" || to == "" {
			return nil, usageError{fmt.Errorf("--follow %q: want REMOTE-VAULT:LOCAL-VAULT, as prod:central", s)}
		}
		out = append(out, store.Follow{Vault: from, ToVault: to})
	}
	return out, nil
}

func newRemoteAddCmd(g *globals) *cobra.Command {
	var u, fp, tokenFile string
	var follow []string
	cmd := &cobra.Command{
		Use:   "add NAME --url URL --fingerprint FP --token-file FILE [--follow REMOTE-VAULT:LOCAL-VAULT]...",
		Short: "Register a remote server, or replace its settings",
		Long: `Register a remote bunker server to pull points from. --fingerprint pins its
certificate (as ` + "`bunker server`" + ` prints it there). --token-file holds a token the
remote issued for a principal that holds restore-operator on the vaults
followed and no other role; the server checks this with the remote before it
keeps anything, and stores the token sealed. Each --follow pulls every new
point of a remote vault into a vault of this server, every --pull-every of
` + "`bunker server`" + `, and at once when the remote's webhook says it has a new
point: the answer prints the webhook's path and its signing secret, once.
Adding a remote again replaces its settings and the webhook secret.`,
		Example: `  bunker remote add site-a --url https://site-a.example:8443 \
      --fingerprint sha256:9f2c… --token-file /run/secrets/site-a.token --follow prod:central`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			if u == "" || fp == "" || tokenFile == "" {
				return usageError{errors.New("give --url, --fingerprint and --token-file")}
			}
			fs, err := parseFollow(follow)
			if err != nil {
				return err
			}
			tok, err := os.ReadFile(tokenFile)
			if err != nil {
				return fmt.Errorf("read the token: %w", err)
			}
			c, err := g.dial()
			if err != nil {
				return err
			}
			r, err := c.PutRemote(cmd.Context(), a[0], api.RemoteRequest{URL: u, Fingerprint: fp, Token: strings.TrimSpace(string(tok)), Follow: fs})
			if err != nil {
				return failed(err, "register remote %s", a[0])
			}
			if g.json {
				return g.printJSON(r)
			}
			g.printf("remote %s at %s registered; following %s\n", r.Name, r.URL, followText(r.Follow))
			g.printf("for a pull as soon as %s has a new point, give it an event rule with a webhook target to\n"+
				"  this server's URL + %s\nsigned with this secret (shown only now; adding the remote again changes it):\n  %s\n",
				r.Name, r.WebhookPath, r.WebhookSecret)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&u, "url", "", "the remote server's `URL`, https://host:port")
	fl.StringVar(&fp, "fingerprint", "", "the remote's certificate `fingerprint`, sha256:… (this server's own is pinned by the login or $BUNKER_FINGERPRINT)")
	fl.StringVar(&tokenFile, "token-file", "", "`file` holding the replication token the remote issued")
	fl.StringArrayVar(&follow, "follow", nil, "pull every new point of a remote vault into a vault here: `REMOTE-VAULT:LOCAL-VAULT` (repeatable)")
	return cmd
}

func followText(fs []store.Follow) string {
	if len(fs) == 0 {
		return "no vault (pull points with `bunker remote pull`)"
	}
	parts := make([]string, len(fs))
	for i, f := range fs {
		parts[i] = f.Vault + " into " + f.ToVault
	}
	return strings.Join(parts, ", ")
}

func newRemoteListCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the remotes",
		Args:  args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.dial()
			if err != nil {
				return err
			}
			rs, err := c.Remotes(cmd.Context())
			if err != nil {
				return failed(err, "list remotes")
			}
			if g.json {
				return g.printJSON(rs)
			}
			if len(rs) == 0 {
				g.printf("no remotes (add one with `bunker remote add`)\n")
				return nil
			}
			for _, r := range rs {
				g.printf("%s\t%s\t%s\tfollowing %s\n", r.Name, r.URL, r.Fingerprint, followText(r.Follow))
			}
			return nil
		},
	}
}

func newRemoteRemoveCmd(g *globals) *cobra.Command {
	return newPeerRemoveCmd(g, "remote", "Forget a remote and its token (copies already pulled stay)", (*client.Client).DeleteRemote)
}

// newPeerRemoveCmd makes the remove command of a kind of registered peer
// server (a remote, a push target): del forgets one by name. With --json
// it prints {"status":"deleted", KIND: NAME}, KIND in snake case.
func newPeerRemoveCmd(g *globals, kind, short string, del func(*client.Client, context.Context, string) error) *cobra.Command {
	return &cobra.Command{
		Use:   "remove NAME",
		Short: short,
		Args:  args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			c, err := g.dial()
			if err != nil {
				return err
			}
			if err := del(c, cmd.Context(), a[0]); err != nil {
				return failed(err, "remove %s %s", kind, a[0])
			}
			if g.json {
				return g.printJSON(map[string]string{"status": "deleted", strings.ReplaceAll(kind, " ", "_"): a[0]})
			}
			g.printf("%s %s removed\n", kind, a[0])
			return nil
		},
	}
}

func newRemotePullCmd(g *globals) *cobra.Command {
	var from, to string
	cmd := &cobra.Command{
		Use:   "pull NAME --from VAULT POINT --to VAULT",
		Short: "Pull one point of a remote into a vault of this server",
		Long: `Pull one point (an id prefix, or latest) of a remote vault into a vault of
this server. Only what earlier pulls from the same remote vault did not store
is transferred; a pull cut short resumes where it stopped when run again.`,
		Example: `  bunker remote pull site-a --from prod latest --to central`,
		Args:    args(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, a []string) error {
			if from == "" || to == "" {
				return usageError{errors.New("give --from (the remote's vault) and --to (the vault here)")}
			}
			if err := checkPointRef(a[1]); err != nil {
				return err
			}
			c, err := g.dial()
			if err != nil {
				return err
			}
			rep, err := c.Pull(cmd.Context(), a[0], api.PullRequest{Vault: from, Point: a[1], ToVault: to})
			if err != nil {
				return failed(err, "pull point %s of vault %s from remote %s", a[1], from, a[0])
			}
			if g.json {
				return g.printJSON(rep)
			}
			g.printCopy(rep)
			return nil
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "the remote's `vault`")
	cmd.Flags().StringVar(&to, "to", "", "the `vault` of this server to copy into")
	return cmd
}

func newRemoteSyncCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "sync NAME",
		Short: "Pull every point of a remote's followed vaults not copied yet",
		Long: `Pull, now, every active point of the remote's followed vaults that the vault
it is followed into holds no copy of, oldest first, as the server does on
its own every --pull-every. Points that fail are listed and tried again next
time; exits 1 if any failed.`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			c, err := g.dial()
			if err != nil {
				return err
			}
			rep, err := c.SyncRemote(cmd.Context(), a[0])
			if err != nil {
				return failed(err, "sync remote %s", a[0])
			}
			if g.json {
				if err := g.printJSON(rep); err != nil {
					return err
				}
			} else {
				for _, cr := range rep.Copies {
					g.printCopy(cr)
				}
				for _, e := range rep.Errors {
					g.printf("failed: %s\n", e)
				}
				if len(rep.Copies) == 0 && len(rep.Errors) == 0 {
					g.printf("remote %s: nothing new to pull\n", a[0])
				}
			}
			if len(rep.Errors) > 0 {
				return fmt.Errorf("%d pulls from remote %s failed; they are tried again on the next sync", len(rep.Errors), a[0])
			}
			return nil
		},
	}
}

// printCopy prints one copy report for people.
func (g *globals) printCopy(rep api.CopyReport) {
	from := "vault " + display(rep.FromVault)
	if rep.FromSite != "" {
		from += " on " + rep.FromSite
	}
	if rep.Existing {
		g.printf("vault %s holds a copy of point %s of %s already: point %s\n", display(rep.Point.Vault), short(rep.FromPoint), from, short(rep.Point.ID))
		return
	}
	st := rep.Stats
	g.printf("copied point %s of %s into vault %s as point %s (job %d) in %.1fs: read %d chunks (%s), %d already copied, %d listings skipped; expires %s\n",
		short(rep.FromPoint), from, display(rep.Point.Vault), short(rep.Point.ID), rep.Job, rep.DurationSeconds,
		st.BlobsRead, ui.Bytes(st.BytesRead), st.BlobsKnown, st.TreesSkipped, expiresText(rep.Point))
}
