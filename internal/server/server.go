// Package server is the bunker vault server: an HTTPS JSON API that owns
// vaults and enforces their rules. Protected hosts add recovery points
// through backup sessions and can do nothing else; the server stamps each
// point with its own clock, derives its expiry from the vault's policy,
// signs it, and records it in the control-plane store. Every state change
// and every denied attempt goes into the hash-chained audit log.
package server

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/bunkerhq/bunker/internal/approval"
	"github.com/bunkerhq/bunker/internal/eventrule"
	"github.com/bunkerhq/bunker/internal/keys"
	"github.com/bunkerhq/bunker/internal/plan"
	"github.com/bunkerhq/bunker/internal/rbac"
	"github.com/bunkerhq/bunker/internal/schedule"
	"github.com/bunkerhq/bunker/internal/secret"
	"github.com/bunkerhq/bunker/internal/storage/s3"
	"github.com/bunkerhq/bunker/internal/store"
	"github.com/bunkerhq/bunker/internal/store/sqlstore"
	"github.com/bunkerhq/bunker/internal/tlsutil"
	"github.com/bunkerhq/bunker/internal/userdirs"
)

// Version is the server's version, reported by /v1/server.
const Version = "0.3.0"

// Config configures a server. Zero values pick the defaults documented on
// each field.
type Config struct {
	// DataDir holds the database (bunker.db), the vaults (vaults/) and the
	// generated certificate (tls/).
	DataDir string
	// KeyFile is the server's key file: the root secret that wraps every
	// vault key, seals stored secrets and derives the signing key. It is
	// created on first start when missing. Keep a copy elsewhere.
	KeyFile string
	// Listen is the address to listen on (default 127.0.0.1:8443).
	Listen string
	// TLSCert and TLSKey name the operator's own certificate; without them
	// a self-signed one is generated and its fingerprint printed.
	TLSCert, TLSKey string
	// Hosts are extra names and addresses for the generated certificate.
	Hosts []string
	// Relax lists separation-of-duties constraints to switch off.
	Relax []string
	// Logger receives structured logs (default: JSON to stderr).
	Logger *slog.Logger
	// Now is the server's clock (default time.Now); tests move it.
	Now func() time.Time
	// MaintenanceEvery is the period of the maintenance pass: expiry, bin
	// purge, garbage collection (default 1h; negative disables it).
	MaintenanceEvery time.Duration
	// VerifyEvery is how often each vault is verified, incrementally: packs
	// verified sound within VerifyMaxAge are not read again (default 24h;
	// negative disables it).
	VerifyEvery time.Duration
	// PullEvery is how often the vaults followed on remotes are looked at
	// for new points to pull (default 1m; negative disables it: pulls
	// then happen only when asked for).
	PullEvery time.Duration
	// NudgeGap is the shortest time between two looks at one remote that
	// its webhook asks for (default DefaultNudgeGap; negative: no gap).
	NudgeGap time.Duration
	// PushEvery is how often the vaults of push targets are looked at for
	// new points to push (default 1m; negative disables it: pushes then
	// happen only when asked for).
	PushEvery time.Duration
	// VerifyMaxAge is how recent a pack's sound verification must be for a
	// verification to skip it (default 7 days; negative reads every pack).
	VerifyMaxAge time.Duration
	// GCMargin keeps packs younger than this from garbage collection, so
	// that data a backup is still uploading is never collected (default 6h).
	GCMargin time.Duration
	// CheckpointEvery is the number of audit entries between signed
	// checkpoints (default 64); one is also written every minute when
	// entries were added, and at shutdown.
	CheckpointEvery int
	// SessionIdle ends backup and restore sessions idle this long (default 1h).
	SessionIdle time.Duration
	// PasswordParams sets the argon2id cost of password hashes (tests lower it).
	PasswordParams *PasswordCost
	// Storages are the S3 storage targets vaults may be created on, by
	// name, besides the local one under the data directory (see
	// ParseS3Target).
	Storages map[string]s3.Config
	// RetentionSlack is how far beyond what a point needs the server
	// extends an object's storage retention, so that regular backups do
	// not extend every object every time (default 7 days).
	RetentionSlack time.Duration
	// ApprovalTimeout is how long each waiting step of an approval request
	// lasts: the requester's confirmation, the team's votes, the final
	// confirmation (default 24h).
	ApprovalTimeout time.Duration
	// Notifier, if set, is told of approval events once they are recorded
	// in the event stream.
	Notifier Notifier
	// Name is the server's name, the source of every event it emits
	// (default: the host's name, or "bunker").
	Name string
	// EventSecrets is the directory of the secrets that sign event
	// rules' webhooks: a webhook target's secret "ops-hook" is the file
	// ops-hook in it, of at least 16 bytes. Empty: webhook targets fail.
	EventSecrets string
	// EventCommands is the directory whose programs event rules' command
	// targets may run. Empty: command targets fail.
	EventCommands string
	// DeliveryBaseDelay, DeliveryAttempts and DeliveryPoll tune the
	// delivery of events to the rules' targets: the wait after a first
	// failed attempt, the attempts before a delivery becomes a dead
	// letter, and how often the outbox is looked at when nothing woke
	// the deliverer (defaults: 5s, 12, 2s; see package eventrule).
	DeliveryBaseDelay time.Duration
	DeliveryAttempts  int
	DeliveryPoll      time.Duration
	// FloodWindow, VaultCommitLimit and PrincipalCommitLimit hold back
	// floods of points: in each window (default 1h), a vault takes at
	// most VaultCommitLimit commits (default 2000) and one principal makes
	// at most PrincipalCommitLimit (default 200), to any vault. Commits
	// over a limit are refused with 429 and audited, and a vault.flood
	// event is emitted once per window. A negative limit switches it off.
	FloodWindow          time.Duration
	VaultCommitLimit     int
	PrincipalCommitLimit int
}

