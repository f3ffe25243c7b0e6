package s3

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bunkerhq/bunker/internal/storage"
	"github.com/bunkerhq/bunker/internal/storage/s3/miniotest"
)

func TestOpenErrors(t *testing.T) {
	srv := newServer(t)
	cases := []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"no such bucket", func(c *Config) { c.Bucket = "no-such-bucket" }, `bucket "no-such-bucket" does not exist`},
		{"wrong secret", func(c *Config) { c.SecretAccessKey = "not-the-secret" }, "refused the credentials"},
		{"unknown access key", func(c *Config) { c.AccessKeyID = "nobody" }, "refused the credentials"},
		{"TLS against plain HTTP", func(c *Config) { c.DisableTLS = false }, "HTTP response to HTTPS client"},
		{"invalid config", func(c *Config) { c.PartSize = 1 }, "part size"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := testConfig(t, srv, plainBucket)
			c.change(&cfg)
			b, err := Open(t.Context(), cfg)
			if err == nil {
				b.Close()
				t.Fatalf("Open: no error")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Open: %v; want it to say %q", err, c.want)
			}
			t.Logf("%v", err)
		})
	}
}

func TestOpenCredentials(t *testing.T) {
	srv := newServer(t)
	base := testConfig(t, srv, lockedBucket)
	base.AccessKeyID, base.SecretAccessKey = "", ""

	t.Run("environment", func(t *testing.T) {
		t.Setenv(EnvAccessKeyID, miniotest.RootUser)
		t.Setenv(EnvSecretAccessKey, miniotest.RootPassword)
		t.Setenv(EnvSessionToken, "")
		exercise(t, open(t, base))
	})
	t.Run("none", func(t *testing.T) {
		t.Setenv(EnvAccessKeyID, "")
		t.Setenv(EnvSecretAccessKey, "")
		if _, err := Open(t.Context(), base); err == nil || !strings.Contains(err.Error(), "no credentials") {
			t.Fatalf("Open without credentials: %v", err)
		}
	})
	t.Run("file", func(t *testing.T) {
		t.Setenv(EnvAccessKeyID, "wrong")
		t.Setenv(EnvSecretAccessKey, "wrong")
		path := filepath.Join(t.TempDir(), "s3.credentials")
		data := formatCredentials(Credentials{AccessKeyID: miniotest.RootUser, SecretAccessKey: miniotest.RootPassword})
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		cfg := base
		cfg.CredentialsFile = path
		b := open(t, cfg)
		p := newPack(t, 100)
		putPack(t, b, p, storage.PutOptions{})
		wantOriginal(t, b, p)
		if err := os.Chmod(path, 0o640); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(t.Context(), cfg); err == nil || !strings.Contains(err.Error(), "group or others") {
			t.Fatalf("Open with a readable credentials file: %v", err)
		}
	})
}

func TestLocation(t *testing.T) {
	srv := newServer(t)
	cfg := testConfig(t, srv, lockedBucket)
	b := open(t, cfg)
	want := "s3://" + lockedBucket + "/" + cfg.Prefix + " (" + srv.Endpoint + ")"
	if b.Location() != want {
		t.Fatalf("Location = %q, want %q", b.Location(), want)
	}
	bucket, prefix, err := ParseLocation(strings.Fields(b.Location())[0])
	if err != nil || bucket != lockedBucket || prefix != cfg.Prefix {
		t.Fatalf("ParseLocation(Location) = %q, %q, %v", bucket, prefix, err)
	}
	cfg.Prefix = "/"
	if got := open(t, cfg).Location(); got != "s3://"+lockedBucket+" ("+srv.Endpoint+")" {
		t.Fatalf("Location without a prefix = %q", got)
	}
}

// TestTLS talks to MinIO over HTTPS with a private CA: with the CA file it
// works; without it Open says at once that the certificate is not trusted.
func TestTLS(t *testing.T) {
	srv := miniotest.NewTLS(t)
	srv.MakeBucket(t, lockedBucket, true)
	cfg := testConfig(t, srv, lockedBucket)
	cfg.DisableTLS = false
	cfg.MaxRetries = 50 // an untrusted certificate must not be retried
	_, err := Open(t.Context(), cfg)
	if err == nil || !strings.Contains(err.Error(), "not trusted") {
		t.Fatalf("Open without the CA: %v", err)
	}
	t.Logf("%v", err)
	cfg.CAFile = srv.CAFile
	b := open(t, cfg)
	p := newPack(t, 1000)
	putPack(t, b, p, storage.PutOptions{Mode: storage.RetentionGovernance, RetainUntil: time.Now().Add(time.Hour)})
	wantOriginal(t, b, p)
	if err := b.DeleteBypass(t.Context(), p.h); err != nil {
		t.Fatal(err)
	}
	cfg.Endpoint = "https://" + srv.Endpoint
	open(t, cfg)
}
