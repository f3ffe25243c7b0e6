package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/bunkerhq/bunker/internal/notify"
	"github.com/bunkerhq/bunker/internal/server"
	"github.com/bunkerhq/bunker/internal/storage/s3"
)

func newServerCmd(g *globals) *cobra.Command {
	var cfg server.Config
	var logLevel string
	var targets []string
	var notifySpecs []string
	var webhookSecretFile string
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the bunker vault server",
		Long: `Run the vault server: an HTTPS API that owns vaults and enforces their
rules. Protected hosts add recovery points through it and can do nothing
else; the server stamps every point with its own clock, gives it the expiry
of its vault's policy, signs it, and records every change and every refused
attempt in a hash-chained audit log.

With no flags it runs on embedded defaults: data (database, vaults,
certificate) in ~/.local/share/bunker/server, the server key file in
~/.config/bunker/server.key, listening on 127.0.0.1:8443 with a self-signed
certificate whose fingerprint it prints. On first start it creates the
security-admin "admin" and writes its password to admin-password in the
data directory.

Keep a copy of the key file somewhere else: it wraps every vault's key.`,
		Example: `  bunker server
  bunker server --listen 0.0.0.0:8443 --host backup.example --data /srv/bunker --key-file /etc/bunker/server.key
  bunker server --tls-cert /etc/ssl/bunker.pem --tls-key /etc/ssl/bunker.key`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return usageError{fmt.Errorf("--log-level: %w", err)}
			}
			cfg.Logger = slog.New(slog.NewJSONHandler(g.stderr, &slog.HandlerOptions{Level: level}))
			for _, t := range targets {
				name, sc, err := server.ParseS3Target(t)
				if err != nil {
					return usageError{fmt.Errorf("--s3: %w", err)}
				}
				if cfg.Storages == nil {
					cfg.Storages = map[string]s3.Config{}
				}
				cfg.Storages[name] = sc
			}
			// Zero switches these off; the server reads zero as its default.
			if cfg.VerifyEvery == 0 {
				cfg.VerifyEvery = -1
			}
			if cfg.VerifyMaxAge == 0 {
				cfg.VerifyMaxAge = -1
			}
			if cfg.PullEvery == 0 {
				cfg.PullEvery = -1
			}
			if cfg.PushEvery == 0 {
				cfg.PushEvery = -1
			}
			if cfg.NudgeGap == 0 {
				cfg.NudgeGap = -1
			}
			d, err := notifyDispatcher(notifySpecs, webhookSecretFile, cfg.Logger)
			if err != nil {
				return err
			}
			if d != nil {
				cfg.Notifier = server.DispatchNotifier{D: d}
				defer func() {
					ctx, cancel := context.WithTimeout(context.WithoutCancel(cmd.Context()), 30*time.Second)
					defer cancel()
					_ = d.Close(ctx)
				}()
			}
			return runServer(cmd, g, cfg)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&cfg.DataDir, "data", "", "data `directory` (default ~/.local/share/bunker/server)")
	fl.StringVar(&cfg.KeyFile, "key-file", "", "server key `file`, created on first start (default ~/.config/bunker/server.key)")
	fl.StringVar(&cfg.Listen, "listen", "127.0.0.1:8443", "`address` to listen on")
	fl.StringVar(&cfg.TLSCert, "tls-cert", "", "your own certificate chain (PEM `file`) instead of a generated one")
	fl.StringVar(&cfg.TLSKey, "tls-key", "", "the private key (PEM `file`) of --tls-cert")
	fl.StringArrayVar(&cfg.Hosts, "host", nil, "a DNS `name` or address clients use, for the generated certificate (repeatable)")
	fl.StringArrayVar(&cfg.Relax, "relax-constraint", nil, "switch off a separation-of-duties `constraint` (see `bunker role constraints`)")
	fl.DurationVar(&cfg.MaintenanceEvery, "maintenance-every", time.Hour, "how often expiry, bin purge and garbage collection run")
	fl.DurationVar(&cfg.VerifyEvery, "verify-every", 24*time.Hour, "how often each vault is verified, incrementally (0: never)")
	fl.DurationVar(&cfg.VerifyMaxAge, "verify-max-age", 7*24*time.Hour, "verification skips packs verified sound within this age (0: read every pack every time)")
	fl.DurationVar(&cfg.PullEvery, "pull-every", time.Minute, "how often the vaults followed on remotes are looked at for new points to pull (0: only when asked, `bunker remote sync`)")
	fl.DurationVar(&cfg.NudgeGap, "nudge-gap", server.DefaultNudgeGap, "the shortest time between two pulls from one remote that its webhook asks for (0: no gap)")
	fl.DurationVar(&cfg.PushEvery, "push-every", time.Minute, "how often the vaults of push targets are looked at for new points to push (0: only when asked, `bunker point push`)")
	fl.DurationVar(&cfg.GCMargin, "gc-margin", 6*time.Hour, "garbage collection leaves packs younger than this alone")
	fl.StringVar(&logLevel, "log-level", "info", "log `level`: debug, info, warn or error")
	fl.StringArrayVar(&targets, "s3", nil, "an S3 storage `target` for vaults: NAME=s3://bucket/prefix?endpoint=host:port&credentials=FILE (repeatable; see docs/S3.md)")
	fl.DurationVar(&cfg.ApprovalTimeout, "approval-timeout", 24*time.Hour, "how long each waiting step of an approval request lasts: confirmation, votes, final confirmation")
	fl.StringArrayVar(&notifySpecs, "notify", nil, "send approval, grant and verdict-change events to this `target`: smtp://…?from=…&to=… or an https:// webhook (repeatable; see docs/NOTIFICATIONS.md)")
	fl.StringVar(&webhookSecretFile, "webhook-secret-file", "", "`file` holding the secret that signs webhook deliveries (needed with an https:// --notify)")
	fl.StringVar(&cfg.EventSecrets, "event-secrets", "", "`directory` of the secrets that sign event rules' webhooks, one file per secret, named as the rules name them (see docs/EVENTS.md)")
	fl.StringVar(&cfg.EventCommands, "event-commands", "", "`directory` whose programs event rules' command targets may run (none when not given)")
	fl.DurationVar(&cfg.FloodWindow, "flood-window", server.DefaultFloodWindow, "the window of the flood limits on commits")
	fl.IntVar(&cfg.VaultCommitLimit, "vault-commit-limit", server.DefaultVaultCommitLimit, "commits one vault takes per --flood-window; more are refused as a flood (-1: no limit)")
	fl.IntVar(&cfg.PrincipalCommitLimit, "principal-commit-limit", server.DefaultPrincipalCommitLimit, "commits one principal makes per --flood-window, to any vault; more are refused as a flood (-1: no limit)")
	fl.DurationVar(&cfg.RetentionSlack, "retention-slack", 7*24*time.Hour, "extend storage retention this far beyond what points need, so regular backups do not extend every object each time")
	return cmd
}

