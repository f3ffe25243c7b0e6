package tlsutil

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bunkerhq/bunker/internal/secret"
)

func testBox(t testing.TB, seed byte) *secret.Box {
	t.Helper()
	b, err := secret.NewBox(bytes.Repeat([]byte{seed}, 32), "tls")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func create(t *testing.T, dir string, box *secret.Box) (tls.Certificate, string) {
	t.Helper()
	cert, fp, created, err := LoadOrCreate(dir, box, []string{"backup.example.com"}, time.Now())
	if err != nil {
		t.Fatalf("LoadOrCreate: %v", err)
	}
	if !created {
		t.Fatal("LoadOrCreate in an empty directory did not create a certificate")
	}
	return cert, fp
}

// serve starts an HTTPS server with cert on loopback.
func serve(t *testing.T, cert tls.Certificate) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello")
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, srv *httptest.Server, cfg *tls.Config) error {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	resp, err := client.Get(srv.URL)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if string(body) != "hello" {
		t.Fatalf("server said %q", body)
	}
	return nil
}

func TestPinnedHandshake(t *testing.T) {
	dir := t.TempDir()
	cert, fp := create(t, dir, testBox(t, 1))
	srv := serve(t, cert)

	for _, pin := range []string{fp, strings.ToUpper(fp)} {
		cfg, err := ClientConfig(pin, "")
		if err != nil {
			t.Fatal(err)
		}
		if err := get(t, srv, cfg); err != nil {
			t.Fatalf("client pinned to the server's certificate: %v", err)
		}
	}
	// The pin does not depend on the name the server is reached by.
	cfg, _ := ClientConfig(fp, "some.other.name")
	if err := get(t, srv, cfg); err != nil {
		t.Fatalf("pinned client with another server name: %v", err)
	}
}

// TestPinMismatch plays a server (or interceptor) with another certificate,
// even one valid for the same names: the pinned client must refuse it and
// say both fingerprints and what to do.
func TestPinMismatch(t *testing.T) {
	_, fp := create(t, t.TempDir(), testBox(t, 1))
	impostor, impostorFP := create(t, t.TempDir(), testBox(t, 1))
	srv := serve(t, impostor)
	cfg, err := ClientConfig(fp, "localhost")
	if err != nil {
		t.Fatal(err)
	}
	err = get(t, srv, cfg)
	if err == nil {
		t.Fatal("client pinned to another certificate connected")
	}
	for _, want := range []string{fp, impostorFP, "confirm the new fingerprint", "must not proceed"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("mismatch error %q does not contain %q", err, want)
		}
	}
}

// TestSystemRootsRefuseSelfSigned: without a pin, a self-signed certificate
// is not trusted, even for the right name.
func TestSystemRootsRefuseSelfSigned(t *testing.T) {
	cert, _ := create(t, t.TempDir(), testBox(t, 1))
	srv := serve(t, cert)
	cfg, err := ClientConfig("", "localhost")
	if err != nil {
		t.Fatal(err)
	}
	var unknown x509.UnknownAuthorityError
	if err := get(t, srv, cfg); !errors.As(err, &unknown) {
		t.Fatalf("unpinned client to a self-signed server = %v, want an unknown authority error", err)
	}
	if _, err := ClientConfig("", ""); err == nil {
		t.Fatal("ClientConfig without fingerprint or server name accepted")
	}
	if _, err := ClientConfig("sha256:abcd", "localhost"); err == nil {
		t.Fatal("ClientConfig accepted a malformed fingerprint")
	}
}

func TestCheckPinWithoutCertificate(t *testing.T) {
	if err := checkPin(tls.ConnectionState{}, [32]byte{}); err == nil {
		t.Fatal("a connection without a server certificate passed the pin")
	}
}

func TestLoadOrCreate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls")
	box := testBox(t, 1)
	cert, fp := create(t, dir, box)
	if got := Fingerprint(cert.Certificate[0]); got != fp {
		t.Fatalf("fingerprint %s of a certificate reported as %s", got, fp)
	}
	for name, mode := range map[string]os.FileMode{CertFile: 0o644, KeyFile: 0o600} {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != mode {
			t.Errorf("%s has mode %v, want %v", name, st.Mode().Perm(), mode)
		}
	}
	if st, _ := os.Stat(dir); st.Mode().Perm() != 0o700 {
		t.Errorf("directory has mode %v, want 0700", st.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("directory holds %d entries, want only the two files", len(entries))
	}
	// The key is not on disk in plaintext.
	sealed, _ := os.ReadFile(filepath.Join(dir, KeyFile))
	keyDER, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, keyDER[len(keyDER)-32:]) {
		t.Fatal("key.sealed contains the private key")
	}
	certPEM, _ := os.ReadFile(filepath.Join(dir, CertFile))
	if block, _ := pem.Decode(certPEM); block == nil || !bytes.Equal(block.Bytes, cert.Certificate[0]) {
		t.Fatal("cert.pem does not hold the certificate")
	}

	again, fp2, created, err := LoadOrCreate(dir, box, []string{"other.example.com"}, time.Now().Add(time.Hour))
	if err != nil || created || fp2 != fp || !bytes.Equal(again.Certificate[0], cert.Certificate[0]) {
		t.Fatalf("second LoadOrCreate = %s, created %v, %v; want the same certificate", fp2, created, err)
	}
	// The loaded pair serves a pinned client.
	cfg, _ := ClientConfig(fp, "")
	if err := get(t, serve(t, again), cfg); err != nil {
		t.Fatalf("loaded certificate: %v", err)
	}
}