// PasswordCost is the argon2id cost of password hashes.
type PasswordCost struct {
	MemoryKiB uint32
	Time      uint32
	Threads   uint8
}

// Server is a running vault server.
type Server struct {
	cfg         Config
	log         *slog.Logger
	st          store.Store
	box         *secret.Box
	signer      ed25519.PrivateKey
	keyID       string
	root        []byte
	constraints []rbac.Constraint
	vaults      *vaultSet
	sessions    *sessionSet
	metrics     *metrics
	handler     http.Handler
	started     time.Time
	events      *eventrule.Emitter // records events and enqueues their rules' deliveries
	// deliverer attempts the deliveries the event rules enqueue; Start
	// runs it. Its Runner calls copy for copy targets (copyForRule).
	deliverer *eventrule.Deliverer
	copy      eventrule.CopyFunc
	nudges    chan string   // remotes whose webhook said they have new points
	copyWake  chan struct{} // the plans' copy sweep is to look now

	auditNotify chan struct{} // an entry was appended; the checkpoint loop looks

	bgCancel context.CancelFunc
	bg       sync.WaitGroup
	ckMu     sync.Mutex // one checkpoint at a time

	auth    *authCache    // tokens recently authenticated
	logins  *throttle     // failed logins by name and address
	floods  *floodGate    // commits by vault and principal, per window
	uploads chan struct{} // slots for upload requests, each holding up to a blob in memory

	planCache plan.Cache     // stored plans, decoded once
	streaks   failureStreaks // failures in a row of each push and pull
	pushLocks keyLocks       // one push of a point to a target at a time

	// Background scans of new points: scanCtx ends them at Close.
	scanCtx    context.Context
	scanStop   context.CancelFunc
	scanMu     sync.Mutex
	scanClosed bool
	scans      sync.WaitGroup

	// The plans' scheduler; planMu keeps changes of the stored plans and
	// of the scheduler's entries in one order.
	sched  *schedule.Scheduler
	planMu sync.Mutex

	dummyOnce sync.Once
	dummy     string // password hash checked for unknown users
}

