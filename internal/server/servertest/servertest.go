// Package servertest runs a real bunker server, over TLS on loopback, for
// tests: fresh data directory and key file, cheap password hashing, a clock
// the test moves, and helpers to make principals with roles and clients
// that act as them.
package servertest

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/bunkerhq/bunker/internal/api"
	"github.com/bunkerhq/bunker/internal/approval"
	"github.com/bunkerhq/bunker/internal/client"
	"github.com/bunkerhq/bunker/internal/server"
	"github.com/bunkerhq/bunker/internal/storage/local"
	"github.com/bunkerhq/bunker/internal/storage/s3"
)

// Clock is a settable clock. It stands still unless advanced, or, when it
// runs, keeps pace with the wall clock from where it was set.
type Clock struct {
	mu    sync.Mutex
	t     time.Time
	since time.Time // when t was set, for a running clock; zero: stands still
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.since.IsZero() {
		return c.t
	}
	return c.t.Add(time.Since(c.since))
}

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// Freeze stops a running clock where it is; Advance still moves it.
func (c *Clock) Freeze() {
	c.mu.Lock()
	if !c.since.IsZero() {
		c.t, c.since = c.t.Add(time.Since(c.since)), time.Time{}
	}
	c.mu.Unlock()
}

// Server is a running test server.
type Server struct {
	*server.Server
	URL         string
	Fingerprint string
	Clock       *Clock
	DataDir     string
	KeyFile     string
	Admin       *client.Client // the bootstrap security-admin
	cancel      context.CancelFunc
	done        chan error
	t           testing.TB
}

// Options adjust a test server.
type Options struct {
	// DataDir and KeyFile reuse an earlier server's state (restart tests).
	DataDir, KeyFile string
	Clock            *Clock
	Relax            []string
	// Storages are S3 targets, as server.Config has them.
	Storages map[string]s3.Config
	// RealTime starts the clock at the wall clock's time rather than a
	// fixed date, and keeps it running (Advance moves it further ahead),
	// for tests whose storage enforces retention by the wall clock.
	RealTime bool
	// RetentionSlack is passed to the server (default: one second).
	RetentionSlack time.Duration
	// VerifyEvery is passed to the server (default: never).
	VerifyEvery time.Duration
	// PullEvery is passed to the server (default: never).
	PullEvery time.Duration
	// NudgeGap is passed to the server (default: 100ms, so that tests do
	// not wait on it).
	NudgeGap time.Duration
	// PushEvery is passed to the server (default: never).
	PushEvery time.Duration
	// Notifier and ApprovalTimeout are passed to the server.
	Notifier        server.Notifier
	ApprovalTimeout time.Duration
	// EventSecrets, DeliveryBaseDelay, DeliveryAttempts and DeliveryPoll
	// are passed to the server. A short DeliveryPoll makes deliveries
	// that moving the clock made due be attempted at once.
	EventSecrets      string
	DeliveryBaseDelay time.Duration
	DeliveryAttempts  int
	DeliveryPoll      time.Duration
	// FloodWindow, VaultCommitLimit and PrincipalCommitLimit are passed
	// to the server (default: the server's).
	FloodWindow                            time.Duration
	VaultCommitLimit, PrincipalCommitLimit int
}

