package main_test

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bunkerhq/bunker/internal/api"
	"github.com/bunkerhq/bunker/internal/client"
)

// crashWorld is a server process and the accounts a crash test needs,
// made through the API.
type crashWorld struct {
	t       *testing.T
	e       *env // the server's environment: its data and key file live in e.home
	srv     *serverProc
	admin   string // tokens
	vadmin  string
	host    string
	ops     string
	vaultID string
}

func (w *crashWorld) client(token string) *client.Client {
	w.t.Helper()
	c, err := client.New(client.Options{URL: w.srv.url, Fingerprint: w.srv.fingerprint, Token: token})
	if err != nil {
		w.t.Fatal(err)
	}
	return c
}

func newCrashWorld(t *testing.T) *crashWorld {
	t.Helper()
	ctx := context.Background()
	w := &crashWorld{t: t, e: newEnv(t)}
	w.srv = startServer(t, w.e)
	pw := readTrim(t, w.srv.adminPWFile)
	anon := w.client("")
	tok, err := anon.Login(ctx, api.LoginRequest{Name: "admin", Password: pw})
	if err != nil {
		t.Fatal(err)
	}
	admin := anon.WithToken(tok.Token)
	long, err := admin.CreateToken(ctx, api.TokenRequest{ExpiresIn: "1d"})
	if err != nil {
		t.Fatal(err)
	}
	w.admin = long.Token
	mk := func(name, kind, role, vault string) string {
		req := api.PrincipalRequest{Name: name, Kind: kind}
		if kind == "user" {
			req.Password = "a long enough password"
		}
		if _, err := admin.CreatePrincipal(ctx, req); err != nil {
			t.Fatal(err)
		}
		if _, err := admin.Bind(ctx, api.BindingRequest{Principal: name, Role: role, Vault: vault}); err != nil {
			t.Fatal(err)
		}
		nt, err := admin.CreateToken(ctx, api.TokenRequest{Principal: name, ExpiresIn: "1d"})
		if err != nil {
			t.Fatal(err)
		}
		return nt.Token
	}
	w.vadmin = mk("vadmin", "user", "vault-admin", "*")
	w.host = mk("host1", "service", "backup-operator", "prod")
	w.ops = mk("ops", "user", "restore-operator", "prod")
	v, err := w.client(w.vadmin).CreateVault(ctx, api.VaultRequest{Name: "prod", Retention: "30d"})
	if err != nil {
		t.Fatal(err)
	}
	w.vaultID = v.StorageID
	return w
}

func (w *crashWorld) vaultDir() string {
	return filepath.Join(w.e.home, ".local", "share", "bunker", "server", "vaults", w.vaultID)
}

func (w *crashWorld) keyFile() string {
	return filepath.Join(w.e.home, ".config", "bunker", "server.key")
}

// backupCmd runs `bunker backup --server` as the backup host.
func (w *crashWorld) backupArgs(src string) []string {
	return []string{"backup", "-q", "--server", w.srv.url, "--fingerprint", w.srv.fingerprint, "--vault", "prod", src}
}

func (w *crashWorld) hostEnv() *env { return newEnv(w.t, "BUNKER_TOKEN="+w.host) }

// check proves the vault sound with the local checker, reading every byte,
// and restores every catalogued point through the server.
func (w *crashWorld) check(round int) int {
	w.t.Helper()
	if r := w.e.run("check", "--read-data", "--vault", w.vaultDir(), "--key-file", w.keyFile()); r.code != 0 {
		w.t.Fatalf("round %d: check --read-data of the server's vault: exit %d\n%s%s", round, r.code, r.stdout, r.stderr)
	}
	ps, err := w.client(w.ops).Points(context.Background(), "prod", client.PointFilter{})
	if err != nil {
		w.t.Fatalf("round %d: list points: %v", round, err)
	}
	ops := newEnv(w.t, "BUNKER_TOKEN="+w.ops)
	for _, p := range ps {
		ops.ok("restore", "-q", "--server", w.srv.url, "--fingerprint", w.srv.fingerprint, "--vault", "prod", p.ID[:12], "--target", w.t.TempDir(), "--verify")
	}
	return len(ps)
}

