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
func prepareKDFMemory(memKiB uint32) {
	n := int(memKiB)<<10 + hugePage
	if n < 4*hugePage {
		return // too small to be worth it
	}
	buf := make([]byte, n)
	addr := uintptr(unsafe.Pointer(unsafe.SliceData(buf)))
	start := int((addr+hugePage-1)&^(hugePage-1) - addr)
	end := int((addr+uintptr(n))&^(hugePage-1) - addr)
	_ = unix.Madvise(buf[start:end], unix.MADV_HUGEPAGE) // only a hint: nothing to do if it is refused
	runtime.KeepAlive(buf)
	buf = nil
	runtime.GC() // frees the buffer, so that argon2's allocation can take its place
}
