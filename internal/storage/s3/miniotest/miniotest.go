// Package miniotest runs a real MinIO server for tests: one process per
// test, listening on 127.0.0.1 with a free port, its data in a fresh
// temporary directory, stopped when the test ends.
//
// The server binary comes from the environment variable BUNKER_MINIO
// (scripts/minio.sh installs the pinned version and prints its path;
// scripts/test.sh sets the variable). Without it a test skips, unless
// BUNKER_REQUIRE_MINIO=1, which makes a missing MinIO a failure.
package miniotest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// Environment variables that locate the server binary.
const (
	BinaryEnv  = "BUNKER_MINIO"         // path of the minio binary
	RequireEnv = "BUNKER_REQUIRE_MINIO" // "1": a missing binary fails the test
)

// Root credentials of every server this package starts.
const (
	RootUser     = "bunker-root"
	RootPassword = "bunker-root-secret-0123456789"
)

// Timeouts of starting and stopping.
const (
	readyTimeout = 60 * time.Second
	stopTimeout  = 10 * time.Second
)

// Server is one running (or stopped) MinIO process.
type Server struct {
	// Endpoint is host:port of the S3 API.
	Endpoint string
	// CAFile is the PEM file of the CA that signed the server's
	// certificate, for a server started by NewTLS; "" otherwise.
	CAFile string

	tb      testing.TB
	bin     string
	dataDir string
	logPath string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has been waited for
	log    *os.File
}

// Binary returns the path of the MinIO server binary, skipping tb when
// none is configured (or failing it when BUNKER_REQUIRE_MINIO=1).
func Binary(tb testing.TB) string {
	tb.Helper()
	bin := os.Getenv(BinaryEnv)
	if bin == "" {
		const how = "MinIO is not installed for the tests: run scripts/minio.sh and set " +
			BinaryEnv + " to the path it prints (scripts/test.sh does both)"
		if os.Getenv(RequireEnv) == "1" {
			tb.Fatalf("%s=1 but %s is unset. %s", RequireEnv, BinaryEnv, how)
		}
		tb.Skip(how)
	}
	if fi, err := os.Stat(bin); err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		tb.Fatalf("%s=%s is not an executable file (%v)", BinaryEnv, bin, err)
	}
	return bin
}

// New starts a MinIO server with an empty data directory, talking plain
// HTTP, and stops it when tb ends.
func New(tb testing.TB) *Server {
	tb.Helper()
	return newServer(tb, false)
}

// NewTLS starts a MinIO server as New does, talking HTTPS with a
// certificate for 127.0.0.1 signed by a CA of its own (in CAFile).
func NewTLS(tb testing.TB) *Server {
	tb.Helper()
	return newServer(tb, true)
}

func newServer(tb testing.TB, withTLS bool) *Server {
	tb.Helper()
	bin := Binary(tb)
	dir := tb.TempDir()
	s := &Server{
		tb:      tb,
		bin:     bin,
		dataDir: filepath.Join(dir, "data"),
		logPath: filepath.Join(dir, "minio.log"),
	}
	if err := os.Mkdir(s.dataDir, 0o700); err != nil {
		tb.Fatal(err)
	}
	if withTLS {
		ca, err := writeCertificates(filepath.Join(dir, "certs"))
		if err != nil {
			tb.Fatalf("certificates for minio: %v", err)
		}
		s.CAFile = ca
	}
	var err error
	for range 3 { // another process may take the free port before minio binds it
		var port int
		port, err = freePort()
		if err != nil {
			break
		}
		s.Endpoint = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		if err = s.start(); err == nil {
			break
		}
	}
	if err != nil {
		tb.Fatalf("start minio: %v", err)
	}
	tb.Cleanup(s.Stop)
	return s
}

// freePort returns a TCP port on 127.0.0.1 that nothing listens on.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Start brings a stopped server back on the same port with the same data.
// It does nothing if the server is running.
func (s *Server) Start() {
	s.tb.Helper()
	if err := s.start(); err != nil {
		s.tb.Fatalf("restart minio: %v", err)
	}
}