// SIGKILL of the server at random moments of a backup: every time it comes
// back, the catalog lists only complete points, the vault's storage checks
// clean, every point restores, and the next backup re-uses what the killed
// one had stored.
func TestServerKilledDuringBackups(t *testing.T) {
	if testing.Short() {
		t.Skip("kills a server many times")
	}
	w := newCrashWorld(t)
	host := w.hostEnv()
	src := t.TempDir()
	corpus(t, src, 30, 1<<20, 1)
	host.ok(w.backupArgs(src)...)
	points := w.check(0)
	rng := rand.New(rand.NewPCG(3, 3))
	killed, maxDelay := 0, 400
	for round := 1; killed < 5 && round <= 25; round++ {
		corpus(t, src, 8, 2<<20, uint64(200+round))
		cmd := host.start(w.backupArgs(src)...)
		time.Sleep(time.Duration(20+rng.IntN(maxDelay)) * time.Millisecond)
		w.srv.cmd.Process.Signal(syscall.SIGKILL)
		<-w.srv.done
		err := cmd.Wait()
		if err != nil {
			killed++
		} else {
			points++
			maxDelay = max(20, maxDelay*2/3)
		}
		w.srv = startServer(t, w.e)
		switch got := w.check(round); {
		case got == points:
		case err != nil && got == points+1:
			// The server committed the point and was killed before its
			// reply reached the client: the point is whole (check
			// restored it), the client just never heard.
			points++
		default:
			t.Fatalf("round %d: %d points catalogued, want %d", round, got, points)
		}
	}
	if killed < 5 {
		t.Fatalf("only %d backups were cut off by the kill: the test did not test anything", killed)
	}
	// What a killed backup had stored is re-used: kill one once it has
	// stored a good part of new data; the next backup then stores only the
	// rest, so the two together store about the data itself, not more.
	host.ok(w.backupArgs(src)...)
	// Three packs' worth of new data; the kill comes once the first is stored.
	data := corpus(t, src, 24, 2<<20, 999)
	before := packBytes(t, w.vaultDir())
	cmd := host.start(w.backupArgs(src)...)
	for deadline := time.Now().Add(30 * time.Second); packBytes(t, w.vaultDir())-before < 8<<20; {
		if time.Now().After(deadline) {
			t.Fatal("the backup stored less than 8 MiB in 30s")
		}
		time.Sleep(2 * time.Millisecond)
	}
	w.srv.cmd.Process.Signal(syscall.SIGKILL)
	<-w.srv.done
	if err := cmd.Wait(); err == nil {
		t.Fatal("the backup finished before the server was killed")
	}
	w.srv = startServer(t, w.e)
	killedStored := packBytes(t, w.vaultDir()) - before
	host.ok(w.backupArgs(src)...)
	restStored := packBytes(t, w.vaultDir()) - before - killedStored
	if killedStored+restStored > data+data/16 { // a little for pack headers and trees
		t.Fatalf("the killed backup stored %d bytes and the next one %d more, more than the %d bytes of data: the killed one's packs were not re-used", killedStored, restStored, data)
	}
	w.check(99)
	w.srv.stop(t)
}

// SIGKILL of a backup client leaves the server and the vault as they were:
// the session is abandoned and the next backup succeeds.
func TestClientKilledDuringServerBackup(t *testing.T) {
	w := newCrashWorld(t)
	host := w.hostEnv()
	src := t.TempDir()
	corpus(t, src, 24, 2<<20, 5) // three packs' worth
	cmd := host.start(w.backupArgs(src)...)
	for deadline := time.Now().Add(30 * time.Second); packBytes(t, w.vaultDir()) == 0; {
		if time.Now().After(deadline) {
			t.Fatal("the backup stored nothing in 30s")
		}
		time.Sleep(2 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	if err := cmd.Wait(); err == nil {
		t.Fatal("the backup finished before it was killed")
	}
	if n := w.check(1); n != 0 {
		t.Fatalf("a killed backup left %d points", n)
	}
	host.ok(w.backupArgs(src)...)
	if n := w.check(2); n != 1 {
		t.Fatalf("%d points after one complete backup", n)
	}
	w.srv.stop(t)
}

// readTrim reads a one-line file such as a password file.
func readTrim(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(data))
}
