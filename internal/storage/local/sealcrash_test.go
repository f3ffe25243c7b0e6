package local

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bunkerhq/bunker/internal/storage"
)

// Environment of the retention helpers.
const (
	crashAtEnv = "BUNKER_LOCAL_TEST_CRASH_AT" // the step to SIGKILL itself at
	untilEnv   = "BUNKER_LOCAL_TEST_UNTIL"    // retain-until, Unix seconds
)

// crashData is what the retention crash helpers store.
var crashData = bytes.Repeat([]byte("sealed at any instant "), 5000)

// putSteps are the steps of a retained Put, in order; "" is none (the Put
// completes).
var putSteps = []string{stepMarked, stepWritten, stepRecorded, stepMoved, stepSealed, stepSynced, ""}

// visibleFrom is the first step at which a retained Put's object is under
// its final name.
const visibleFrom = 3 // stepMoved

// crashHook returns a hook that SIGKILLs this process at step.
func crashHook(step string) func(string) error {
	return func(s string) error {
		if s == step {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			time.Sleep(time.Minute)
		}
		return nil
	}
}

// putRetainedHelper stores crashData under compliance retention until
// $BUNKER_LOCAL_TEST_UNTIL in the vault in dir, killing itself at the step
// $BUNKER_LOCAL_TEST_CRASH_AT.
func putRetainedHelper(dir string) error {
	b, err := Open(dir, WithRetention())
	if err != nil {
		return err
	}
	sec, err := strconv.ParseInt(os.Getenv(untilEnv), 10, 64)
	if err != nil {
		return err
	}
	b.hook = crashHook(os.Getenv(crashAtEnv))
	h := packOf(crashData)
	opts := storage.PutOptions{Mode: storage.RetentionCompliance, RetainUntil: time.Unix(sec, 0)}
	return b.Put(context.Background(), h, int64(len(crashData)), bytes.NewReader(crashData), opts)
}

// extendRetentionHelper extends crashData's retention to compliance until
// $BUNKER_LOCAL_TEST_UNTIL, killing itself at $BUNKER_LOCAL_TEST_CRASH_AT.
func extendRetentionHelper(dir string) error {
	b, err := Open(dir, WithRetention())
	if err != nil {
		return err
	}
	sec, err := strconv.ParseInt(os.Getenv(untilEnv), 10, 64)
	if err != nil {
		return err
	}
	b.hook = crashHook(os.Getenv(crashAtEnv))
	return b.Extend(context.Background(), packOf(crashData), time.Unix(sec, 0), storage.RetentionCompliance)
}

// runCrashHelper runs the helper mode on dir, to be killed at step, and
// checks that it died there (or, for step "", finished).
func runCrashHelper(t *testing.T, mode, dir, step string, until time.Time) {
	t.Helper()
	cmd := helperCommand(t, mode, dir)
	cmd.Env = append(cmd.Env, crashAtEnv+"="+step, untilEnv+"="+strconv.FormatInt(until.Unix(), 10))
	err := cmd.Run()
	ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
	switch {
	case step == "" && err != nil:
		t.Fatalf("helper %s: %v", mode, err)
	case step != "" && ws.Signal() != syscall.SIGKILL:
		t.Fatalf("helper %s did not die at %s: %v", mode, step, err)
	}
}

// sealMarkers lists the seal markers in b's tmp/.
func sealMarkers(t *testing.T, b *Backend) []string {
	t.Helper()
	var m []string
	for _, n := range tempNames(t, b) {
		if strings.HasPrefix(n, sealPrefix) {
			m = append(m, n)
		}
	}
	return m
}

