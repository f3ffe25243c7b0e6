package local

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/bunkerhq/bunker/internal/storage"
)

// tryLock attempts a lock with a short deadline.
func tryLock(t *testing.T, b *Backend, exclusive bool) (storage.Unlocker, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	return b.Lock(ctx, exclusive)
}

func mustLock(t *testing.T, b *Backend, exclusive bool) storage.Unlocker {
	t.Helper()
	u, err := tryLock(t, b, exclusive)
	if err != nil {
		t.Fatalf("Lock(exclusive=%v): %v", exclusive, err)
	}
	return u
}

func mustUnlock(t *testing.T, u storage.Unlocker) {
	t.Helper()
	if err := u.Unlock(); err != nil {
		t.Fatalf("Unlock: %v", err)
	}
}

func wantLocked(t *testing.T, b *Backend, exclusive bool) {
	t.Helper()
	u, err := tryLock(t, b, exclusive)
	if err == nil {
		u.Unlock()
		t.Fatalf("Lock(exclusive=%v) succeeded, want ErrLocked", exclusive)
	}
	if !errors.Is(err, storage.ErrLocked) {
		t.Fatalf("Lock(exclusive=%v): got %v, want ErrLocked", exclusive, err)
	}
}

func TestLockSharedAndExclusive(t *testing.T) {
	b := newVault(t)
	s1 := mustLock(t, b, false)
	s2 := mustLock(t, b, false)
	wantLocked(t, b, true)
	mustUnlock(t, s1)
	wantLocked(t, b, true)
	mustUnlock(t, s2)

	x := mustLock(t, b, true)
	wantLocked(t, b, false)
	wantLocked(t, b, true)
	mustUnlock(t, x)
	if err := x.Unlock(); err == nil {
		t.Fatal("second Unlock: no error")
	}
	mustUnlock(t, mustLock(t, b, false))
}

func TestLockWaitsForRelease(t *testing.T) {
	b := newVault(t)
	x := mustLock(t, b, true)
	go func() {
		time.Sleep(150 * time.Millisecond)
		x.Unlock()
	}()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	start := time.Now()
	u, err := b.Lock(ctx, true)
	if err != nil {
		t.Fatalf("Lock while the holder releases: %v", err)
	}
	defer u.Unlock()
	if waited := time.Since(start); waited < 100*time.Millisecond {
		t.Fatalf("Lock returned after %v, before the holder released", waited)
	}
}

func TestLockCanceled(t *testing.T) {
	b := newVault(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := b.Lock(ctx, false); !errors.Is(err, context.Canceled) {
		t.Fatalf("Lock with a canceled context: got %v, want context.Canceled", err)
	}
}

func TestLockAcrossProcessesAndKill(t *testing.T) {
	b := newVault(t)
	cmd := helperCommand(t, "hold-lock", b.Location())
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "locked\n" {
		t.Fatalf("helper said %q, %v", line, err)
	}
	wantLocked(t, b, false)
	wantLocked(t, b, true)
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	u, err := b.Lock(ctx, true)
	if err != nil {
		t.Fatalf("Lock after the holder was killed: %v", err)
	}
	mustUnlock(t, u)
}

// holdLock takes an exclusive lock on the vault in dir, says so on stdout
// and waits to be killed.
func holdLock(dir string) error {
	b, err := Open(dir)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	u, err := b.Lock(ctx, true)
	if err != nil {
		return err
	}
	fmt.Fprintln(os.Stdout, "locked")
	time.Sleep(time.Minute)
	return u.Unlock()
}
