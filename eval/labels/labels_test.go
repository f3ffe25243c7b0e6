package labels

import (
	"reflect"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	a := &Labels{Scenario: "attack-x", Kind: Attack, Description: "a -> b", Files: map[string]File{
		"d/a.txt.abc": {Attacked: true, Technique: "encrypt-rename", Family: FamilyFull, Change: Renamed, From: "d/a.txt",
			Cipher: "aes-256-ctr", Encrypted: [][2]int64{{0, 10}}, Encoding: "raw"},
		"d/README_RESTORE.txt": {Attacked: true, Technique: "ransom-note", Family: FamilyNote, Change: Added},
		"d/gone":               {Attacked: true, Technique: "full-aes-ctr", Change: Deleted},
	}}
	b := &Labels{Scenario: "benign-y", Kind: Benign, Files: map[string]File{}}
	for _, l := range []*Labels{b, a} {
		if err := l.Write(dir); err != nil {
			t.Fatal(err)
		}
	}
	got, err := ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Scenario != "attack-x" || !reflect.DeepEqual(got[0], a) {
		t.Fatalf("round trip: %+v", got)
	}
	if want := []string{"d/README_RESTORE.txt", "d/a.txt.abc"}; !reflect.DeepEqual(a.AttackedPresent(), want) || a.Touched() != 2 {
		t.Errorf("attacked present %v", a.AttackedPresent())
	}
}