// wantRecovered opens the vault in dir WithRetention, as a restarted
// server would, and checks that the object at path, if there, is sealed and
// that tmp/ ends up empty.
func wantRecovered(t *testing.T, dir, path string, visible bool) *Backend {
	t.Helper()
	b, err := Open(dir, WithRetention())
	if err != nil {
		t.Fatalf("Open after the crash: %v", err)
	}
	if visible && !pathImmutable(path) {
		t.Fatal("after Open, the object is still not immutable")
	}
	if m := sealMarkers(t, b); len(m) != 0 {
		t.Fatalf("after Open, seal markers remain: %v", m)
	}
	if _, err := b.CleanTemp(0); err != nil {
		t.Fatalf("CleanTemp: %v", err)
	}
	if names := tempNames(t, b); len(names) != 0 {
		t.Fatalf("after CleanTemp, tmp/ holds %v", names)
	}
	return b
}

// TestCrashDuringRetainedPut kills a retained Put at every step: the object
// is either absent, or present with its retention recorded and enforced;
// never visible without it. Reopening seals what the crash left unsealed.
func TestCrashDuringRetainedPut(t *testing.T) {
	for i, step := range putSteps {
		name := step
		if name == "" {
			name = "none"
		}
		t.Run(name, func(t *testing.T) {
			b, _ := newRetainedVault(t)
			dir := b.Location()
			u := time.Now().Add(time.Hour).Truncate(time.Second)
			runCrashHelper(t, "put-retained", dir, step, u)
			h := packOf(crashData)
			path, _ := b.objectPath(h)
			_, err := os.Lstat(path)
			visible := err == nil
			if want := step == "" || i >= visibleFrom; visible != want {
				t.Fatalf("killed at %q: object visible %v, want %v", step, visible, want)
			}
			if visible {
				// Before any recovery, through a backend that seals nothing.
				plain, err := Open(dir)
				if err != nil {
					t.Fatal(err)
				}
				r, err := plain.Retention(t.Context(), h)
				if err != nil || r.Mode != storage.RetentionCompliance || !r.Until.Equal(u) {
					t.Fatalf("killed at %q: visible with retention %+v, %v", step, r, err)
				}
				if err := plain.Delete(t.Context(), h); !errors.Is(err, storage.ErrRetained) {
					t.Fatalf("killed at %q: Delete got %v, want ErrRetained", step, err)
				}
				wantContentLocal(t, plain, h, crashData)
			}
			if step == "" && len(tempNames(t, b)) != 0 {
				t.Fatalf("a completed Put left %v in tmp/", tempNames(t, b))
			}
			after := wantRecovered(t, dir, path, visible)
			opts := storage.PutOptions{Mode: storage.RetentionCompliance, RetainUntil: u}
			err = after.Put(t.Context(), h, int64(len(crashData)), bytes.NewReader(crashData), opts)
			if visible && !errors.Is(err, storage.ErrExists) || !visible && err != nil {
				t.Fatalf("Put again after the crash: %v", err)
			}
			if !pathImmutable(path) {
				t.Fatal("the object is not immutable")
			}
		})
	}
}

// TestCrashDuringExtend kills an Extend at every step: the object keeps the
// old retention or has the new one, never less, and reopening seals it.
func TestCrashDuringExtend(t *testing.T) {
	steps := []string{stepMarked, stepLifted, stepRewritten, stepSealed, ""}
	for i, step := range steps {
		name := step
		if name == "" {
			name = "none"
		}
		t.Run(name, func(t *testing.T) {
			b, _ := newRetainedVault(t)
			dir := b.Location()
			u1 := time.Now().Add(time.Hour).Truncate(time.Second)
			u2 := u1.Add(time.Hour)
			h, path := putRetained(t, b, crashData, storage.RetentionGovernance, u1)
			runCrashHelper(t, "extend-retention", dir, step, u2)
			old := storage.Retention{Mode: storage.RetentionGovernance, Until: u1}
			extended := storage.Retention{Mode: storage.RetentionCompliance, Until: u2}
			want := old
			if i >= 2 { // the new record is written from stepRewritten on
				want = extended
			}
			plain, err := Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			got, err := plain.Retention(t.Context(), h)
			if err != nil || got.Mode != want.Mode || !got.Until.Equal(want.Until) {
				t.Fatalf("killed at %q: retention %+v, %v; want %+v", step, got, err, want)
			}
			if err := plain.Delete(t.Context(), h); !errors.Is(err, storage.ErrRetained) {
				t.Fatalf("killed at %q: Delete got %v, want ErrRetained", step, err)
			}
			wantRecovered(t, dir, path, true)
			wantContentLocal(t, plain, h, crashData)
		})
	}
}