// New opens (creating on first start) the server's data directory, key file
// and database. It does not listen; call Serve or use Handler.
func New(ctx context.Context, cfg Config) (*Server, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory %s: %w", cfg.DataDir, err)
	}
	root, err := keys.ReadOrCreateKeyFile(cfg.KeyFile)
	if err != nil {
		return nil, err
	}
	cs, err := rbac.Constraints(cfg.Relax)
	if err != nil {
		return nil, err
	}
	box, err := secret.NewBox(root, "server")
	if err != nil {
		return nil, err
	}
	signer, err := secret.SigningKey(root, "server signatures")
	if err != nil {
		return nil, err
	}
	st, err := sqlstore.OpenSQLite(ctx, filepath.Join(cfg.DataDir, "bunker.db"))
	if err != nil {
		return nil, err
	}
	ac := newAuthCache()
	s := &Server{
		cfg: cfg, log: cfg.Logger, st: &authStore{Store: st, cache: ac}, auth: ac, box: box, signer: signer, root: root,
		keyID:       secret.KeyID(signer.Public().(ed25519.PublicKey)),
		constraints: cs,
		metrics:     newMetrics(),
		auditNotify: make(chan struct{}, 1),
		started:     cfg.Now(),
		nudges:      make(chan string, 16),
		copyWake:    make(chan struct{}, 1),
		events:      &eventrule.Emitter{Source: cfg.Name, Now: cfg.Now, Logger: cfg.Logger},
	}
	s.scanCtx, s.scanStop = context.WithCancel(context.Background())
	s.vaults = newVaultSet(s)
	s.sched = schedule.New(schedClock{now: cfg.Now})
	s.metrics.reg.MustRegister(newStorageRequests(s.vaults.storageRequests))
	s.logins = newThrottle(time.Now)
	s.floods = newFloodGate(cfg.Now, cfg.FloodWindow)
	if err := s.seedFloods(context.Background()); err != nil {
		st.Close()
		return nil, err
	}
	if err := s.streaks.seed(context.Background(), st); err != nil {
		st.Close()
		return nil, err
	}
	s.uploads = make(chan struct{}, maxUploadsInFlight)
	s.sessions = newSessionSet(cfg.SessionIdle, cfg.Now)
	s.copy = s.copyForRule
	d, err := eventrule.NewDeliverer(eventrule.DelivererOptions{Store: s.st, Sender: s.ruleRunner(), Owner: cfg.Name,
		BaseDelay: cfg.DeliveryBaseDelay, MaxAttempts: cfg.DeliveryAttempts, Poll: cfg.DeliveryPoll, Now: cfg.Now, Logger: cfg.Logger})
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("event deliveries: %w", err)
	}
	s.deliverer = d
	s.handler = s.routes()
	if err := s.checkSigningKey(ctx); err != nil {
		st.Close()
		return nil, err
	}
	return s, nil
}

func (c *Config) defaults() error {
	if c.DataDir == "" {
		d, err := DefaultDataDir()
		if err != nil {
			return err
		}
		c.DataDir = d
	}
	if c.KeyFile == "" {
		k, err := DefaultKeyFile()
		if err != nil {
			return err
		}
		c.KeyFile = k
	}
	if c.Listen == "" {
		c.Listen = "127.0.0.1:8443"
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewJSONHandler(os.Stderr, nil))
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Name == "" {
		if h, err := os.Hostname(); err == nil && h != "" {
			c.Name = h
		} else {
			c.Name = "bunker"
		}
	}
	if c.MaintenanceEvery == 0 {
		c.MaintenanceEvery = time.Hour
	}
	if c.GCMargin == 0 {
		c.GCMargin = 6 * time.Hour
	}
	if c.VerifyEvery == 0 {
		c.VerifyEvery = 24 * time.Hour
	}
	if c.VerifyMaxAge == 0 {
		c.VerifyMaxAge = 7 * 24 * time.Hour
	}
	if c.PullEvery == 0 {
		c.PullEvery = time.Minute
	}
	if c.PushEvery == 0 {
		c.PushEvery = time.Minute
	}
	if c.VerifyMaxAge < 0 {
		c.VerifyMaxAge = 0
	}
	if c.CheckpointEvery <= 0 {
		c.CheckpointEvery = 64
	}
	if c.SessionIdle <= 0 {
		c.SessionIdle = time.Hour
	}
	if c.RetentionSlack == 0 {
		c.RetentionSlack = 7 * 24 * time.Hour
	}
	if c.FloodWindow <= 0 {
		c.FloodWindow = DefaultFloodWindow
	}
	if c.VaultCommitLimit == 0 {
		c.VaultCommitLimit = DefaultVaultCommitLimit
	}
	if c.PrincipalCommitLimit == 0 {
		c.PrincipalCommitLimit = DefaultPrincipalCommitLimit
	}
	if c.ApprovalTimeout <= 0 {
		c.ApprovalTimeout = approval.DefaultTimeout
	}
	return c.eventDirs()
}

