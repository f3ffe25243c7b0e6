package main_test

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bunkerhq/bunker/internal/api"
	"github.com/bunkerhq/bunker/internal/scan"
)

// textTree writes 30 text files in 5 directories of dir.
func textTree(t *testing.T, dir string) {
	t.Helper()
	words := []string{"minutes", "of", "the", "board", "meeting", "where", "budgets", "were", "agreed", "and", "plans", "made"}
	for d := range 5 {
		for f := range 6 {
			r := mrand.New(mrand.NewPCG(uint64(d), uint64(f)))
			var b bytes.Buffer
			for b.Len() < 9000+d*700+f*100 {
				for range 10 {
					b.WriteString(words[r.IntN(len(words))] + " ")
				}
				fmt.Fprintf(&b, "%d.\n", r.IntN(1000))
			}
			p := filepath.Join(dir, fmt.Sprintf("team%d/minutes%d.txt", d, f))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// encryptTree encrypts 25 files of dir in place with AES-CTR and returns
// one of them.
func encryptTree(t *testing.T, dir string) string {
	t.Helper()
	key, iv := make([]byte, 32), make([]byte, aes.BlockSize)
	rand.Read(key)
	rand.Read(iv)
	blk, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	n, one := 0, ""
	err = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || n == 25 {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		cipher.NewCTR(blk, iv).XORKeyStream(data, data)
		n++
		one = p
		return os.WriteFile(p, data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return one
}

// TestServerScan drives scanning with the real CLI: a vault that scans its
// points, bunker scan with its exit code, the timeline of a source, and
// restores of an infected point refused unless --allow-infected.
func TestServerScan(t *testing.T) {
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
	admin.ok("user", "create", "ops", "--service")
	admin.ok("role", "bind", "ops", "restore-operator", "--vault", "prod")
	var hostTok, opsTok api.NewToken
	admin.json(&hostTok, "token", "create", "--principal", "host1", "--vault", "prod")
	admin.json(&opsTok, "token", "create", "--principal", "ops", "--vault", "prod")
	vadmin := newEnv(t)
	vadmin.ok("login", "--server", url, "--fingerprint", fp, "--user", "vadmin", "--password-file", pw)
	if out := vadmin.ok("vault", "create", "prod", "--scan"); !strings.Contains(out, "scan every new point") {
		t.Fatalf("vault create --scan:\n%s", out)
	}

	host := newEnv(t, "BUNKER_TOKEN="+hostTok.Token)
	ops := newEnv(t, "BUNKER_TOKEN="+opsTok.Token)
	remote := []string{"--server", url, "--fingerprint", fp, "--vault", "prod"}
	src := t.TempDir()
	textTree(t, src)
	host.ok(append([]string{"backup", "-q", "--host", "web1", src}, remote...)...)
	out := vadmin.ok(append([]string{"scan", "latest"}, remote...)...)
	if !strings.Contains(out, "verdict   CLEAN") || !strings.Contains(out, "first point of its source") {
		t.Fatalf("scan of the first point:\n%s", out)
	}
	host.fails(6, "lacks the point.scan permission", append([]string{"scan", "latest"}, remote...)...)

	victim := encryptTree(t, src)
	host.ok(append([]string{"backup", "-q", "--host", "web1", src}, remote...)...)
	r := vadmin.fails(7, "is infected", append([]string{"scan", "latest"}, remote...)...)
	if !strings.Contains(r.stdout, "verdict   INFECTED") || !strings.Contains(r.stdout, victim) || !strings.Contains(r.stdout, "25 modified") {
		t.Fatalf("scan of the encrypted point:\n%s", r.stdout)
	}
	r = vadmin.run(append([]string{"scan", "latest", "--json"}, remote...)...)
	var rep api.ScanReport
	// The report, then (exit code 7) the error line.
	if err := json.NewDecoder(strings.NewReader(r.stdout)).Decode(&rep); err != nil || r.code != 7 || !strings.Contains(r.stdout, `"exit_code":7`) || rep.Level != "infected" || rep.Stats.Modified != 25 || rep.Previous == "" {
		t.Fatalf("scan --json: exit %d, %+v %v\n%s", r.code, rep, err, r.stdout)
	}
	if out := vadmin.ok("point", "show", "--vault", "prod", "latest"); !strings.Contains(out, "verdict      infected") || !strings.Contains(out, victim) {
		t.Fatalf("point show lacks the verdict:\n%s", out)
	}
	out = ops.ok(append([]string{"point", "list", "--source", "web1:" + src}, remote...)...)
	if !strings.Contains(out, "first infected point  "+rep.Point[:8]) || !strings.Contains(out, "last clean point      "+rep.Previous[:8]) || !strings.Contains(out, "infected ") {
		t.Fatalf("timeline:\n%s", out)
	}
	var list api.PointList
	ops.json(&list, append([]string{"point", "list", "--source", "web1"}, remote...)...)
	if list.FirstInfected != rep.Point || list.LastClean != rep.Previous || len(list.Points) != 2 {
		t.Fatalf("timeline --json: %+v", list)
	}

	// Restores: the infected point only with --allow-infected.
	target := t.TempDir()
	ops.fails(7, "is infected", append([]string{"restore", "-q", "latest", "--target", target}, remote...)...)
	r = ops.run(append([]string{"restore", "-q", "latest", "--target", target, "--allow-infected"}, remote...)...)
	if r.code != 0 || !strings.Contains(r.stderr, "although it is infected") {
		t.Fatalf("restore --allow-infected: exit %d\n%s", r.code, r.stderr)
	}
	ops.ok(append([]string{"restore", "-q", rep.Previous[:8], "--target", t.TempDir()}, remote...)...)
}

// TestLocalScan scans points of a local vault: clean, then infected with
// exit code 7, and the timeline of the source.
func TestLocalScan(t *testing.T) {
	e := newEnv(t)
	src := t.TempDir()
	textTree(t, src)
	e.ok("backup", "-q", "--host", "laptop", src)
	if out := e.ok("scan", "-q", "latest"); !strings.Contains(out, "verdict   CLEAN") {
		t.Fatalf("scan:\n%s", out)
	}
	victim := encryptTree(t, src)
	e.ok("backup", "-q", "--host", "laptop", src)
	r := e.fails(7, "is infected", "scan", "-q", "latest")
	if !strings.Contains(r.stdout, victim) {
		t.Fatalf("scan of the encrypted point:\n%s", r.stdout)
	}
	var list api.PointList
	e.json(&list, "points", "--source", "laptop:"+src)
	if len(list.Points) != 2 || list.FirstInfected != list.Points[1].ID || list.LastClean != list.Points[0].ID {
		t.Fatalf("timeline: %+v", list)
	}
	if out := e.ok("points", "--source", "laptop"); !strings.Contains(out, "first infected point  "+list.FirstInfected[:8]) || !strings.Contains(out, "last clean point      "+list.LastClean[:8]) {
		t.Fatalf("timeline:\n%s", out)
	}
	e.fails(2, "--source", "points", "--source", ":/x")
}

// TestLocalScanKeepsVerdicts: scanning a local vault's latest point judges
// its source's earlier points once and keeps their reports in the user's
// cache; a later scan judges only what is not kept, or was kept by another
// version of the scanner, and still carries the infection forward.
func TestLocalScanKeepsVerdicts(t *testing.T) {
	e := newEnv(t)
	src := t.TempDir()
	textTree(t, src)
	e.ok("backup", "-q", "--host", "laptop", src)
	encryptTree(t, src)
	e.ok("backup", "-q", "--host", "laptop", src)
	e.ok("backup", "-q", "--host", "laptop", src) // unchanged: still infected
	var points []struct {
		ID string `json:"id"`
	}
	e.json(&points, "points")
	if len(points) != 3 {
		t.Fatalf("%d points, want 3", len(points))
	}
	e.fails(7, "is infected", "scan", "-q", "latest")
	dirs, err := filepath.Glob(filepath.Join(e.home, ".cache", "bunker", "scans", "*"))
	if err != nil || len(dirs) != 1 {
		t.Fatalf("scan cache directories: %v %v", dirs, err)
	}
	kept := func(id string) (map[string]any, time.Time) {
		t.Helper()
		p := filepath.Join(dirs[0], id+".json")
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatalf("no kept scan of point %s: %v", id[:8], err)
		}
		fi, _ := os.Stat(p)
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
		return m, fi.ModTime()
	}
	for _, p := range points {
		if m, _ := kept(p.ID); m["version"] != float64(scan.Version) {
			t.Fatalf("point %s kept with version %v", p.ID[:8], m["version"])
		}
	}
	// The second point's report is from another version of the scanner:
	// it is judged again; the first one's is used as it is.
	m, _ := kept(points[1].ID)
	m["version"] = float64(scan.Version - 1)
	data, _ := json.Marshal(m)
	old := time.Now().Add(-time.Hour)
	for i, p := range points[:2] {
		f := filepath.Join(dirs[0], p.ID+".json")
		if i == 1 {
			if err := os.WriteFile(f, data, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Chtimes(f, old, old); err != nil {
			t.Fatal(err)
		}
	}
	e.fails(7, "is infected", "scan", "-q", "latest")
	if _, at := kept(points[0].ID); !at.Equal(old) {
		t.Error("the first point, kept by this version, was judged again")
	}
	if m, at := kept(points[1].ID); at.Equal(old) || m["version"] != float64(scan.Version) {
		t.Errorf("the second point, kept by another version, was not judged again (version %v)", m["version"])
	}
}
