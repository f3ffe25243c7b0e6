package server

import (
	"strings"
	"testing"

	"github.com/bunkerhq/bunker/internal/ident"
	"github.com/bunkerhq/bunker/internal/storage/s3"
)

func TestParseS3Target(t *testing.T) {
	name, cfg, err := ParseS3Target("minio=s3://vaults/site1?endpoint=127.0.0.1:9000&tls=off&lookup=path&region=eu-1&credentials=/etc/bunker/s3")
	if err != nil {
		t.Fatal(err)
	}
	want := s3.Config{Endpoint: "127.0.0.1:9000", Bucket: "vaults", Prefix: "site1", DisableTLS: true,
		Lookup: s3.LookupPath, Region: "eu-1", CredentialsFile: "/etc/bunker/s3"}
	if name != "minio" || cfg != want {
		t.Fatalf("got %s %+v, want minio %+v", name, cfg, want)
	}
	for _, c := range []struct{ in, wantErr string }{
		{"s3://vaults?endpoint=h:1", "want NAME="},
		{"local=s3://vaults?endpoint=h:1", "not \"local\""},
		{"Big=s3://vaults?endpoint=h:1", "want NAME="},
		{"m=https://vaults?endpoint=h:1", "is not an s3://"},
		{"m=s3://key:secret@vaults?endpoint=h:1", "is not an s3://"},
		{"m=s3://vaults", "endpoint=host:port is required"},
		{"m=s3://vaults?endpoint=h:1&tls=maybe", `tls="maybe"`},
		{"m=s3://vaults?endpoint=h:1&lookup=dns", `lookup="dns"`},
		{"m=s3://vaults?endpoint=h:1&secret=x", `unknown setting "secret"`},
		{"m=s3://vaults?endpoint=h:1&endpoint=h:2", "give endpoint once"},
		{"m=s3://Not_A_Bucket?endpoint=h:1", "storage target m:"},
	} {
		_, _, err := ParseS3Target(c.in)
		if err == nil || !strings.Contains(err.Error(), c.wantErr) {
			t.Errorf("%s: got %v, want an error with %q", c.in, err, c.wantErr)
		}
	}
}

// FuzzParseS3Target checks that any string is a target or an error naming it, and a
// parsed target is a valid config with an endpoint.
func FuzzParseS3Target(f *testing.F) {
	// Seeds: testdata/fuzz/FuzzParseS3Target.
	f.Fuzz(func(t *testing.T, s string) {
		name, cfg, err := ParseS3Target(s)
		if err != nil {
			return
		}
		if !ident.Name(name) || cfg.Endpoint == "" {
			t.Fatalf("%q parsed to %q %+v", s, name, cfg)
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("%q parsed to an invalid config: %v", s, err)
		}
	})
}