func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return nil
	}
	log, err := os.OpenFile(s.logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(s.bin, "server", "--quiet",
		"--address", s.Endpoint,
		"--certs-dir", filepath.Join(filepath.Dir(s.dataDir), "certs"),
		s.dataDir)
	cmd.Env = append(os.Environ(),
		"MINIO_ROOT_USER="+RootUser,
		"MINIO_ROOT_PASSWORD="+RootPassword,
		"MINIO_BROWSER=off",
		"MINIO_UPDATE=off",
		"MINIO_CALLHOME_ENABLE=off",
	)
	cmd.Stdout = log
	cmd.Stderr = log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		log.Close()
		return fmt.Errorf("run %s: %w", s.bin, err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	s.cmd, s.exited, s.log = cmd, exited, log
	if err := s.waitReady(exited); err != nil {
		s.stopLocked()
		return fmt.Errorf("%w; log:\n%s", err, s.logTail())
	}
	return nil
}

// waitReady polls the liveness endpoint until the server answers.
func (s *Server) waitReady(exited <-chan struct{}) error {
	client, err := s.httpClient()
	if err != nil {
		return err
	}
	url := s.scheme() + "://" + s.Endpoint + "/minio/health/live"
	deadline := time.Now().Add(readyTimeout)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return errors.New("minio exited before it answered")
		default:
		}
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("minio did not answer on %s within %v", s.Endpoint, readyTimeout)
}

// logTail returns the end of the server's log.
func (s *Server) logTail() string {
	data, err := os.ReadFile(s.logPath)
	if err != nil {
		return err.Error()
	}
	if len(data) > 4000 {
		data = data[len(data)-4000:]
	}
	return string(bytes.TrimSpace(data))
}

// Stop takes the server down (SIGTERM, then SIGKILL if it lingers) and
// waits until it has exited. Its port and data stay for Start. It does
// nothing if the server is stopped.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopLocked()
}

func (s *Server) stopLocked() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(stopTimeout):
		s.cmd.Process.Kill()
		<-s.exited
	}
	s.log.Close()
	s.cmd, s.exited, s.log = nil, nil, nil
}

// Kill takes the server down at once with SIGKILL, as a crash or a lost
// machine would, and waits until it has exited.
func (s *Server) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	<-s.exited
	s.log.Close()
	s.cmd, s.exited, s.log = nil, nil, nil
}

// Client returns a minio-go client with the root credentials: everything
// the holder of the storage provider's keys can do.
func (s *Server) Client(tb testing.TB) *minio.Client {
	tb.Helper()
	opts := &minio.Options{
		Creds:  credentials.NewStaticV4(RootUser, RootPassword, ""),
		Region: "us-east-1",
	}
	if s.CAFile != "" {
		hc, err := s.httpClient()
		if err != nil {
			tb.Fatal(err)
		}
		opts.Secure, opts.Transport = true, hc.Transport
	}
	c, err := minio.New(s.Endpoint, opts)
	if err != nil {
		tb.Fatalf("minio client: %v", err)
	}
	return c
}

// MakeBucket creates the bucket name, with Object Lock (and so versioning)
// when objectLock is set.
func (s *Server) MakeBucket(tb testing.TB, name string, objectLock bool) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := s.Client(tb).MakeBucket(ctx, name, minio.MakeBucketOptions{Region: "us-east-1", ObjectLocking: objectLock})
	if err != nil {
		tb.Fatalf("make bucket %s: %v", name, err)
	}
}

// EnableVersioning turns on versioning of a bucket made without Object
// Lock.
func (s *Server) EnableVersioning(tb testing.TB, name string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Client(tb).EnableVersioning(ctx, name); err != nil {
		tb.Fatalf("enable versioning of %s: %v", name, err)
	}
}

// scheme is the URL scheme the server talks.
func (s *Server) scheme() string {
	if s.CAFile != "" {
		return "https"
	}
	return "http"
}

// httpClient returns a client that trusts the server's CA.
func (s *Server) httpClient() (*http.Client, error) {
	tr := &http.Transport{}
	if s.CAFile != "" {
		pem, err := os.ReadFile(s.CAFile)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		tr.TLSClientConfig = &tls.Config{RootCAs: pool}
	}
	return &http.Client{Timeout: time.Second, Transport: tr}, nil
}

// writeCertificates makes a CA and a certificate it signs for 127.0.0.1,
// writes the certificate and its key where MinIO looks for them (public.crt
// and private.key in dir), and returns the path of the CA's PEM file.
func writeCertificates(dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "bunker test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return "", err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return "", err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", err
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return "", err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", err
	}
	files := []struct {
		name, kind string
		der        []byte
	}{
		{"public.crt", "CERTIFICATE", leafDER},
		{"private.key", "PRIVATE KEY", keyDER},
		{"ca.crt", "CERTIFICATE", caDER},
	}
	for _, f := range files {
		data := pem.EncodeToMemory(&pem.Block{Type: f.kind, Bytes: f.der})
		if err := os.WriteFile(filepath.Join(dir, f.name), data, 0o600); err != nil {
			return "", err
		}
	}
	// The CA lives beside the certs directory: MinIO would read ca.crt in
	// it as a client CA otherwise.
	caPath := filepath.Join(filepath.Dir(dir), "ca.pem")
	if err := os.Rename(filepath.Join(dir, "ca.crt"), caPath); err != nil {
		return "", err
	}
	return caPath, nil
}
