package notify

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// TLSMode says how an SMTP connection is protected.
type TLSMode string

// TLS modes for SMTP.
const (
	// TLSStartTLS connects in plain text and upgrades with STARTTLS
	// before anything else is said; a server that does not offer
	// STARTTLS gets nothing. The default, on port 587.
	TLSStartTLS TLSMode = "starttls"
	// TLSImplicit speaks TLS from the first byte, on port 465.
	TLSImplicit TLSMode = "tls"
	// TLSNone speaks plain text, on port 25, and only to a loopback host:
	// for a relay on the same machine and for tests.
	TLSNone TLSMode = "none"
)

// Default ports for each TLS mode, and the default timeout.
const (
	PortSubmission        = 587
	PortSubmissions       = 465
	PortSMTP              = 25
	DefaultEmailTimeout   = 30 * time.Second
	maxRecipients         = 100
	maxAddressLen         = 320
	maxCredentialLen      = 1024
	maxPasswordFileLength = 4096
)

// EmailConfig is an SMTP target.
type EmailConfig struct {
	// Host and Port are the SMTP server; Port 0 means the TLS mode's
	// default port.
	Host string
	Port int
	// From is the sender, as in "bunker@example.com" or
	// "Bunker <bunker@example.com>".
	From string
	// To are the recipients, at least one.
	To []string
	// Username and Password, if set, authenticate with AUTH PLAIN, only
	// ever over TLS. PasswordFile, instead of Password, names a file
	// holding the password (a trailing newline is dropped).
	Username     string
	Password     string
	PasswordFile string
	// TLS is the TLS mode; empty means TLSStartTLS.
	TLS TLSMode
	// RootCAs, or the PEM certificates in CAFile, replace the system's
	// roots for verifying the server's certificate.
	RootCAs *x509.CertPool
	CAFile  string
	// ServerName is the name the server's certificate must carry; empty
	// means Host.
	ServerName string
	// HelloName is this machine's name in EHLO; empty means its host name.
	HelloName string
	// Timeout bounds one whole delivery, from connecting to the server's
	// acceptance of the message; 0 means DefaultEmailTimeout.
	Timeout time.Duration
	// Now is the clock for the Date header; nil means time.Now.
	Now func() time.Time
}

// emailSettings is a validated EmailConfig.
type emailSettings struct {
	EmailConfig
	from *mail.Address
	to   []*mail.Address
}

// Validate checks c without touching the network or the filesystem.
func (c EmailConfig) Validate() error {
	_, err := c.settings()
	return err
}

// settings validates c and fills in its defaults.
func (c EmailConfig) settings() (emailSettings, error) {
	s := emailSettings{EmailConfig: c}
	if err := checkHost(c.Host); err != nil {
		return s, fmt.Errorf("smtp: %w", err)
	}
	if err := s.checkTLS(); err != nil {
		return s, err
	}
	if c.Port < 0 || c.Port > 65535 {
		return s, fmt.Errorf("smtp: port %d is not 1 to 65535", c.Port)
	}
	if s.Port == 0 {
		s.Port = map[TLSMode]int{TLSStartTLS: PortSubmission, TLSImplicit: PortSubmissions, TLSNone: PortSMTP}[s.TLS]
	}
	if err := s.checkAddresses(); err != nil {
		return s, err
	}
	if err := s.checkAuth(); err != nil {
		return s, err
	}
	if c.HelloName != "" {
		if err := checkHost(c.HelloName); err != nil {
			return s, fmt.Errorf("smtp: hello name: %w", err)
		}
	}
	if c.Timeout < 0 {
		return s, fmt.Errorf("smtp: negative timeout %v", c.Timeout)
	}
	return s, nil
}

// checkTLS checks the TLS mode and what goes with it.
func (s *emailSettings) checkTLS() error {
	switch s.TLS {
	case "":
		s.TLS = TLSStartTLS
	case TLSStartTLS, TLSImplicit:
	case TLSNone:
		if !isLoopback(s.Host) {
			return fmt.Errorf("smtp: tls=none is only allowed to a loopback host, not %q; use starttls or tls", s.Host)
		}
		if s.RootCAs != nil || s.CAFile != "" || s.ServerName != "" {
			return errors.New("smtp: a CA or server name with tls=none, which verifies no certificate")
		}
	default:
		return fmt.Errorf("smtp: TLS mode %q: want starttls, tls or none", clip(clean(string(s.TLS)), 30))
	}
	if s.RootCAs != nil && s.CAFile != "" {
		return errors.New("smtp: both a CA pool and a CA file")
	}
	if s.ServerName != "" {
		if err := checkHost(s.ServerName); err != nil {
			return fmt.Errorf("smtp: server name: %w", err)
		}
	}
	return nil
}

