package keys

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestKDFMemoryOnHugePages checks that, where the kernel offers transparent
// huge pages on request, argon2id's memory is faulted in as huge pages and
// not page by page.
func TestKDFMemoryOnHugePages(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's shadow memory takes page faults of its own")
	}
	mode, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled")
	if err != nil || !(bytes.Contains(mode, []byte("[always]")) || bytes.Contains(mode, []byte("[madvise]"))) {
		t.Skipf("transparent huge pages are not available on request here (%q, %v)", mode, err)
	}
	p := DefaultKDFParams()
	salt := make([]byte, saltSize)
	var before, after syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	passphraseKEK(testPassphrase(), salt, p)
	syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	pages := int64(p.MemoryKiB) / 4
	if faults := after.Minflt - before.Minflt; faults > pages/4 {
		t.Errorf("the KDF took %d page faults for %d KiB, want far fewer than its %d small pages", faults, p.MemoryKiB, pages)
	}
}

// TestWholeHugePages checks that the range marked for huge pages lies
// inside the memory, starts and ends on huge page boundaries, and leaves out
// no whole huge page.
func TestWholeHugePages(t *testing.T) {
	const n = 64 << 20
	for _, addr := range []uintptr{0x7f0000000000, 0x7f0000000000 + 4096, 0x7f0000000000 + hugePage - 8192, 0x7f0000000000 + hugePage/2} {
		start, end := wholeHugePages(addr, n)
		if start < 0 || end > n || start > end {
			t.Errorf("addr %#x: range %d..%d is not inside 0..%d", addr, start, end, n)
			continue
		}
		if (addr+uintptr(start))%hugePage != 0 || (addr+uintptr(end))%hugePage != 0 {
			t.Errorf("addr %#x: range %d..%d does not start and end on huge pages", addr, start, end)
		}
		if start >= hugePage || n-end >= hugePage {
			t.Errorf("addr %#x: range %d..%d leaves out a whole huge page of 0..%d", addr, start, end, n)
		}
	}
	if start, end := wholeHugePages(0x7f0000000000+4096, hugePage); start != end {
		t.Errorf("memory holding no whole huge page got the range %d..%d", start, end)
	}
}

// TestKDFMemoryFootprint checks, in a fresh process, that deriving a key
// with the default cost raises the process's peak resident memory by the
// KDF's memory and little more: no huge page may reach past argon2's
// memory and be faulted in whole.
func TestKDFMemoryFootprint(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's shadow memory is resident memory of its own")
	}
	if mode, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled"); err == nil && bytes.Contains(mode, []byte("[always]")) {
		t.Skip("with transparent huge pages always on, the kernel may fault in huge pages at the memory's ends whatever bunker marks")
	}
	if os.Getenv("BUNKER_KDF_FOOTPRINT") == "1" {
		runtime.GC()
		before := statusKiB(t, "VmRSS")
		passphraseKEK(testPassphrase(), make([]byte, saltSize), DefaultKDFParams())
		fmt.Printf("footprint %d\n", statusKiB(t, "VmHWM")-before)
		return
	}
	for i := 0; i < 3; i++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestKDFMemoryFootprint$")
		cmd.Env = append(os.Environ(), "BUNKER_KDF_FOOTPRINT=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("child: %v\n%s", err, out)
		}
		var kib int64
		if _, err := fmt.Sscanf(string(out), "footprint %d", &kib); err != nil {
			t.Fatalf("child printed %q: %v", out, err)
		}
		if limit := int64(DefaultKDFParams().MemoryKiB) + 1536; kib > limit {
			t.Errorf("deriving a key raised the peak resident memory by %d KiB, want at most %d", kib, limit)
		}
	}
}

// statusKiB reads one of the KiB figures of /proc/self/status.
func statusKiB(t *testing.T, field string) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if name, rest, ok := strings.Cut(line, ":"); ok && name == field {
			kib, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return kib
		}
	}
	t.Fatalf("no %s in /proc/self/status", field)
	return 0
}
