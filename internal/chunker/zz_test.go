package chunker

import (
	"bytes"
	"testing"
)

func TestZZMean(t *testing.T) {
	for _, p := range []Params{smallParams, DefaultParams()} {
		data := randomData(256<<20, 2)
		chunks := chunkAll(t, bytes.NewReader(data), seedOf(2), p)
		t.Logf("%+v mean %.3f", p, float64(len(data))/float64(len(chunks))/float64(p.Avg))
	}
}