// eventDirs makes the event rules' directories absolute and checks that
// they are directories, so that a mistyped one stops the server rather
// than failing every delivery.
func (c *Config) eventDirs() error {
	for _, d := range []struct {
		dir  *string
		flag string
	}{{&c.EventSecrets, "--event-secrets"}, {&c.EventCommands, "--event-commands"}} {
		if *d.dir == "" {
			continue
		}
		abs, err := filepath.Abs(*d.dir)
		if err != nil {
			return fmt.Errorf("%s %s: %w", d.flag, *d.dir, err)
		}
		fi, err := os.Stat(abs)
		if err != nil {
			return fmt.Errorf("%s: %w (give an existing directory)", d.flag, err)
		}
		if !fi.IsDir() {
			return fmt.Errorf("%s %s: not a directory", d.flag, abs)
		}
		*d.dir = abs
	}
	return nil
}

// DefaultDataDir is $XDG_DATA_HOME/bunker/server (~/.local/share/bunker/server).
func DefaultDataDir() (string, error) {
	p, err := userdirs.Data("bunker", "server")
	if err != nil {
		return "", fmt.Errorf("the data directory: %w (name one with --data)", err)
	}
	return p, nil
}

// DefaultKeyFile is $XDG_CONFIG_HOME/bunker/server.key.
func DefaultKeyFile() (string, error) {
	p, err := userdirs.Config("bunker", "server.key")
	if err != nil {
		return "", fmt.Errorf("the server key file: %w (name one with --key-file)", err)
	}
	return p, nil
}

// checkSigningKey makes sure the key file is the one this data directory
// was created with: a different key could open no vault.
func (s *Server) checkSigningKey(ctx context.Context) error {
	return s.st.Update(ctx, func(tx store.Tx) error {
		have, err := tx.Setting(ctx, "signing_key_id")
		if errors.Is(err, store.ErrNotFound) {
			return tx.SetSetting(ctx, "signing_key_id", s.keyID)
		}
		if err != nil {
			return err
		}
		if have != s.keyID {
			return fmt.Errorf("the key file %s is not the one this data directory (%s) was created with (its signing key is %s, this one gives %s): start with the right --key-file", s.cfg.KeyFile, s.cfg.DataDir, have, s.keyID)
		}
		return nil
	})
}

// Config returns the configuration in effect, defaults filled in.
func (s *Server) Config() Config { return s.cfg }

// Handler returns the server's HTTP handler.
func (s *Server) Handler() http.Handler { return s.handler }

// PublicKey returns the key that verifies the server's signatures.
func (s *Server) PublicKey() ed25519.PublicKey { return s.signer.Public().(ed25519.PublicKey) }

// Store returns the control-plane store.
func (s *Server) Store() store.Store { return s.st }

