package keys

import (
	"bytes"
	"os"
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