// TestRetainedPutFailsAtEachStep makes each step of a retained Put fail in
// turn: before the object is visible nothing is left behind; after, the
// object stays retained and its marker has it sealed on the next Open.
func TestRetainedPutFailsAtEachStep(t *testing.T) {
	injected := errors.New("injected failure")
	for i, step := range putSteps[:len(putSteps)-1] {
		t.Run(step, func(t *testing.T) {
			b, _ := newRetainedVault(t)
			b.hook = func(s string) error {
				if s == step {
					return injected
				}
				return nil
			}
			h := packOf(crashData)
			path, _ := b.objectPath(h)
			u := time.Now().Add(time.Hour)
			opts := storage.PutOptions{Mode: storage.RetentionCompliance, RetainUntil: u}
			err := b.Put(t.Context(), h, int64(len(crashData)), bytes.NewReader(crashData), opts)
			if !errors.Is(err, injected) || !strings.Contains(err.Error(), step) {
				t.Fatalf("Put failing at %s: got %v", step, err)
			}
			_, statErr := os.Lstat(path)
			visible := statErr == nil
			if visible != (i >= visibleFrom) {
				t.Fatalf("failed at %s: visible %v", step, visible)
			}
			if !visible {
				if names := tempNames(t, b); len(names) != 0 {
					t.Fatalf("failed at %s: tmp/ holds %v", step, names)
				}
				return
			}
			if r, ok, _ := fileState(t, path); !ok || r.mode != storage.RetentionCompliance {
				t.Fatalf("failed at %s: record %+v, %v", step, r, ok)
			}
			if err := b.Delete(t.Context(), h); !errors.Is(err, storage.ErrRetained) {
				t.Fatalf("failed at %s: Delete got %v", step, err)
			}
			if m := sealMarkers(t, b); len(m) != 1 {
				t.Fatalf("failed at %s: seal markers %v, want one", step, m)
			}
			wantRecovered(t, b.Location(), path, true)
		})
	}
}

// TestRetentionChangeFailsAtEachStep makes each step of Extend and of
// lifting a legal hold fail in turn: the object ends up sealed with the old
// record or the new one, and no marker is left.
func TestRetentionChangeFailsAtEachStep(t *testing.T) {
	injected := errors.New("injected failure")
	for _, step := range []string{stepMarked, stepLifted, stepRewritten, stepSealed} {
		t.Run(step, func(t *testing.T) {
			b, _ := newRetainedVault(t)
			u1 := time.Now().Add(time.Hour).Truncate(time.Second)
			u2 := u1.Add(time.Hour)
			h, path := putRetained(t, b, crashData, storage.RetentionGovernance, u1)
			if err := b.SetLegalHold(t.Context(), h, true); err != nil {
				t.Fatal(err)
			}
			b.hook = func(s string) error {
				if s == step {
					return injected
				}
				return nil
			}
			check := func(op string, err error, allowed ...storage.Retention) {
				t.Helper()
				if !errors.Is(err, injected) {
					t.Fatalf("%s failing at %s: got %v", op, step, err)
				}
				got, err := b.Retention(t.Context(), h)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.ContainsFunc(allowed, func(r storage.Retention) bool {
					return r.Mode == got.Mode && r.Until.Equal(got.Until) && r.LegalHold == got.LegalHold
				}) {
					t.Fatalf("%s failing at %s: retention %+v, want one of %+v", op, step, got, allowed)
				}
				if !pathImmutable(path) {
					t.Fatalf("%s failing at %s: left the object unsealed", op, step)
				}
				if m := sealMarkers(t, b); len(m) != 0 {
					t.Fatalf("%s failing at %s: left markers %v", op, step, m)
				}
			}
			held := storage.Retention{Mode: storage.RetentionGovernance, Until: u1, LegalHold: true}
			err := b.Extend(t.Context(), h, u2, storage.RetentionCompliance)
			extended := storage.Retention{Mode: storage.RetentionCompliance, Until: u2, LegalHold: true}
			check("Extend", err, held, extended)
			cur, _ := b.Retention(t.Context(), h)
			err = b.SetLegalHold(t.Context(), h, false)
			released := cur
			released.LegalHold = false
			check("SetLegalHold off", err, cur, released)
		})
	}
}

