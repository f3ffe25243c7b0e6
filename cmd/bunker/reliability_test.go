package main_test

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// corpus writes n files of random, partly compressible data below dir and
// returns their total size.
func corpus(t *testing.T, dir string, n, size int, seed uint64) int64 {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 99))
	var total int64
	for i := range n {
		data := make([]byte, size/2+rng.IntN(size))
		for j := 0; j < len(data); j += 8 {
			v := rng.Uint64()
			if j%4096 < 1024 {
				v &= 0x0f0f0f0f0f0f0f0f // a compressible stretch in every page
			}
			for k := 0; k < 8 && j+k < len(data); k++ {
				data[j+k] = byte(v >> (8 * k))
			}
		}
		p := filepath.Join(dir, string(rune('a'+i%26)), filepath.Base(t.Name())+"-"+strconv.Itoa(i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		total += int64(len(data))
	}
	return total
}

func packBytes(t *testing.T, vault string) int64 {
	t.Helper()
	var n int64
	filepath.Walk(filepath.Join(vault, "packs"), func(_ string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			n += fi.Size()
		}
		return nil
	})
	return n
}

func (e *env) start(args ...string) *exec.Cmd {
	cmd := exec.Command(bin, args...)
	cmd.Env = e.vars
	cmd.Dir = e.home
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	return cmd
}

func pointIDs(t *testing.T, e *env) []string {
	var pts []map[string]any
	if err := json.Unmarshal([]byte(e.ok("points", "--json")), &pts); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, p := range pts {
		ids = append(ids, p["id"].(string))
	}
	return ids
}

// TestKilledBackupsLeaveVaultSound kills backups with SIGKILL at random
// moments. After every kill, check --read-data must be clean and every point
// saved before must restore exactly; the next backup re-uses the packs the
// killed one had written.
func TestKilledBackupsLeaveVaultSound(t *testing.T) {
	if testing.Short() {
		t.Skip("kills many backups")
	}
	e, vault := keyFileEnv(t)
	src := t.TempDir()
	corpus(t, src, 60, 1<<20, 1)
	e.ok("backup", "-q", src)
	rng := rand.New(rand.NewPCG(7, 7))
	restoreAll := func() {
		for _, id := range pointIDs(t, e) {
			target := t.TempDir()
			e.ok("restore", id[:12], "--target", target, "--verify", "-q")
		}
	}
	// Kill at a random moment; when a backup finishes first, aim earlier.
	killed, rounds, maxDelay := 0, 0, 150
	for ; killed < 8 && rounds < 40; rounds++ {
		corpus(t, src, 10, 2<<20, uint64(100+rounds)) // new data for this round
		cmd := e.start("backup", "-q", src)
		time.Sleep(time.Duration(5+rng.IntN(maxDelay)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		if err := cmd.Wait(); err != nil {
			killed++
		} else {
			maxDelay = max(10, maxDelay*2/3)
		}
		if r := e.run("check", "--read-data"); r.code != 0 {
			t.Fatalf("round %d: check after kill: exit %d\n%s%s", rounds, r.code, r.stdout, r.stderr)
		}
	}
	if killed < 8 {
		t.Fatalf("only %d of %d backups were killed before finishing: the test did not test anything", killed, rounds)
	}
	restoreAll()
	// A complete backup now stores only what no killed run had stored.
	before := packBytes(t, vault)
	e.ok("backup", "-q", src)
	added := packBytes(t, vault) - before
	fresh, freshVault := keyFileEnv(t)
	fresh.ok("backup", "-q", src)
	if full := packBytes(t, freshVault); added > full/2 {
		t.Fatalf("backup after kills stored %d bytes; a fresh vault needs %d for all of it: packs were not re-used", added, full)
	}
	e.ok("check", "--read-data")
	restoreAll()
}

// TestConcurrentBackupsDeduplicate runs two backups of the same data into
// one vault at once: the second starts when the first has stored about half
// of it. Both must succeed; the second must re-use what the first had stored
// when it started (and what it announces while they run); prune must then
// remove the blobs both stored twice.
func TestConcurrentBackupsDeduplicate(t *testing.T) {
	fresh, freshVault := keyFileEnv(t)
	src := t.TempDir()
	corpus(t, src, 80, 1<<20, 3)
	fresh.ok("backup", "-q", src)
	single := packBytes(t, freshVault)

	e, vault := keyFileEnv(t)
	a := e.start("backup", "-q", "--tag", "a", src)
	deadline := time.Now().Add(60 * time.Second)
	for packBytes(t, vault) < single/2 && time.Now().Before(deadline) {
		time.Sleep(2 * time.Millisecond)
	}
	b := e.start("backup", "-q", "--tag", "b", src)
	if err := a.Wait(); err != nil {
		t.Fatalf("first backup: %v", err)
	}
	if err := b.Wait(); err != nil {
		t.Fatalf("second backup: %v", err)
	}
	if ids := pointIDs(t, e); len(ids) != 2 {
		t.Fatalf("%d points, want 2", len(ids))
	}
	e.ok("check", "--read-data")
	both := packBytes(t, vault)
	t.Logf("one backup stores %d bytes, two concurrent ones %d", single, both)
	if both > single*16/10 {
		t.Fatalf("two concurrent backups stored %d bytes, one stores %d: the second did not re-use the first's packs", both, single)
	}
	e.ok("prune", "--max-unused", "0")
	if after := packBytes(t, vault); after > single*11/10 {
		t.Fatalf("after prune the vault holds %d bytes, one backup needs %d: duplicates were not removed", after, single)
	}
	e.ok("check", "--read-data")
	for _, id := range pointIDs(t, e) {
		e.ok("restore", id[:12], "--target", t.TempDir(), "--verify", "-q")
	}
}

// TestUnreadableFilesAreWarnings backs up as an unprivileged user a tree
// holding a file that user cannot read: the point is saved, the file is
// named, and the exit code is 3.
func TestUnreadableFilesAreWarnings(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run bunker as another user")
	}
	const nobody = 65534
	e, vault := keyFileEnv(t)
	src := t.TempDir()
	writeFiles(t, src, map[string]string{"ok.txt": "fine", "secret.txt": "root only"})
	os.Chmod(filepath.Join(src, "secret.txt"), 0o600)
	for _, p := range []string{src, filepath.Dir(src), filepath.Dir(vault), filepath.Dir(filepath.Dir(vault))} {
		os.Chmod(p, 0o755)
	}
	filepath.Walk(filepath.Dir(vault), func(p string, _ os.FileInfo, _ error) error { return os.Lchown(p, nobody, nobody) })
	cmd := exec.Command(bin, "backup", src)
	cmd.Env = e.vars
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	out, err := cmd.CombinedOutput()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 3 {
		t.Fatalf("backup with an unreadable file: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "secret.txt") || !strings.Contains(string(out), "permission denied") {
		t.Fatalf("the unreadable file is not named:\n%s", out)
	}
	ls := e.ok("ls", "latest")
	if !strings.Contains(ls, "ok.txt") || strings.Contains(ls, "secret.txt") {
		t.Fatalf("point contents:\n%s", ls)
	}
}

func TestPruneRemovesTemporariesOfDeadWriters(t *testing.T) {
	e, vault := keyFileEnv(t)
	stale := filepath.Join(vault, "tmp", "left-by-a-killed-backup")
	if err := os.WriteFile(stale, []byte("partial pack"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.ok("prune")
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Fatalf("temporary survived prune: %v", err)
	}
}