// notifyDispatcher builds the dispatcher of the --notify targets; nil when
// there are none.
func notifyDispatcher(specs []string, secretFile string, log *slog.Logger) (*notify.Dispatcher, error) {
	if len(specs) == 0 {
		if secretFile != "" {
			return nil, usageError{errors.New("--webhook-secret-file without a webhook --notify target")}
		}
		return nil, nil
	}
	var secret []byte
	var targets []notify.Target
	for _, spec := range specs {
		ts, err := notify.ParseTarget(spec)
		if err != nil {
			return nil, usageError{fmt.Errorf("--notify: %w", err)}
		}
		if ts.Webhook != nil && secret == nil {
			if secretFile == "" {
				return nil, usageError{fmt.Errorf("--notify %s: a webhook needs --webhook-secret-file", ts)}
			}
			if secret, err = notify.ReadSecretFile(secretFile); err != nil {
				return nil, usageError{fmt.Errorf("--webhook-secret-file: %w", err)}
			}
		}
		t, err := ts.Target(secret)
		if err != nil {
			return nil, usageError{fmt.Errorf("--notify %s: %w", ts, err)}
		}
		targets = append(targets, t)
	}
	d, err := notify.New(notify.Options{Targets: targets, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("notifications: %w", err)
	}
	return d, nil
}

func runServer(cmd *cobra.Command, g *globals, cfg server.Config) error {
	ctx := cmd.Context()
	srv, err := server.New(ctx, cfg)
	if err != nil {
		return err
	}
	password, pwFile, err := srv.Bootstrap(ctx)
	if err != nil {
		srv.Close()
		return err
	}
	ln, err := srv.Listen()
	if err != nil {
		srv.Close()
		return err
	}
	eff := srv.Config()
	info := map[string]any{"message_type": "listening", "url": ln.URL, "fingerprint": ln.Fingerprint,
		"data": eff.DataDir, "key_file": eff.KeyFile, "version": server.Version}
	if password != "" {
		info["admin_password_file"] = pwFile
	}
	if g.json {
		if err := g.printJSON(info); err != nil {
			return err
		}
	} else {
		g.printBanner(ln, srv, password != "", pwFile)
	}
	srv.Start(ctx)
	serveErr := srv.Serve(ctx, ln)
	if err := srv.Close(); err != nil && serveErr == nil {
		serveErr = err
	}
	return serveErr
}

func (g *globals) printBanner(ln *server.Listener, srv *server.Server, created bool, pwFile string) {
	cfg := srv.Config()
	w := g.stderr
	fmt.Fprintf(w, "bunker server %s listening on %s\n", server.Version, ln.URL)
	if ln.Fingerprint != "" {
		fmt.Fprintf(w, "  certificate fingerprint  %s\n", ln.Fingerprint)
	}
	fmt.Fprintf(w, "  data directory           %s\n", cfg.DataDir)
	fmt.Fprintf(w, "  key file                 %s  (keep a copy elsewhere: it wraps every vault's key)\n", cfg.KeyFile)
	login := "bunker login --server " + ln.URL
	if ln.Fingerprint != "" {
		login += " --fingerprint " + ln.Fingerprint
	}
	if created {
		fmt.Fprintf(w, "\nFirst start: created the security-admin \"admin\"; its password is in\n  %s\n", pwFile)
		fmt.Fprintf(w, "Log in, then make a vault-admin, a backup account and a restore account:\n")
		fmt.Fprintf(w, "  %s --user admin --password-file %s\n", login, pwFile)
		fmt.Fprintf(w, "  (docs/SERVER.md walks through the rest: vault create, token create, backup --server, restore --server)\n\n")
	} else {
		fmt.Fprintf(w, "Log in with: %s --user NAME\n\n", login)
	}
}
