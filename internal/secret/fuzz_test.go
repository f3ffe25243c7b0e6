package secret

import (
	"bytes"
	"errors"
	"testing"

	"github.com/bunkerhq/bunker/internal/fuzzseed"
)

const fuzzPlain = "fuzz seed secret"

// FuzzOpen feeds arbitrary bytes to Open. The only inputs that may open are
// secrets genuinely sealed by the fuzz box, and those hold fuzzPlain; every
// other input must fail with ErrSealed, and nothing may panic.
func FuzzOpen(f *testing.F) {
	b := newBox(f, testRoot(9), "fuzz")
	good, err := b.Seal([]byte(fuzzPlain), []byte("aad"))
	if err != nil {
		f.Fatal(err)
	}
	other, _ := newBox(f, testRoot(8), "fuzz").Seal([]byte(fuzzPlain), []byte("aad"))
	flipped := bytes.Clone(good)
	flipped[len(flipped)-1] ^= 1
	v2 := bytes.Clone(good)
	v2[0] = 2
	seeds := [][]byte{good, other, flipped, v2, good[:Overhead-1], good[:Overhead], {}, {1}}
	for _, s := range seeds {
		f.Add(s)
	}
	if fuzzseed.Enabled() {
		fuzzseed.Write(f, "FuzzOpen", seeds...)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		plain, err := b.Open(data, []byte("aad"))
		if err != nil {
			if !errors.Is(err, ErrSealed) || plain != nil {
				t.Fatalf("Open = %q, %v; want nil and ErrSealed", plain, err)
			}
			return
		}
		if string(plain) != fuzzPlain {
			t.Fatalf("Open accepted a forgery: %q", plain)
		}
	})
}
