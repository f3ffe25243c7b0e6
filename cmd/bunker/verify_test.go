package main_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bunkerhq/bunker/internal/api"
)

// TestServerVerify verifies a vault on a real server with the real CLI:
// clean, incremental, then with bit rot in a pack, which exits 4 naming
// the pack, the file and the point.
func TestServerVerify(t *testing.T) {
	se := newEnv(t)
	srv := startServer(t, se)
	url, fp := srv.url, srv.fingerprint
	admin := newEnv(t)
	admin.ok("login", "--server", url, "--fingerprint", fp, "--user", "admin", "--password-file", srv.adminPWFile)
	pw := secretFile(t, "vault admin password 1")
	admin.ok("user", "create", "vadmin", "--password-file", pw)
	admin.ok("role", "bind", "vadmin", "vault-admin")
	admin.ok("user", "create", "host1", "--service")
	admin.ok("role", "bind", "host1", "backup-operator", "--vault", "prod")
	var tok api.NewToken
	admin.json(&tok, "token", "create", "--principal", "host1", "--vault", "prod")
	vadmin := newEnv(t)
	vadmin.ok("login", "--server", url, "--fingerprint", fp, "--user", "vadmin", "--password-file", pw)
	vadmin.ok("vault", "create", "prod")

	host := newEnv(t, "BUNKER_TOKEN="+tok.Token)
	remote := []string{"--server", url, "--fingerprint", fp, "--vault", "prod"}
	src := t.TempDir()
	data := make([]byte, 2<<20)
	for i := range data {
		data[i] = byte(i*7 + i>>9)
	}
	if err := os.WriteFile(filepath.Join(src, "precious.db"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	host.ok(append([]string{"backup", "-q", src}, remote...)...)
	host.fails(6, "lacks the vault.verify permission", append([]string{"verify"}, remote...)...)

	var rep api.VerifyReport
	vadmin.json(&rep, append([]string{"verify"}, remote...)...)
	if !rep.OK || rep.Points != 1 || len(rep.PointsOK) != 1 || rep.PacksRead == 0 || rep.PacksRead != rep.Packs {
		t.Fatalf("verify --json: %+v", rep)
	}
	out := vadmin.ok(append([]string{"verify"}, remote...)...)
	for _, want := range []string{"points  1 ok, 0 damaged", "0 read, ", "skipped", "no problems found"} {
		if !strings.Contains(out, want) {
			t.Fatalf("incremental verify lacks %q:\n%s", want, out)
		}
	}
	if out := vadmin.ok("point", "show", "--vault", "prod", "latest"); !strings.Contains(out, ": ok (job") {
		t.Fatalf("point show lacks the verification:\n%s", out)
	}

	// Bit rot in the largest pack.
	packs, _ := filepath.Glob(filepath.Join(se.home, ".local", "share", "bunker", "server", "vaults", "*", "packs", "*", "*"))
	var largest string
	var size int64
	for _, p := range packs {
		if fi, err := os.Stat(p); err == nil && fi.Size() > size {
			largest, size = p, fi.Size()
		}
	}
	if largest == "" {
		t.Fatal("no pack found in the server's data directory")
	}
	os.Chmod(largest, 0o600)
	b, err := os.ReadFile(largest)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x20
	if err := os.WriteFile(largest, b, 0o600); err != nil {
		t.Fatal(err)
	}
	r := vadmin.fails(4, "the vault is damaged", append([]string{"verify", "--full"}, remote...)...)
	for _, want := range []string{"PACK-DAMAGED packs/" + filepath.Base(largest), "precious.db in point " + rep.PointsOK[0][:8], "0 ok, 1 damaged", "damaged points: " + rep.PointsOK[0][:8]} {
		if !strings.Contains(r.stdout, want) {
			t.Fatalf("verify --full after bit rot lacks %q:\n%s", want, r.stdout)
		}
	}
	if out := vadmin.ok("point", "show", "--vault", "prod", "latest"); !strings.Contains(out, "DAMAGED, 1 problems") {
		t.Fatalf("point show lacks the damage:\n%s", out)
	}
	vadmin.fails(2, "not both", append([]string{"verify", "--full", "--max-age", "1d"}, remote...)...)
}

// TestLocalVerify verifies a local vault: check --read-data with the
// server's report shape, exit 4 on damage.
func TestLocalVerify(t *testing.T) {
	e := newEnv(t)
	src := t.TempDir()
	writeFiles(t, src, map[string]string{"a.txt": strings.Repeat("alpha ", 1000), "d/b.txt": "beta"})
	e.ok("backup", "-q", src)
	var rep api.VerifyReport
	e.json(&rep, "verify", "-q")
	if !rep.OK || rep.Points != 1 || len(rep.PointsOK) != 1 || rep.PacksRead != rep.Packs || !rep.Full {
		t.Fatalf("verify --json: %+v", rep)
	}
	if out := e.ok("verify", "-q"); !strings.Contains(out, "points  1 ok, 0 damaged") || !strings.Contains(out, "(full)") {
		t.Fatalf("verify:\n%s", out)
	}
	e.fails(2, "needs --server", "verify", "--max-age", "1d")
	packs, _ := filepath.Glob(filepath.Join(e.home, ".local/share/bunker/vault/packs/*/*"))
	if len(packs) == 0 {
		t.Fatal("no pack")
	}
	for _, p := range packs {
		os.Chmod(p, 0o600)
		b, _ := os.ReadFile(p)
		b[len(b)/2] ^= 1
		os.WriteFile(p, b, 0o600)
	}
	r := e.fails(4, "the vault is damaged", "verify", "-q")
	if !strings.Contains(r.stdout, "0 ok, 1 damaged") || !strings.Contains(r.stdout, "PACK-DAMAGED") {
		t.Fatalf("verify after damage:\n%s", r.stdout)
	}
}
