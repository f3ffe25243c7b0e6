package eventrule

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bunkerhq/bunker/internal/event"
	"github.com/bunkerhq/bunker/internal/notify"
	"github.com/bunkerhq/bunker/internal/store"
)

// TestHelperCommand is not a test: it is the program that command targets
// run in these tests, as this test binary with the arguments
// -test.run=^TestHelperCommand$ -- MODE [FILE]. Mode record writes its
// standard input and environment to FILE; fail exits 3; sleep sleeps.
func TestHelperCommand(*testing.T) {
	i := slices.Index(os.Args, "--")
	if i < 0 || i+1 >= len(os.Args) {
		return
	}
	args := os.Args[i+1:]
	switch args[0] {
	case "record":
		in, _ := readAll(os.Stdin)
		out := "stdin " + in + "env " + strings.Join(os.Environ(), "\x00") + "\n"
		if err := os.WriteFile(args[1], []byte(out), 0o600); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	case "fail":
		fmt.Fprint(os.Stderr, "boom:\nthe disk\tis full\n")
		os.Exit(3)
	case "sleep":
		time.Sleep(time.Minute)
	}
	os.Exit(2)
}

func readAll(f *os.File) (string, error) {
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := f.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			return b.String(), nil
		}
	}
}

// helper returns argv running TestHelperCommand in mode, and the
// directory that holds the program.
func helper(t *testing.T, mode ...string) ([]string, string) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	exe = filepath.Clean(exe)
	return append([]string{exe, "-test.run=^TestHelperCommand$", "--"}, mode...), filepath.Dir(exe)
}

func TestCommandTargetThroughTheOutbox(t *testing.T) {
	db := openStore(t)
	out := filepath.Join(t.TempDir(), "out")
	argv, dir := helper(t, "record", out)
	r := Rule{Name: "run", Enabled: true, Pattern: MustCompile(`{"kind":["verify.failed"]}`),
		Targets: []Target{{Command: &CommandTarget{Argv: argv, Timeout: Duration(30 * time.Second)}}}}
	spec, err := r.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	addRule(t, db, string(spec))
	t.Setenv("BUNKER_SECRET_THING", "must not leak")
	ds := emit(t, db, &Emitter{Source: "bunker-1"}, &event.Envelope{Kind: event.VerifyFailed, Vault: "prod", Subject: "9",
		Detail: map[string]any{"points_damaged": 1}})
	d, _ := NewDeliverer(DelivererOptions{Store: db, Sender: &Runner{CommandDir: dir}, Owner: "w"})
	runOnce(t, d)
	if got := getDelivery(t, db, ds[0].ID); got.State != store.DeliveryDelivered {
		t.Fatalf("delivery %+v", got)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	stdin, env, _ := strings.Cut(strings.TrimPrefix(string(b), "stdin "), "env ")
	e, err := event.Parse([]byte(strings.TrimSpace(stdin)))
	if err != nil || e.ID != ds[0].EventID || e.Kind != event.VerifyFailed || e.Detail["points_damaged"] == nil {
		t.Fatalf("stdin %q: %v", stdin, err)
	}
	vars := strings.Split(strings.TrimSpace(env), "\x00")
	slices.Sort(vars)
	want := []string{
		"BUNKER_DELIVERY_ATTEMPT=1", "BUNKER_DELIVERY_ID=" + ds[0].ID, "BUNKER_EVENT_ID=" + e.ID, "BUNKER_EVENT_KIND=verify.failed",
		"BUNKER_RULE=run", "BUNKER_SUBJECT=9", "BUNKER_VAULT=prod", "LC_ALL=C.UTF-8", "PATH=" + commandPath, "TZ=UTC",
	}
	if !slices.Equal(vars, want) {
		t.Errorf("environment:\n got %q\nwant %q", vars, want)
	}
}

func TestCommandFailures(t *testing.T) {
	ctx := context.Background()
	e := &event.Envelope{ID: "e", Version: 1, Kind: event.JobFailed, Time: t0, Source: "s"}
	raw, _ := e.Marshal()
	send := func(r *Runner, argv []string, timeout time.Duration) error {
		return r.Send(ctx, Attempt{DeliveryID: "d", Number: 1, Rule: "r", Event: e, Raw: raw,
			Target: Target{Command: &CommandTarget{Argv: argv, Timeout: Duration(timeout)}}})
	}
	argv, dir := helper(t, "fail")
	r := &Runner{CommandDir: dir}
	err := send(r, argv, 0)
	if err == nil || notify.IsPermanent(err) || !strings.Contains(err.Error(), "exit status 3: boom: the disk is full") {
		t.Errorf("failing command: %v", err)
	}
	argv, _ = helper(t, "sleep")
	start := time.Now()
	err = send(r, argv, 200*time.Millisecond)
	if err == nil || notify.IsPermanent(err) || !strings.Contains(err.Error(), "killed after 200ms") || time.Since(start) > 10*time.Second {
		t.Errorf("slow command: %v after %v", err, time.Since(start))
	}
	err = send(r, []string{filepath.Join(dir, "no-such-program")}, 0)
	if !notify.IsPermanent(err) {
		t.Errorf("missing program: %v", err)
	}
	err = send(&Runner{CommandDir: "/nonexistent"}, argv, 0)
	if !notify.IsPermanent(err) || !strings.Contains(err.Error(), "is not under this server's command directory") {
		t.Errorf("program outside the directory: %v", err)
	}
	err = send(&Runner{}, argv, 0)
	if !notify.IsPermanent(err) {
		t.Errorf("no command directory: %v", err)
	}
	err = send(&Runner{CommandDir: dir + "x"}, argv, 0)
	if !notify.IsPermanent(err) {
		t.Errorf("a directory that only starts the same: %v", err)
	}
	if err := (&Runner{}).Send(ctx, Attempt{Event: e, Target: Target{Copy: &CopyTarget{Action: "c"}}}); !notify.IsPermanent(err) {
		t.Errorf("copy without a runner: %v", err)
	}
}