// TestSealMarkerNames checks the marker names that recovery parses.
func TestSealMarkerNames(t *testing.T) {
	hex := strings.Repeat("0123456789abcdef", 4)
	for name, want := range map[string]*storage.Handle{
		sealPrefix + "packs-" + hex + "-123":   {Kind: storage.KindPack, Name: hex},
		sealPrefix + "config-config-9":         {Kind: storage.KindConfig, Name: "config"},
		sealPrefix + "points-" + hex + "-1-2":  {Kind: storage.KindPoint, Name: hex},
		sealPrefix + "packs-" + hex:            nil,
		sealPrefix + "packs-" + hex + "-":      nil,
		sealPrefix + "packs-../../etc-1":       nil,
		sealPrefix + "tmp-" + hex + "-1":       nil,
		"put-" + hex:                           nil,
		sealPrefix + "keys-" + hex[:63] + "-1": nil,
	} {
		h, ok := parseMarker(name)
		if (want != nil) != ok || want != nil && h != *want {
			t.Errorf("parseMarker(%q) = %v, %v; want %v", name, h, ok, want)
		}
	}
	b, _ := newRetainedVault(t)
	h := storage.Handle{Kind: storage.KindPack, Name: hex}
	m, err := b.mark(h)
	if err != nil {
		t.Fatal(err)
	}
	defer m.done()
	if got, ok := parseMarker(filepath.Base(m.f.Name())); !ok || got != h {
		t.Fatalf("mark made %q, which parses as %v, %v", m.f.Name(), got, ok)
	}
}

// TestRemoveImmutableProbe covers a probe that a crash left immutable.
func TestRemoveImmutableProbe(t *testing.T) {
	b, _ := newRetainedVault(t)
	p := filepath.Join(b.tmpDir(), probePrefix+"left")
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := setImmutable(f, true); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(p); err == nil {
		t.Fatal("removed an immutable file")
	}
	if n, err := b.CleanTemp(0); err != nil || n != 1 {
		t.Fatalf("CleanTemp: %d, %v", n, err)
	}
	if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("probe still there: %v", err)
	}
}

// helperOutput runs cmd and returns its stdout, failing on a non-zero exit.
func helperOutput(t *testing.T, cmd *exec.Cmd) string {
	t.Helper()
	var out bytes.Buffer
	cmd.Stdout = &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, out.String())
	}
	return out.String()
}

// retentionReport opens the vault in dir WithRetention and prints what
// RetentionSupported says and what a retained Put does.
func retentionReport(dir string) error {
	b, err := Open(dir, WithRetention())
	if err != nil {
		return err
	}
	ok, reason, err := b.RetentionSupported(context.Background())
	if err != nil {
		return err
	}
	fmt.Printf("supported=%v\nreason=%s\n", ok, reason)
	opts := storage.PutOptions{Mode: storage.RetentionCompliance, RetainUntil: time.Now().Add(time.Hour)}
	err = b.Put(context.Background(), packOf(crashData), int64(len(crashData)), bytes.NewReader(crashData), opts)
	fmt.Printf("put=%v\nunsupported=%v\n", err, errors.Is(err, storage.ErrUnsupported))
	return nil
}
