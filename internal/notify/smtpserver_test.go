package notify

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/bunkerhq/bunker/internal/tlsutil"
)

// Credentials the test SMTP server accepts.
const (
	smtpUser = "bunker"
	smtpPass = "pa55 word+/"
)

// testCert makes a self-signed certificate for localhost and 127.0.0.1 and
// a pool that trusts it.
func testCert(t testing.TB) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	certDER, keyDER, err := tlsutil.SelfSigned(nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	key, err := x509.ParsePKCS8PrivateKey(keyDER)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(certDER)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{certDER}, PrivateKey: key, Leaf: cert}, pool
}

// smtpServerOptions shape a test SMTP server.
type smtpServerOptions struct {
	startTLS    bool // offer STARTTLS
	implicitTLS bool // speak TLS from the start
	plainAuth   bool // allow AUTH without TLS
	failMail    int  // reply 451 to this many MAIL commands first
}

// received is one message the test server accepted.
type received struct {
	from     string
	to       []string
	data     []byte
	tls      bool
	authUser string
}

// smtpServer is a real SMTP server (go-smtp) on a loopback port that
// checks AUTH PLAIN against smtpUser and smtpPass and records what it
// accepts.
type smtpServer struct {
	addr    string
	host    string
	port    int
	pool    *x509.CertPool
	certPEM []byte

	mu       sync.Mutex
	opts     smtpServerOptions
	messages []received
	auths    int // AUTH attempts
	mails    int // MAIL commands
}

// startSMTP starts a test SMTP server, closed when the test ends.
func startSMTP(t testing.TB, opts smtpServerOptions) *smtpServer {
	t.Helper()
	cert, pool := testCert(t)
	s := &smtpServer{opts: opts, pool: pool, certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]})}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &smtpSession{srv: s, conn: c}, nil
	}))
	srv.Domain = "localhost"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	srv.AllowInsecureAuth = opts.plainAuth
	srv.ErrorLog = log.New(io.Discard, "", 0)
	tlsConfig := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if opts.startTLS {
		srv.TLSConfig = tlsConfig
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if opts.implicitTLS {
		ln = tls.NewListener(ln, tlsConfig)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	s.addr = ln.Addr().String()
	s.host = "127.0.0.1"
	s.port = ln.Addr().(*net.TCPAddr).Port
	return s
}

// received returns the messages accepted so far.
func (s *smtpServer) received() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.messages...)
}

// counts returns the AUTH attempts and MAIL commands so far.
func (s *smtpServer) counts() (auths, mails int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.auths, s.mails
}

// smtpSession is one client's conversation.
type smtpSession struct {
	srv  *smtpServer
	conn *smtp.Conn
	user string
	msg  received
}

func (ss *smtpSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (ss *smtpSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, user, pass string) error {
		ss.srv.mu.Lock()
		ss.srv.auths++
		ss.srv.mu.Unlock()
		if identity != "" && identity != user || user != smtpUser || pass != smtpPass {
			return smtp.ErrAuthFailed
		}
		ss.user = user
		return nil
	}), nil
}

func (ss *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	ss.srv.mu.Lock()
	defer ss.srv.mu.Unlock()
	ss.srv.mails++
	if ss.srv.opts.failMail > 0 {
		ss.srv.opts.failMail--
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	}
	ss.msg = received{from: from}
	return nil
}

func (ss *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.msg.to = append(ss.msg.to, to)
	return nil
}

func (ss *smtpSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if ss.msg.from == "" {
		return errors.New("DATA without MAIL")
	}
	ss.msg.data = b
	_, ss.msg.tls = ss.conn.TLSConnectionState()
	ss.msg.authUser = ss.user
	ss.srv.mu.Lock()
	ss.srv.messages = append(ss.srv.messages, ss.msg)
	ss.srv.mu.Unlock()
	return nil
}

func (ss *smtpSession) Reset()        { ss.msg = received{} }
func (ss *smtpSession) Logout() error { return nil }

// listenSilent accepts connections on a loopback port and never answers.
func listenSilent(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { _ = c.Close() })
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}
