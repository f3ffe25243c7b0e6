package main_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// bin is the bunker binary built for these tests.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "bunker-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// Tests also run the binary as an unprivileged user.
	if err := os.Chmod(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "bunker")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build bunker: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// env is an isolated user environment: its own home, config and data.
type env struct {
	t    *testing.T
	home string
	vars []string
}

func newEnv(t *testing.T, vars ...string) *env {
	home := t.TempDir()
	base := []string{"HOME=" + home, "PATH=" + os.Getenv("PATH"), "XDG_CONFIG_HOME=", "XDG_DATA_HOME="}
	return &env{t: t, home: home, vars: append(base, vars...)}
}

type result struct {
	stdout, stderr string
	code           int
}

func (e *env) runIn(stdin []byte, args ...string) result {
	e.t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = e.vars
	cmd.Dir = e.home
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		e.t.Fatal(err)
	}
	return result{out.String(), errb.String(), code}
}

func (e *env) run(args ...string) result {
	e.t.Helper()
	return e.runIn(nil, args...)
}

// ok runs a command that must succeed and returns its stdout.
func (e *env) ok(args ...string) string {
	e.t.Helper()
	r := e.run(args...)
	if r.code != 0 {
		e.t.Fatalf("bunker %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestDefaultVaultIsCreatedOnFirstBackup(t *testing.T) {
	e := newEnv(t)
	src := t.TempDir()
	writeFiles(t, src, map[string]string{"a.txt": "alpha", "d/b.txt": "beta"})
	r := e.run("backup", src)
	if r.code != 0 {
		t.Fatalf("backup: %d %s", r.code, r.stderr)
	}
	vault := filepath.Join(e.home, ".local/share/bunker/vault")
	keyFile := filepath.Join(e.home, ".config/bunker/vault.key")
	if !strings.Contains(r.stderr, vault) || !strings.Contains(r.stderr, keyFile) {
		t.Fatalf("backup does not say where the vault and key are:\n%s", r.stderr)
	}
	fi, err := os.Stat(keyFile)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi, err)
	}
	if _, err := os.Stat(filepath.Join(vault, "config")); err != nil {
		t.Fatal(err)
	}
	// A second backup uses the same vault and reads nothing again.
	var sum map[string]any
	out := e.ok("backup", "--json", src)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &sum); err != nil {
		t.Fatalf("last JSON line %q: %v", lines[len(lines)-1], err)
	}
	// Directory listings may be stored again (access times of the parent
	// directories change when others read them), but no file is read.
	if sum["message_type"] != "summary" || sum["files_unchanged"].(float64) != 2 || sum["total_bytes_processed"].(float64) != 0 {
		t.Fatalf("second backup summary: %v", sum)
	}
	target := t.TempDir()
	e.ok("restore", "latest", "--target", target, "--verify")
	if d, _ := os.ReadFile(filepath.Join(target, src, "d/b.txt")); string(d) != "beta" {
		t.Fatalf("restored %q", d)
	}
}

func TestPassphraseVaultAndKeySlots(t *testing.T) {
	vault := filepath.Join(t.TempDir(), "v")
	e := newEnv(t, "BUNKER_VAULT="+vault, "BUNKER_PASSPHRASE=correct horse")
	e.ok("init")
	if r := e.run("init"); r.code == 0 || !strings.Contains(r.stderr, "not empty") && !strings.Contains(r.stderr, "exists") {
		t.Fatalf("second init: %d %s", r.code, r.stderr)
	}
	wrong := newEnv(t, "BUNKER_VAULT="+vault, "BUNKER_PASSPHRASE=wrong")
	if r := wrong.run("points"); r.code != 5 || !strings.Contains(r.stderr, "wrong passphrase or key file") {
		t.Fatalf("wrong passphrase: exit %d, %s", r.code, r.stderr)
	}
	kf := filepath.Join(t.TempDir(), "extra.key")
	e.ok("key", "add", "--new-key-file", kf, "--label", "offsite")
	byFile := newEnv(t, "BUNKER_VAULT="+vault, "BUNKER_KEY_FILE="+kf)
	byFile.ok("points")
	var slots []map[string]any
	if err := json.Unmarshal([]byte(e.ok("key", "list", "--json")), &slots); err != nil || len(slots) != 2 {
		t.Fatalf("key list: %v %v", slots, err)
	}
	var passID string
	for _, s := range slots {
		if s["kind"] == "passphrase" {
			passID = s["id"].(string)
		}
	}
	byFile.ok("key", "remove", passID[:8])
	if r := e.run("points"); r.code != 5 {
		t.Fatalf("removed passphrase still opens the vault: %d %s", r.code, r.stderr)
	}
	var left []map[string]any
	json.Unmarshal([]byte(byFile.ok("key", "list", "--json")), &left)
	if r := byFile.run("key", "remove", left[0]["id"].(string)); r.code == 0 || !strings.Contains(r.stderr, "last key slot") {
		t.Fatalf("removing the last slot: %d %s", r.code, r.stderr)
	}
}

