package cli

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/bunkerhq/bunker/internal/api"
	"github.com/bunkerhq/bunker/internal/atomicfile"
	"github.com/bunkerhq/bunker/internal/client"
	"github.com/bunkerhq/bunker/internal/tlsutil"
	"github.com/bunkerhq/bunker/internal/userdirs"
)

// login is what `bunker login` keeps for one server.
type login struct {
	Fingerprint string    `json:"fingerprint,omitempty"`
	Token       string    `json:"token"`
	Principal   string    `json:"principal"`
	ExpiresAt   time.Time `json:"expires_at"`
	KeyID       string    `json:"key_id"`
	PublicKey   []byte    `json:"public_key"`
}

// logins is the credentials file: $XDG_CONFIG_HOME/bunker/login.json, 0600.
type logins struct {
	Default string            `json:"default"`
	Servers map[string]*login `json:"servers"`
}

func loginsPath() (string, error) {
	p, err := userdirs.Config("bunker", "login.json")
	if err != nil {
		return "", fmt.Errorf("the login file: %w", err)
	}
	return p, nil
}

func readLogins() (*logins, error) {
	path, err := loginsPath()
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return &logins{Servers: map[string]*login{}}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	var l logins
	if err := json.Unmarshal(data, &l); err != nil {
		return nil, fmt.Errorf("%s is damaged (%v): remove it and log in again", path, err)
	}
	if l.Servers == nil {
		l.Servers = map[string]*login{}
	}
	return &l, nil
}

// write stores the credentials file atomically, readable by its owner only.
func (l *logins) write() error {
	path, err := loginsPath()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	data, err := json.MarshalIndent(l, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(path, data, 0o600)
}

// serverURL returns the server named by --server or $BUNKER_SERVER, or,
// with fallback, the server last logged in to.
func (g *globals) serverURL(fallback bool) (string, error) {
	u := g.server
	if u == "" {
		u = os.Getenv("BUNKER_SERVER")
	}
	if u == "" && fallback {
		l, err := readLogins()
		if err != nil {
			return "", err
		}
		u = l.Default
	}
	if u == "" {
		return "", errors.New("no server named: give --server https://host:port (or set $BUNKER_SERVER), after `bunker login`")
	}
	return normalURL(u)
}

func normalURL(u string) (string, error) {
	if !strings.Contains(u, "://") {
		u = "https://" + u
	}
	p, err := url.Parse(u)
	if err != nil || p.Scheme != "https" || p.Host == "" {
		return "", fmt.Errorf("server %q: give it as https://host:port", u)
	}
	return "https://" + p.Host, nil
}

// remoteMode reports whether a vault command goes to a server.
func (g *globals) remoteMode() bool { return g.server != "" || os.Getenv("BUNKER_SERVER") != "" }

// connect returns a client for the server, authenticated by $BUNKER_TOKEN
// or the token `bunker login` saved.
func (g *globals) connect(fallback bool) (*client.Client, *login, error) {
	u, err := g.serverURL(fallback)
	if err != nil {
		return nil, nil, err
	}
	l, err := readLogins()
	if err != nil {
		return nil, nil, err
	}
	saved := l.Servers[u]
	fp := g.fingerprint
	if fp == "" {
		fp = os.Getenv("BUNKER_FINGERPRINT")
	}
	token := os.Getenv("BUNKER_TOKEN")
	if saved != nil {
		if fp == "" {
			fp = saved.Fingerprint
		}
		if token == "" {
			token = saved.Token
		}
	}
	if token == "" {
		return nil, nil, withCode(ExitDenied, fmt.Errorf("not logged in to %s: run `bunker login --server %s --user NAME`, or set $BUNKER_TOKEN", u, u))
	}
	c, err := client.New(client.Options{URL: u, Fingerprint: fp, Token: token})
	if err != nil {
		return nil, nil, err
	}
	return c, saved, nil
}

// serverError gives server refusals, and operations that wait for
// approval, their exit codes.
func serverError(err error) error {
	if _, ok := client.AsPending(err); ok {
		return withCode(ExitPending, err)
	}
	var e *client.Error
	if errors.As(err, &e) && (e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden) {
		return withCode(ExitDenied, err)
	}
	return err
}

// vaultName is the vault a server command acts on.
func (g *globals) vaultName() (string, error) {
	v := g.vault
	if v == "" {
		v = os.Getenv("BUNKER_VAULT")
	}
	if v == "" {
		return "", usageError{errors.New("name the vault with --vault NAME (or set $BUNKER_VAULT)")}
	}
	return v, nil
}

// probeFingerprint connects without verifying and returns the fingerprint
// of the certificate the server presents, to show it to the user.
func probeFingerprint(ctx context.Context, u string) (string, error) {
	p, _ := url.Parse(u)
	d := tls.Dialer{NetDialer: &net.Dialer{Timeout: 10 * time.Second}, Config: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec // only to show the fingerprint; nothing is sent
	conn, err := d.DialContext(ctx, "tcp", p.Host)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	certs := conn.(*tls.Conn).ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return "", errors.New("the server sent no certificate")
	}
	return tlsutil.Fingerprint(certs[0].Raw), nil
}

func newLoginCmd(g *globals) *cobra.Command {
	var user, passwordFile, totp string
	cmd := &cobra.Command{
		Use:   "login --server URL --user NAME",
		Short: "Log in to a bunker server",
		Long: `Log in to a bunker server with a user name and password (and a TOTP code
if the user has one) and keep the session token, for 12 hours, in
~/.config/bunker/login.json (mode 0600). The server becomes the default for
server commands.

The first time, give the server's certificate fingerprint, which
` + "`bunker server`" + ` prints when it starts, with --fingerprint: bunker then trusts
exactly that certificate. Servers with a certificate from a CA the system
trusts need no fingerprint.

The password is read from --password-file, $BUNKER_PASSWORD, or the terminal.`,
		Example: `  bunker login --server https://backup.example:8443 --fingerprint sha256:3f…  --user ann
  BUNKER_PASSWORD=… bunker login --server backup.example:8443 --user ann --totp 123456`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			u, err := g.serverURL(true)
			if err != nil {
				return usageError{err}
			}
			if user == "" {
				user = os.Getenv("BUNKER_USER")
			}
			if user == "" {
				return usageError{errors.New("name the user with --user NAME")}
			}
			fp := g.fingerprint
			if fp == "" {
				fp = os.Getenv("BUNKER_FINGERPRINT")
			}
			ls, err := readLogins()
			if err != nil {
				return err
			}
			if fp == "" && ls.Servers[u] != nil {
				fp = ls.Servers[u].Fingerprint
			}
			c, err := client.New(client.Options{URL: u, Fingerprint: fp})
			if err != nil {
				return err
			}
			info, err := c.Server(ctx)
			if err != nil && fp == "" {
				seen, perr := probeFingerprint(ctx, u)
				if perr == nil {
					return withCode(ExitDenied, fmt.Errorf("%s presents a certificate that no trusted authority signed, with fingerprint\n  %s\nIf that is the fingerprint `bunker server` printed, log in again with --fingerprint %s", u, seen, seen))
				}
			}
			if err != nil {
				return fmt.Errorf("reach %s: %w", u, err)
			}
			pw, err := g.password(passwordFile, fmt.Sprintf("Password for %s at %s: ", user, u))
			if err != nil {
				return err
			}
			tok, err := c.Login(ctx, api.LoginRequest{Name: user, Password: pw, TOTP: totp})
			if err != nil {
				return serverError(err)
			}
			ls.Servers[u] = &login{Fingerprint: fp, Token: tok.Token, Principal: tok.Principal, ExpiresAt: tok.ExpiresAt, KeyID: info.KeyID, PublicKey: info.PublicKey}
			ls.Default = u
			if err := ls.write(); err != nil {
				return err
			}
			if g.json {
				return g.printJSON(map[string]any{"server": u, "principal": tok.Principal, "expires_at": tok.ExpiresAt, "key_id": info.KeyID})
			}
			g.printf("logged in to %s as %s until %s\n", u, tok.Principal, tok.ExpiresAt.Local().Format(time.DateTime))
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&user, "user", "u", "", "user `name` (default $BUNKER_USER)")
	fl.StringVar(&passwordFile, "password-file", "", "read the password from this `file`")
	fl.StringVar(&totp, "totp", "", "the current TOTP `code`, for users with a second factor")
	return cmd
}

// password reads a password from a file, $BUNKER_PASSWORD or the terminal.
func (g *globals) password(file, prompt string) (string, error) {
	if file != "" {
		data, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("read password file: %w", err)
		}
		return string(bytes.TrimRight(data, "\r\n")), nil
	}
	if v, ok := os.LookupEnv("BUNKER_PASSWORD"); ok {
		return v, nil
	}
	f, ok := g.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return "", errors.New("no password given: use --password-file or $BUNKER_PASSWORD, or run on a terminal to be asked")
	}
	fmt.Fprint(g.stderr, prompt)
	pw, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(g.stderr)
	if err != nil {
		return "", fmt.Errorf("read password: %w", err)
	}
	return string(pw), nil
}

func newLogoutCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "logout",
		Short: "Log out of a bunker server: revoke the session token and forget it",
		Args:  args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			u, err := g.serverURL(true)
			if err != nil {
				return usageError{err}
			}
			ls, err := readLogins()
			if err != nil {
				return err
			}
			if ls.Servers[u] == nil {
				return fmt.Errorf("not logged in to %s", u)
			}
			c, _, err := g.connect(true)
			if err == nil {
				err = c.Logout(cmd.Context())
			}
			if err != nil && !client.IsStatus(err, http.StatusUnauthorized) {
				g.notef("the server did not revoke the token (%v); it expires on its own\n", err)
			}
			delete(ls.Servers, u)
			if ls.Default == u {
				ls.Default = ""
			}
			if err := ls.write(); err != nil {
				return err
			}
			g.printf("logged out of %s\n", u)
			return nil
		},
	}
}

func newWhoamiCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "whoami",
		Short: "Show who you are on the server, with your roles",
		Args:  args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, _, err := g.connect(true)
			if err != nil {
				return err
			}
			w, err := c.Whoami(cmd.Context())
			if err != nil {
				return serverError(err)
			}
			if g.json {
				return g.printJSON(w)
			}
			g.printf("%s (%s) at %s, token %s until %s\n", w.Principal, w.Kind, c.URL(), w.Token.ID, w.Token.ExpiresAt.Local().Format(time.DateTime))
			for _, b := range w.Bindings {
				scope := b.Vault
				if scope == "*" {
					scope = "all vaults"
				}
				g.printf("  %s on %s\n", b.Role, scope)
			}
			return nil
		},
	}
}