// checkAddresses parses the sender and the recipients.
func (s *emailSettings) checkAddresses() error {
	var err error
	if s.From == "" {
		return errors.New("smtp: no sender (from=)")
	}
	if s.from, err = parseAddress(s.From); err != nil {
		return fmt.Errorf("smtp: sender: %w", err)
	}
	if len(s.To) == 0 {
		return errors.New("smtp: no recipient (to=)")
	}
	if len(s.To) > maxRecipients {
		return fmt.Errorf("smtp: %d recipients, at most %d", len(s.To), maxRecipients)
	}
	s.to = nil
	for _, t := range s.To {
		a, err := parseAddress(t)
		if err != nil {
			return fmt.Errorf("smtp: recipient: %w", err)
		}
		s.to = append(s.to, a)
	}
	return nil
}

// parseAddress parses one mailbox, as "a@b.example" or "Name <a@b.example>".
func parseAddress(s string) (*mail.Address, error) {
	if len(s) > maxAddressLen {
		return nil, fmt.Errorf("address of %d bytes: at most %d", len(s), maxAddressLen)
	}
	a, err := mail.ParseAddress(s)
	if err != nil {
		return nil, fmt.Errorf("%q is not an email address: %w", clip(clean(s), 80), err)
	}
	if strings.ContainsAny(a.Address, "\r\n") || !strings.Contains(a.Address, "@") {
		return nil, fmt.Errorf("%q is not an email address", clip(clean(s), 80))
	}
	return a, nil
}

// checkAuth checks the credentials.
func (s *emailSettings) checkAuth() error {
	switch {
	case s.Username == "" && (s.Password != "" || s.PasswordFile != ""):
		return errors.New("smtp: a password without a user name")
	case s.Username != "" && s.Password == "" && s.PasswordFile == "":
		return errors.New("smtp: a user name without a password (or password file)")
	case s.Password != "" && s.PasswordFile != "":
		return errors.New("smtp: both a password and a password file")
	case s.Username == "":
		return nil
	case s.TLS == TLSNone:
		return errors.New("smtp: a user name with tls=none: AUTH PLAIN is only sent over TLS")
	}
	if len(s.Username) > maxCredentialLen || len(s.Password) > maxCredentialLen {
		return fmt.Errorf("smtp: user name or password longer than %d bytes", maxCredentialLen)
	}
	if strings.ContainsRune(s.Username, 0) || strings.ContainsRune(s.Password, 0) {
		return errors.New("smtp: a NUL byte in the user name or password")
	}
	return nil
}

// Email delivers events as mail over SMTP.
type Email struct {
	s       emailSettings
	addr    string
	name    string
	tls     *tls.Config
	hello   string
	timeout time.Duration
	now     func() time.Time
}

// NewEmail returns an SMTP target for c, reading its password and CA
// files if it names any.
func NewEmail(c EmailConfig) (*Email, error) {
	s, err := c.settings()
	if err != nil {
		return nil, err
	}
	m := &Email{s: s, addr: net.JoinHostPort(s.Host, strconv.Itoa(s.Port)), timeout: s.Timeout, now: s.Now, hello: s.HelloName}
	m.name = "smtp://" + m.addr
	if s.PasswordFile != "" {
		if m.s.Password, err = readPassword(s.PasswordFile); err != nil {
			return nil, fmt.Errorf("smtp: %w", err)
		}
	}
	roots := s.RootCAs
	if s.CAFile != "" {
		if roots, err = readCAFile(s.CAFile); err != nil {
			return nil, fmt.Errorf("smtp: %w", err)
		}
	}
	serverName := s.ServerName
	if serverName == "" {
		serverName = s.Host
	}
	m.tls = &tls.Config{ServerName: serverName, RootCAs: roots, MinVersion: tls.VersionTLS12}
	if m.timeout == 0 {
		m.timeout = DefaultEmailTimeout
	}
	if m.now == nil {
		m.now = time.Now
	}
	if m.hello == "" {
		m.hello = defaultHelloName()
	}
	return m, nil
}

// readPassword reads a password file, without its trailing newline.
func readPassword(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("password file: %w", err)
	}
	if len(b) > maxPasswordFileLength {
		return "", fmt.Errorf("password file %s: %d bytes, at most %d", path, len(b), maxPasswordFileLength)
	}
	p := strings.TrimRight(string(b), "\r\n")
	if p == "" || strings.ContainsAny(p, "\x00\r\n") {
		return "", fmt.Errorf("password file %s: want one line holding the password", path)
	}
	return p, nil
}

// readCAFile reads PEM certificates to trust.
func readCAFile(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("CA file %s: no PEM certificate in it", path)
	}
	return pool, nil
}

// defaultHelloName is this machine's host name if it is a usable one.
func defaultHelloName() string {
	if h, err := os.Hostname(); err == nil && checkHost(h) == nil {
		return h
	}
	return "localhost"
}

// Name returns "smtp://host:port".
func (m *Email) Name() string { return m.name }

