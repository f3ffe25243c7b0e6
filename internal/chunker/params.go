package chunker

import (
	"fmt"
	"math/bits"
)

// Size limits accepted by Params.Validate.
const (
	// MinSize is the smallest allowed Params.Min; the rolling hash window is
	// 64 bytes.
	MinSize = 64
	// MaxSize is the largest allowed Params.Max. A Chunker buffers up to
	// twice Max bytes.
	MaxSize = 64 << 20
	// minSpread is the smallest allowed gap between Min and Avg.
	minSpread = 64
)

// normShift sets how much stricter the threshold is before Avg, and how
// much looser after it: a factor of 1<<normShift each way.
const normShift = 2

// Params bounds the size of the chunks a Chunker emits. Every chunk except
// the last of a stream is at least Min and at most Max bytes long; the mean
// size is close to Avg.
type Params struct {
	Min, Avg, Max int
}

// DefaultParams returns the parameters bunker uses for file and stream
// content. See the package documentation for how they were chosen.
func DefaultParams() Params {
	return Params{Min: 512 << 10, Avg: 1 << 20, Max: 8 << 20}
}

// Validate reports whether p describes a usable chunker.
func (p Params) Validate() error {
	switch {
	case p.Min < MinSize:
		return fmt.Errorf("chunker params: min %d is below %d bytes", p.Min, MinSize)
	case p.Max > MaxSize:
		return fmt.Errorf("chunker params: max %d is above %d bytes", p.Max, MaxSize)
	case p.Max <= p.Avg:
		return fmt.Errorf("chunker params: max %d must be larger than avg %d", p.Max, p.Avg)
	case p.Avg < p.Min || p.Avg-p.Min < minSpread: // Avg < MaxSize here, so no overflow
		return fmt.Errorf("chunker params: avg %d must exceed min %d by at least %d bytes", p.Avg, p.Min, minSpread)
	}
	return nil
}

// thresholds returns the cut thresholds before and after Avg: a position
// ends a chunk when the rolling hash is below the threshold, which happens
// with probability threshold/2^64: 1/(4*spread) before Avg, 4/spread after.
func (p Params) thresholds() (strict, loose uint64) {
	spread := uint64(p.Avg - p.Min)
	strict = (1 << (64 - normShift)) / spread
	loose, _ = bits.Div64(1<<normShift, 0, spread) // (4 << 64) / spread; spread > 4
	return strict, loose
}