// Start runs a server until the test ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	if opts.DataDir == "" {
		dir := t.TempDir()
		opts.DataDir, opts.KeyFile = filepath.Join(dir, "data"), filepath.Join(dir, "server.key")
		// As root, locked vaults are sealed with the immutable attribute;
		// unseal them so the temporary directory can go.
		dataDir := opts.DataDir
		t.Cleanup(func() { _ = local.Unseal(dataDir) })
	}
	if opts.Clock == nil {
		opts.Clock = &Clock{t: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
		if opts.RealTime {
			opts.Clock.t, opts.Clock.since = time.Now().UTC(), time.Now()
		}
	}
	if opts.RetentionSlack == 0 {
		opts.RetentionSlack = time.Second
	}
	if opts.VerifyEvery == 0 {
		opts.VerifyEvery = -1
	}
	if opts.PullEvery == 0 {
		opts.PullEvery = -1
	}
	if opts.PushEvery == 0 {
		opts.PushEvery = -1
	}
	if opts.NudgeGap == 0 {
		opts.NudgeGap = 100 * time.Millisecond
	}
	ctx := context.Background()
	srv, err := server.New(ctx, server.Config{
		DataDir: opts.DataDir, KeyFile: opts.KeyFile, Listen: "127.0.0.1:0",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: opts.Clock.Now,
		MaintenanceEvery: -1, GCMargin: time.Nanosecond, CheckpointEvery: 16,
		PasswordParams:  &server.PasswordCost{MemoryKiB: 64, Time: 1, Threads: 1},
		Relax:           opts.Relax,
		Storages:        opts.Storages,
		RetentionSlack:  opts.RetentionSlack,
		VerifyEvery:     opts.VerifyEvery,
		PullEvery:       opts.PullEvery,
		NudgeGap:        opts.NudgeGap,
		PushEvery:       opts.PushEvery,
		Notifier:        opts.Notifier,
		ApprovalTimeout: opts.ApprovalTimeout,

		EventSecrets:         opts.EventSecrets,
		DeliveryBaseDelay:    opts.DeliveryBaseDelay,
		DeliveryAttempts:     opts.DeliveryAttempts,
		DeliveryPoll:         opts.DeliveryPoll,
		FloodWindow:          opts.FloodWindow,
		VaultCommitLimit:     opts.VaultCommitLimit,
		PrincipalCommitLimit: opts.PrincipalCommitLimit,
	})
	if err != nil {
		t.Fatal(err)
	}
	pw, _, err := srv.Bootstrap(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := srv.Listen()
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	s := &Server{Server: srv, URL: ln.URL, Fingerprint: ln.Fingerprint, Clock: opts.Clock, DataDir: opts.DataDir, KeyFile: opts.KeyFile,
		cancel: cancel, done: make(chan error, 1), t: t}
	srv.Start(runCtx)
	go func() { s.done <- srv.Serve(runCtx, ln) }()
	t.Cleanup(s.Stop)
	if pw != "" {
		// Tests move the clock by days: every test client uses a long-lived
		// API token rather than a 12-hour login session.
		s.Admin = s.longLived(t, s.Login(t, "admin", pw), "")
	}
	return s
}

// longLived returns a client acting as c's principal (or, for a
// security-admin c, as principal) with a two-year API token.
func (s *Server) longLived(t testing.TB, c *client.Client, principal string) *client.Client {
	t.Helper()
	tok, err := c.CreateToken(context.Background(), api.TokenRequest{Principal: principal, Label: "test", ExpiresIn: "2y"})
	if err != nil {
		t.Fatalf("token for %s: %v", principal, err)
	}
	return s.Anonymous(t).WithToken(tok.Token)
}

// Stop shuts the server down (idempotent).
func (s *Server) Stop() {
	if s.cancel == nil {
		return
	}
	s.cancel()
	<-s.done
	if err := s.Close(); err != nil {
		s.t.Errorf("close server: %v", err)
	}
	s.cancel = nil
}

// Anonymous returns a client without credentials.
func (s *Server) Anonymous(t testing.TB) *client.Client {
	t.Helper()
	c, err := client.New(client.Options{URL: s.URL, Fingerprint: s.Fingerprint})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Login logs a user in and returns a client acting as it.
func (s *Server) Login(t testing.TB, name, password string) *client.Client {
	t.Helper()
	c := s.Anonymous(t)
	tok, err := c.Login(context.Background(), api.LoginRequest{Name: name, Password: password})
	if err != nil {
		t.Fatalf("login %s: %v", name, err)
	}
	return c.WithToken(tok.Token)
}

// Password is the password User gives every user.
const Password = "correct horse battery staple"

// User creates a user with the given role bindings ("role" on all vaults,
// or "role@vault") and returns a client acting as it.
func (s *Server) User(t testing.TB, name string, roles ...string) *client.Client {
	t.Helper()
	ctx := context.Background()
	if _, err := s.Admin.CreatePrincipal(ctx, api.PrincipalRequest{Name: name, Kind: "user", Password: Password}); err != nil {
		t.Fatalf("create user %s: %v", name, err)
	}
	s.bind(t, name, roles)
	return s.longLived(t, s.Admin, name)
}

// Service creates a service account with the given roles and returns a
// client using a fresh API token for it.
func (s *Server) Service(t testing.TB, name string, roles ...string) *client.Client {
	t.Helper()
	ctx := context.Background()
	if _, err := s.Admin.CreatePrincipal(ctx, api.PrincipalRequest{Name: name, Kind: "service"}); err != nil {
		t.Fatalf("create service %s: %v", name, err)
	}
	s.bind(t, name, roles)
	return s.longLived(t, s.Admin, name)
}

func (s *Server) bind(t testing.TB, name string, roles []string) {
	t.Helper()
	for _, r := range roles {
		role, vault := r, "*"
		for i := 0; i < len(r); i++ {
			if r[i] == '@' {
				role, vault = r[:i], r[i+1:]
				break
			}
		}
		if _, err := s.Admin.Bind(context.Background(), api.BindingRequest{Principal: name, Role: role, Vault: vault}); err != nil {
			t.Fatalf("bind %s to %s: %v", r, name, err)
		}
	}
}

// Approver is a user holding the approver role, with a key pair of its own.
type Approver struct {
	*client.Client
	Name string
	Key  ed25519.PrivateKey
}

// Approver creates a user with the approver role and makes its key pair.
func (s *Server) Approver(t testing.TB, name string) *Approver {
	t.Helper()
	key, err := approval.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return &Approver{Client: s.User(t, name, "approver"), Name: name, Key: key}
}

// PublicKey is the approver's public key in its text form.
func (a *Approver) PublicKey() string {
	return approval.EncodePublicKey(a.Key.Public().(ed25519.PublicKey))
}

// Vote reads request id, checks that its pinned form hashes to its hash,
// and casts a signed vote on it, as `bunker approvals approve` does.
func (a *Approver) Vote(ctx context.Context, id string, vote approval.Vote, reason string) (api.Approval, error) {
	r, err := a.Approval(ctx, id)
	if err != nil {
		return api.Approval{}, err
	}
	if approval.Hash([]byte(r.Canonical)) != r.Hash {
		return api.Approval{}, fmt.Errorf("request %s: its pinned form does not hash to %s", id, r.Hash)
	}
	sig, keyID, err := approval.Sign(a.Key, r.Hash, vote)
	if err != nil {
		return api.Approval{}, err
	}
	return a.Client.Vote(ctx, r.Request.ID, string(vote), api.VoteRequest{KeyID: keyID, Signature: sig, Reason: reason})
}

// Team creates an approval team of the approvers with threshold m, every
// one of them accepting, so that it is active.
func (s *Server) Team(t testing.TB, name string, m int, members ...*Approver) api.Team {
	t.Helper()
	ctx := context.Background()
	req := api.TeamRequest{Name: name, Threshold: m}
	for _, a := range members {
		req.Invite = append(req.Invite, a.Name)
	}
	if _, err := s.Admin.CreateTeam(ctx, req); err != nil {
		t.Fatalf("create team %s: %v", name, err)
	}
	var team api.Team
	for _, a := range members {
		var err error
		if team, err = a.AcceptTeam(ctx, name, a.PublicKey()); err != nil {
			t.Fatalf("%s accepts team %s: %v", a.Name, name, err)
		}
	}
	return team
}