// Deliver sends e as one message to all recipients, or to none: a
// recipient the server refuses fails the whole attempt before the message
// is sent. SMTP replies 4xx may be retried, 5xx are permanent failures, as
// are a server that does not offer STARTTLS (or AUTH PLAIN, with a user
// name) and a certificate that does not verify.
func (m *Email) Deliver(ctx context.Context, e Event) error {
	msg, err := m.message(e)
	if err != nil {
		return permanent(fmt.Errorf("%s: %w", m.name, err))
	}
	ctx, cancel := context.WithTimeout(ctx, m.timeout)
	defer cancel()
	conn, err := new(net.Dialer).DialContext(ctx, "tcp", m.addr)
	if err != nil {
		return fmt.Errorf("%s: %w", m.name, err)
	}
	defer conn.Close()
	// Closing the connection interrupts whatever waits on it.
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	if err := m.session(ctx, conn, msg); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w (%w)", m.name, context.Cause(ctx), err)
		}
		return err
	}
	return nil
}

// session speaks SMTP on conn to send msg.
func (m *Email) session(ctx context.Context, conn net.Conn, msg []byte) error {
	if m.s.TLS == TLSImplicit {
		tc := tls.Client(conn, m.tls.Clone())
		if err := tc.HandshakeContext(ctx); err != nil {
			return m.fail("TLS handshake", err)
		}
		conn = tc
	}
	c, err := smtp.NewClient(conn, m.s.Host)
	if err != nil {
		return m.fail("greeting", err)
	}
	defer c.Close()
	if err := c.Hello(m.hello); err != nil {
		return m.fail("EHLO", err)
	}
	if m.s.TLS == TLSStartTLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return permanent(fmt.Errorf("%s: the server does not offer STARTTLS; refusing to send in plain text (tls=starttls)", m.name))
		}
		if err := c.StartTLS(m.tls.Clone()); err != nil {
			return m.fail("STARTTLS", err)
		}
	}
	if m.s.Username != "" {
		if err := m.auth(c); err != nil {
			return err
		}
	}
	return m.send(c, msg)
}

// auth authenticates with AUTH PLAIN.
func (m *Email) auth(c *smtp.Client) error {
	ok, mechs := c.Extension("AUTH")
	if !ok || !slices.Contains(strings.Fields(strings.ToUpper(mechs)), "PLAIN") {
		return permanent(fmt.Errorf("%s: the server does not offer AUTH PLAIN (it offers %q)", m.name, clip(clean(mechs), 80)))
	}
	if err := c.Auth(plainAuth{user: m.s.Username, pass: m.s.Password}); err != nil {
		return m.fail(fmt.Sprintf("AUTH PLAIN as %q", clip(clean(m.s.Username), 60)), err)
	}
	return nil
}

// send hands the message over: MAIL, RCPT for each recipient, DATA.
func (m *Email) send(c *smtp.Client, msg []byte) error {
	if err := c.Mail(m.s.from.Address); err != nil {
		return m.fail("MAIL FROM", err)
	}
	for _, to := range m.s.to {
		if err := c.Rcpt(to.Address); err != nil {
			return m.fail(fmt.Sprintf("RCPT TO %s", clip(clean(to.Address), 80)), err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return m.fail("DATA", err)
	}
	if _, err := w.Write(msg); err != nil {
		return m.fail("DATA", err)
	}
	if err := w.Close(); err != nil {
		return m.fail("end of DATA", err)
	}
	// The message is accepted: a failing QUIT changes nothing.
	_ = c.Quit()
	return nil
}

// fail describes a failed step: a 5xx reply, a certificate that does not
// verify or an error marked permanent is permanent; a 4xx reply or a
// network error is not.
func (m *Email) fail(step string, err error) error {
	if IsPermanent(err) {
		return err
	}
	var tpe *textproto.Error
	if errors.As(err, &tpe) {
		e := fmt.Errorf("%s: %s: the server replied %d %s", m.name, step, tpe.Code, clip(clean(tpe.Msg), 200))
		if tpe.Code >= 500 {
			return permanent(e)
		}
		return &DeliveryError{Err: e}
	}
	e := fmt.Errorf("%s: %s: %w", m.name, step, err)
	var cv *tls.CertificateVerificationError
	var rh tls.RecordHeaderError
	if errors.As(err, &cv) || errors.As(err, &rh) {
		return permanent(e)
	}
	return e
}

// plainAuth is AUTH PLAIN (RFC 4616) that refuses to run without TLS.
type plainAuth struct{ user, pass string }

// Start sends the credentials in the initial response.
func (a plainAuth) Start(server *smtp.ServerInfo) (string, []byte, error) {
	if !server.TLS {
		return "", nil, permanent(errors.New("refusing to send the password without TLS"))
	}
	return "PLAIN", []byte("\x00" + a.user + "\x00" + a.pass), nil
}

// Next refuses any challenge: PLAIN has none.
func (a plainAuth) Next(_ []byte, more bool) ([]byte, error) {
	if more {
		return nil, errors.New("unexpected challenge after AUTH PLAIN")
	}
	return nil, nil
}