// TestLoadOrCreateRefusesTampering plays an attacker who changes, swaps or
// removes the stored files. Each time LoadOrCreate must fail, name the file,
// and leave both files as they were instead of making a new certificate.
func TestLoadOrCreateRefusesTampering(t *testing.T) {
	box := testBox(t, 1)
	for _, c := range []struct {
		name    string
		tamper  func(t *testing.T, dir string)
		box     *secret.Box
		problem string
	}{
		{"flipped key byte", func(t *testing.T, dir string) { flip(t, filepath.Join(dir, KeyFile), 40) }, box, KeyFile},
		{"truncated key", func(t *testing.T, dir string) { truncate(t, filepath.Join(dir, KeyFile), 20) }, box, KeyFile},
		{"empty key", func(t *testing.T, dir string) { truncate(t, filepath.Join(dir, KeyFile), 0) }, box, KeyFile},
		{"other server's secret", func(*testing.T, string) {}, testBox(t, 2), "another server"},
		{"key of another certificate", func(t *testing.T, dir string) {
			other := t.TempDir()
			create(t, other, box)
			copyFile(t, filepath.Join(other, KeyFile), filepath.Join(dir, KeyFile))
		}, box, "do not form a pair"},
		{"certificate of another key", func(t *testing.T, dir string) {
			other := t.TempDir()
			create(t, other, box)
			copyFile(t, filepath.Join(other, CertFile), filepath.Join(dir, CertFile))
		}, box, "do not form a pair"},
		{"flipped certificate byte", func(t *testing.T, dir string) { flip(t, filepath.Join(dir, CertFile), 100) }, box, CertFile},
		{"certificate with trailing data", func(t *testing.T, dir string) { appendFile(t, filepath.Join(dir, CertFile), "junk\n") }, box, "after the certificate"},
		{"key removed", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, KeyFile)) }, box, "has no key"},
		{"certificate removed", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, CertFile)) }, box, "has no certificate"},
		{"key replaced by a directory", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, KeyFile))
			os.Mkdir(filepath.Join(dir, KeyFile), 0o700)
		}, box, "regular file"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			create(t, dir, box)
			c.tamper(t, dir)
			before := snapshot(t, dir)
			_, _, created, err := LoadOrCreate(dir, c.box, nil, time.Now())
			if err == nil || created {
				t.Fatalf("LoadOrCreate = created %v, %v; want an error", created, err)
			}
			if !strings.Contains(err.Error(), c.problem) {
				t.Errorf("error %q does not name %q", err, c.problem)
			}
			if after := snapshot(t, dir); after != before {
				t.Errorf("LoadOrCreate changed the directory:\n%s\n%s", before, after)
			}
		})
	}
	t.Run("ErrSealed", func(t *testing.T) {
		dir := t.TempDir()
		create(t, dir, box)
		flip(t, filepath.Join(dir, KeyFile), 1)
		if _, _, _, err := LoadOrCreate(dir, box, nil, time.Now()); !errors.Is(err, secret.ErrSealed) {
			t.Fatalf("tampered key = %v, want it to wrap secret.ErrSealed", err)
		}
	})
	if _, _, _, err := LoadOrCreate(t.TempDir(), nil, nil, time.Now()); err == nil {
		t.Fatal("LoadOrCreate without a box accepted")
	}
}

// TestLoadOrCreateRefusesChangedCertificate changes each byte of the stored
// certificate in turn, as an attacker who wants clients to accept other
// names or dates would: none of the changes may load.
func TestLoadOrCreateRefusesChangedCertificate(t *testing.T) {
	dir := t.TempDir()
	box := testBox(t, 1)
	cert, _ := create(t, dir, box)
	der := cert.Certificate[0]
	for i := range der {
		changed := bytes.Clone(der)
		changed[i] ^= 0x01
		data := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: changed})
		if err := os.WriteFile(filepath.Join(dir, CertFile), data, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, _, _, err := LoadOrCreate(dir, box, nil, time.Now()); err == nil {
			t.Fatalf("certificate with byte %d changed loads", i)
		}
	}
}

func TestLoadFiles(t *testing.T) {
	dir := t.TempDir()
	certDER, keyDER, err := SelfSigned([]string{"backup.example.com"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certDER}), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600)
	cert, fp, err := LoadFiles(certFile, keyFile)
	if err != nil || fp != Fingerprint(certDER) {
		t.Fatalf("LoadFiles = %s, %v; want %s", fp, err, Fingerprint(certDER))
	}
	cfg, _ := ClientConfig(fp, "")
	if err := get(t, serve(t, cert), cfg); err != nil {
		t.Fatalf("loaded certificate: %v", err)
	}

	_, otherKey, _ := SelfSigned(nil, time.Now())
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: otherKey}), 0o600)
	if _, _, err := LoadFiles(certFile, keyFile); err == nil || !strings.Contains(err.Error(), certFile) {
		t.Fatalf("LoadFiles with a key of another certificate = %v", err)
	}
	if _, _, err := LoadFiles(filepath.Join(dir, "missing.pem"), keyFile); err == nil {
		t.Fatal("LoadFiles of a missing file accepted")
	}
}

func flip(t *testing.T, path string, at int) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[at] ^= 0x01
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func truncate(t *testing.T, path string, n int64) {
	t.Helper()
	if err := os.Truncate(path, n); err != nil {
		t.Fatal(err)
	}
}

func appendFile(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(s)
	f.Close()
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// snapshot describes every entry of dir and its content.
func snapshot(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		data, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		b.WriteString(e.Name() + " " + e.Type().String() + " " + string(data) + "\n")
	}
	return b.String()
}
