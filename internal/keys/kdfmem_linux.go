package keys

import (
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// hugePage is the size of a transparent huge page on the platforms bunker
// runs on (x86-64 and arm64 with 4 KiB base pages).
const hugePage = 2 << 20

// prepareKDFMemory makes the memory that argon2id is about to allocate
// eligible for transparent huge pages. argon2id touches every page of its
// memory once in the first pass; with 4 KiB pages that is 16 384 page faults
// (twice as many on some kernels) for the default 64 MiB, which in a virtual
// machine costs more CPU than the hashing itself. With 2 MiB pages it is 32.
//
// The argon2 package allocates its own memory, so this allocates a buffer
// of the same size first, marks its pages with madvise(MADV_HUGEPAGE)
// without touching them, and frees it again: the allocation argon2 makes
// right after is served from the same, still untouched pages. Where the
// hint cannot be given, or the allocator places argon2's memory elsewhere,
// argon2 runs exactly as it would have, only without huge pages.
//
// Only the huge pages that lie wholly inside argon2's memory are marked. A
// huge page that reached past its end would be faulted in whole when argon2
// touches its first part, and the process would hold up to 2 MiB it never
// uses; the ends of the memory that do not fill a huge page stay small
// pages.
func prepareKDFMemory(memKiB uint32, threads uint8) {
	// argon2 rounds its memory down to a whole number of blocks in each of
	// its 4 slices of every lane.
	perSlices := 4 * uint32(threads)
	n := int(memKiB/perSlices*perSlices) << 10
	if n < 4*hugePage {
		return // too small to be worth it
	}
	buf := make([]byte, n)
	start, end := wholeHugePages(uintptr(unsafe.Pointer(unsafe.SliceData(buf))), n)
	_ = unix.Madvise(buf[start:end], unix.MADV_HUGEPAGE) // only a hint: nothing to do if it is refused
	runtime.KeepAlive(buf)
	buf = nil
	runtime.GC() // frees the buffer, so that argon2's allocation can take its place
}

// wholeHugePages returns the offsets, from addr, of the first and the end of
// the last huge page that lie wholly inside the n bytes at addr.
func wholeHugePages(addr uintptr, n int) (start, end int) {
	first := (addr + hugePage - 1) &^ (hugePage - 1)
	last := (addr + uintptr(n)) &^ (hugePage - 1)
	if last < first {
		return 0, 0
	}
	return int(first - addr), int(last - addr)
}