// keyFileEnv returns an environment with a new vault unlocked by a key file,
// which opens without the deliberate cost of a passphrase.
func keyFileEnv(t *testing.T) (*env, string) {
	t.Helper()
	dir := t.TempDir()
	vault := filepath.Join(dir, "v")
	e := newEnv(t, "BUNKER_VAULT="+vault, "BUNKER_KEY_FILE="+filepath.Join(dir, "v.key"))
	e.ok("init")
	return e, vault
}

func TestStdinDumpLsDiffForgetPrune(t *testing.T) {
	e, _ := keyFileEnv(t)
	dump := bytes.Repeat([]byte("INSERT INTO t VALUES (1);\n"), 50000)
	if r := e.runIn(dump, "backup", "--stdin", "--stdin-name", "db.sql", "--tag", "db"); r.code != 0 {
		t.Fatalf("stdin backup: %d %s", r.code, r.stderr)
	}
	if got := e.ok("dump", "latest", "/db.sql"); got != string(dump) {
		t.Fatalf("dump returned %d bytes, want %d", len(got), len(dump))
	}
	src := t.TempDir()
	writeFiles(t, src, map[string]string{"keep": "same", "gone": "bye", "edit": "v1"})
	e.ok("backup", src)
	os.Remove(filepath.Join(src, "gone"))
	writeFiles(t, src, map[string]string{"edit": "version two", "new": "hi"})
	e.ok("backup", src)
	var pts []map[string]any
	if err := json.Unmarshal([]byte(e.ok("points", "--json", "--path", src)), &pts); err != nil || len(pts) != 2 {
		t.Fatalf("points: %v %v", pts, err)
	}
	diff := e.ok("diff", pts[0]["id"].(string)[:8], pts[1]["id"].(string)[:8])
	for _, want := range []string{"-  " + src + "/gone", "M  " + src + "/edit", "+  " + src + "/new"} {
		if !strings.Contains(diff, want) {
			t.Errorf("diff lacks %q:\n%s", want, diff)
		}
	}
	if strings.Contains(diff, "/keep") {
		t.Errorf("diff lists the unchanged file:\n%s", diff)
	}
	ls := e.ok("ls", "-l", "latest", src)
	if !strings.Contains(ls, src+"/new") || strings.Contains(ls, "gone") {
		t.Fatalf("ls:\n%s", ls)
	}
	tarOut := e.ok("dump", "latest", src)
	if !strings.Contains(tarOut, "version two") {
		t.Fatal("tar dump lacks file content")
	}
	if r := e.run("forget"); r.code != 2 || !strings.Contains(r.stderr, "refusing") {
		t.Fatalf("forget without rules: %d %s", r.code, r.stderr)
	}
	out := e.ok("forget", "--keep-last", "1", "--dry-run")
	if !strings.Contains(out, "would remove 1 points") {
		t.Fatalf("dry run: %s", out)
	}
	json.Unmarshal([]byte(e.ok("points", "--json")), &pts)
	if len(pts) != 3 {
		t.Fatalf("dry run removed points: %d left", len(pts))
	}
	e.ok("forget", "--keep-last", "1", "--prune")
	json.Unmarshal([]byte(e.ok("points", "--json")), &pts)
	if len(pts) != 2 {
		t.Fatalf("%d points after forget, want 2 (one per group)", len(pts))
	}
	e.ok("check", "--read-data")
	var st map[string]any
	json.Unmarshal([]byte(e.ok("stats", "--json")), &st)
	if st["points"].(float64) != 2 || st["stored_size"].(float64) <= 0 {
		t.Fatalf("stats: %v", st)
	}
}

func TestUsageErrors(t *testing.T) {
	e := newEnv(t)
	for _, args := range [][]string{{"backup"}, {"restore"}, {"restore", "latest"}, {"backup", "--no-such-flag", "x"}, {"restore", "latest", "--target", "x", "--overwrite", "sometimes"}} {
		if r := e.run(args...); r.code != 2 {
			t.Errorf("bunker %v: exit %d, want 2 (%s)", args, r.code, r.stderr)
		}
	}
	if r := e.run("points", "--vault", filepath.Join(t.TempDir(), "none")); r.code != 1 || !strings.Contains(r.stderr, "bunker init") {
		t.Errorf("missing vault: %d %s", r.code, r.stderr)
	}
}