// Start opens every vault (loading its index, indexing packs an interrupted
// backup left, and cataloguing points a crash left uncatalogued), then
// launches the background work: the plans' scheduler and copy actions,
// the maintenance pass, the audit checkpoints and the session reaper. Close ends it.
func (s *Server) Start(ctx context.Context) {
	s.openVaults(ctx)
	ctx, cancel := context.WithCancel(ctx)
	s.bgCancel = cancel
	if err := s.loadPlans(ctx); err != nil {
		s.log.Error("load plans", "err", err)
	}
	s.bg.Add(4)
	go func() { defer s.bg.Done(); s.checkpointLoop(ctx) }()
	go func() {
		defer s.bg.Done()
		if err := s.deliverer.Run(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("event deliveries", "err", err)
		}
	}()
	go func() { defer s.bg.Done(); s.reapLoop(ctx) }()
	go func() { defer s.bg.Done(); s.runScheduler(ctx) }()
	if s.cfg.MaintenanceEvery > 0 {
		s.bg.Add(1)
		go func() { defer s.bg.Done(); s.maintenanceLoop(ctx) }()
	}
	if s.cfg.VerifyEvery > 0 {
		s.bg.Add(1)
		go func() { defer s.bg.Done(); s.verifyLoop(ctx) }()
	}
	s.bg.Add(2)
	go func() { defer s.bg.Done(); s.pullLoop(ctx) }()
	go func() { defer s.bg.Done(); s.planCopyLoop(ctx) }()
	if s.cfg.PushEvery > 0 {
		s.bg.Add(1)
		go func() { defer s.bg.Done(); s.pushLoop(ctx) }()
	}
	s.scanPending(ctx, "")
}

// Close stops background work, writes a last audit checkpoint and closes
// the vaults and the database.
func (s *Server) Close() error {
	if s.bgCancel != nil {
		s.bgCancel()
	}
	s.bg.Wait()
	s.stopScans()
	if err := s.checkpoint(context.Background()); err != nil {
		s.log.Error("final audit checkpoint", "err", err)
	}
	s.vaults.closeAll()
	return s.st.Close()
}

// Listener is the TLS listener a server serves on and what clients need to
// trust it.
type Listener struct {
	net.Listener
	URL         string
	Fingerprint string // of a generated certificate; empty for the operator's own
	Generated   bool   // the certificate was generated on this start
}

// Listen opens the TLS listener: on the operator's certificate, or on the
// self-signed one kept (sealed) in the data directory.
func (s *Server) Listen() (*Listener, error) {
	var cert tls.Certificate
	var fp string
	var created bool
	var err error
	if s.cfg.TLSCert != "" || s.cfg.TLSKey != "" {
		if s.cfg.TLSCert == "" || s.cfg.TLSKey == "" {
			return nil, errors.New("give both --tls-cert and --tls-key, or neither to use a generated certificate")
		}
		cert, _, err = tlsutil.LoadFiles(s.cfg.TLSCert, s.cfg.TLSKey)
	} else {
		cert, fp, created, err = tlsutil.LoadOrCreate(filepath.Join(s.cfg.DataDir, "tls"), s.box, s.cfg.Hosts, s.cfg.Now())
	}
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", s.cfg.Listen, err)
	}
	tcfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	addr := ln.Addr().(*net.TCPAddr)
	host := addr.IP.String()
	if addr.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	url := "https://" + net.JoinHostPort(host, fmt.Sprint(addr.Port))
	return &Listener{Listener: tls.NewListener(ln, tcfg), URL: url, Fingerprint: fp, Generated: created}, nil
}

// Serve answers requests on ln until ctx is done, then shuts down
// gracefully.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := hs.Shutdown(shutdown); err != nil {
		return fmt.Errorf("shut down: %w", err)
	}
	return nil
}

// openVaults opens every vault now rather than on first use, so that what a
// crash left behind is recovered before the first request. A vault that
// fails to open is logged; requests for it report the error.
func (s *Server) openVaults(ctx context.Context) {
	var vs []store.Vault
	err := s.st.View(ctx, func(tx store.Tx) error {
		var err error
		vs, err = tx.Vaults(ctx)
		return err
	})
	if err != nil {
		s.log.Error("list vaults", "err", err)
		return
	}
	for i := range vs {
		if _, err := s.vaults.get(ctx, &vs[i]); err != nil {
			s.log.Error("open vault", "vault", vs[i].Name, "err", err)
		}
	}
}
