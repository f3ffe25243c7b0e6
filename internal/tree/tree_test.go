package tree_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/bunkerhq/bunker/internal/blob"
	"github.com/bunkerhq/bunker/internal/fuzzseed"
	"github.com/bunkerhq/bunker/internal/tree"
)

func sampleTree() *tree.Tree {
	sub := blob.ID{1}
	return &tree.Tree{Nodes: []*tree.Node{
		{Name: "z", Type: tree.TypeFile, Mode: 0o4755, Size: 3, MTime: 1, Content: []blob.ID{{2}},
			Xattrs: []tree.Xattr{{Name: "user.a", Value: []byte{0, 1}}}},
		{Name: "a", Type: tree.TypeDir, Mode: 0o1777, Subtree: &sub},
		{Name: "l", Type: tree.TypeSymlink, Mode: 0o777, LinkTarget: "../x"},
		{Name: "d", Type: tree.TypeChar, Mode: 0o666, Rdev: 259},
	}}
}

func TestEncodeSortsAndRoundTrips(t *testing.T) {
	data, err := tree.Encode(sampleTree())
	if err != nil {
		t.Fatal(err)
	}
	got, err := tree.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, n := range got.Nodes {
		names = append(names, n.Name)
	}
	if len(names) != 4 || names[0] != "a" || names[3] != "z" {
		t.Fatalf("order %v", names)
	}
	if got.Find("z").Mode != 0o4755 || got.Find("l").LinkTarget != "../x" || got.Find("missing") != nil {
		t.Fatal("fields lost")
	}
	again, _ := tree.Encode(got)
	if string(again) != string(data) {
		t.Fatal("encoding is not canonical")
	}
}

func TestDecodeRejectsHostileTrees(t *testing.T) {
	for name, nodes := range map[string]string{
		"dotdot":       `[{"name":"..","type":"file"}]`,
		"slash":        `[{"name":"a/b","type":"file"}]`,
		"nul":          `[{"name":"a\u0000","type":"file"}]`,
		"duplicate":    `[{"name":"a","type":"file"},{"name":"a","type":"file"}]`,
		"unsorted":     `[{"name":"b","type":"file"},{"name":"a","type":"file"}]`,
		"unknown type": `[{"name":"a","type":"door"}]`,
		"mode bits":    `[{"name":"a","type":"file","mode":65535}]`,
		"dir no tree":  `[{"name":"a","type":"dir"}]`,
		"file subtree": `[{"name":"a","type":"file","subtree":"` + blob.ID{}.String() + `"}]`,
		"null node":    `[null]`,
		"extra field":  `[{"name":"a","type":"file","evil":1}]`,
	} {
		_, err := tree.Decode([]byte(`{"nodes":` + nodes + `}`))
		if !errors.Is(err, tree.ErrFormat) {
			t.Errorf("%s: err %v, want ErrFormat", name, err)
		}
	}
	if _, err := tree.Encode(&tree.Tree{Nodes: []*tree.Node{{Name: "..", Type: tree.TypeFile}}}); err == nil {
		t.Fatal("Encode accepted ..")
	}
}

func FuzzDecode(f *testing.F) {
	valid, _ := tree.Encode(sampleTree())
	empty, _ := json.Marshal(tree.Tree{})
	seeds := [][]byte{valid, empty, []byte(`{"nodes":[{"name":"..","type":"file"}]}`), []byte(`{`)}
	if fuzzseed.Enabled() {
		fuzzseed.Write(f, "FuzzDecode", seeds...)
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tr, err := tree.Decode(data)
		if err != nil {
			return
		}
		for _, n := range tr.Nodes {
			if tree.ValidName(n.Name) != nil {
				t.Fatalf("decoded an unsafe name %q", n.Name)
			}
		}
		if _, err := tree.Encode(tr); err != nil {
			t.Fatalf("decoded tree does not encode: %v", err)
		}
	})
}
