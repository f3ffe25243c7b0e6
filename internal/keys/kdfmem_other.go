//go:build !linux

package keys

// prepareKDFMemory does nothing where transparent huge pages are not known.
func prepareKDFMemory(uint32, uint8) {}
