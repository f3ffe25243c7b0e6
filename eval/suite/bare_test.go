package suite

import (
	"testing"

	"github.com/bunkerhq/bunker/eval/corpus"
)

// TestBareMachine builds the set with no real files at all (a minimal CI
// container): every category but binaries and fonts is generated and every
// scenario but the binary upgrade runs.
func TestBareMachine(t *testing.T) {
	m, err := Generate(t.TempDir(), Options{Seed: 5, Budget: 4 << 20, Roots: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	for c, st := range m.Corpus.Stats {
		if st.Found != 0 {
			t.Errorf("%s: found %d files with no roots", c, st.Found)
		}
		if st.Generated == 0 && c != corpus.Binary && c != corpus.Font {
			t.Errorf("%s: nothing generated", c)
		}
	}
	for _, p := range m.Points {
		if (p.Skipped != "") != (p.Name == "benign-upgrade-binaries") {
			t.Errorf("%s: skipped=%q", p.Name, p.Skipped)
		}
		if p.Kind == "attack" && !p.Probe && p.Attacked < 20 {
			t.Errorf("%s: only %d attacked files", p.Name, p.Attacked)
		}
	}
}
