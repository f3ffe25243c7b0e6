package local

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/bunkerhq/bunker/internal/storage"
)

// TestCrashDuringPut kills a writer at random instants and checks that every
// object under a final name is complete, and that every Put the writer saw
// succeed is there.
func TestCrashDuringPut(t *testing.T) {
	if testing.Short() {
		t.Skip("kills child processes; skipped in -short mode")
	}
	const (
		wantInterrupted = 4  // Puts killed mid-way before the test may stop
		maxRounds       = 40 // a bound on the test's running time
	)
	b := newVault(t)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0))
	acked := map[string]bool{}
	verified := map[string]bool{}
	interrupted, rounds := 0, 0
	for ; rounds < maxRounds && interrupted < wantInterrupted; rounds++ {
		names := runAndKill(t, b.Location(), time.Duration(100+rng.IntN(200))*time.Millisecond)
		for _, n := range names {
			acked[n] = true
		}
		checkVault(t, b, acked, verified)
		n, err := b.CleanTemp(0)
		if err != nil {
			t.Fatalf("round %d: CleanTemp: %v", rounds, err)
		}
		interrupted += n
	}
	if len(acked) == 0 {
		t.Fatal("the writer never completed a Put")
	}
	if interrupted < wantInterrupted {
		t.Fatalf("only %d of %d kills landed during a Put", interrupted, rounds)
	}
	t.Logf("%d rounds: %d objects stored, %d Puts interrupted", rounds, len(acked), interrupted)
}

// runAndKill starts the put-loop helper, SIGKILLs it after d and returns the
// names of the objects it reported stored.
func runAndKill(t *testing.T, dir string, d time.Duration) []string {
	t.Helper()
	cmd := helperCommand(t, "put-loop", dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan []string, 1)
	go func() { lines <- readLines(out) }()
	time.Sleep(d)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	names := <-lines
	err = cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("writer ended by itself before the kill: %v", err)
	}
	return names
}

func readLines(r io.Reader) []string {
	var lines []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	return lines
}

// checkVault verifies every pack not yet in verified against its name, adds
// it there, and checks that every acked name is present.
func checkVault(t *testing.T, b *Backend, acked, verified map[string]bool) {
	t.Helper()
	ctx := t.Context()
	present := map[string]bool{}
	err := b.List(ctx, storage.KindPack, func(fi storage.Info) error {
		present[fi.Handle.Name] = true
		if verified[fi.Handle.Name] {
			return nil
		}
		verified[fi.Handle.Name] = true
		data, err := storage.ReadAll(ctx, b, fi.Handle)
		if err != nil {
			return err
		}
		if got := sha256.Sum256(data); hex.EncodeToString(got[:]) != fi.Handle.Name {
			return fmt.Errorf("%s holds %d bytes that do not match its name", fi.Handle, len(data))
		}
		if int64(len(data)) != fi.Size {
			return fmt.Errorf("%s: List says %d bytes, read %d", fi.Handle, fi.Size, len(data))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("check vault: %v", err)
	}
	for name := range acked {
		if !present[name] {
			t.Fatalf("pack %s was stored, then vanished", name)
		}
	}
}

// putLoop stores random packs of 256 KiB to 4 MiB in the vault in dir until
// it is killed, printing each name once its Put has returned.
func putLoop(dir string) error {
	b, err := Open(dir)
	if err != nil {
		return err
	}
	ctx := context.Background()
	seed := uint64(time.Now().UnixNano()) ^ uint64(os.Getpid())
	rng := rand.New(rand.NewPCG(seed, 1))
	src := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16), byte(seed >> 24)})
	for {
		data := make([]byte, 256<<10+rng.IntN(4<<20-256<<10))
		src.Read(data)
		sum := sha256.Sum256(data)
		h := storage.Handle{Kind: storage.KindPack, Name: hex.EncodeToString(sum[:])}
		if err := b.Put(ctx, h, int64(len(data)), bytes.NewReader(data), storage.PutOptions{}); err != nil {
			return err
		}
		fmt.Fprintln(os.Stdout, h.Name)
	}
}
