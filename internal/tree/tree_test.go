package tree_test

import (
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
	sub := blob.ID{1}
	file := func(name string) *tree.Node { return &tree.Node{Name: name, Type: tree.TypeFile} }
	for name, nodes := range map[string][]*tree.Node{
		"dotdot":       {file("..")},
		"dot":          {file(".")},
		"empty":        {file("")},
		"slash":        {file("a/b")},
		"nul":          {file("a\x00")},
		"duplicate":    {file("a"), file("a")},
		"unsorted":     {file("b"), file("a")},
		"unknown type": {{Name: "a", Type: "door"}},
		"mode bits":    {{Name: "a", Type: tree.TypeFile, Mode: 0o170000}},
		"dir no tree":  {{Name: "a", Type: tree.TypeDir}},
		"file subtree": {{Name: "a", Type: tree.TypeFile, Subtree: &sub}},
		"link on file": {{Name: "a", Type: tree.TypeFile, LinkTarget: "x"}},
		"dir content":  {{Name: "a", Type: tree.TypeDir, Subtree: &sub, Content: []blob.ID{{2}}}},
	} {
		_, err := tree.Decode(tree.EncodeRaw(&tree.Tree{Nodes: nodes}))
		if !errors.Is(err, tree.ErrFormat) {
			t.Errorf("%s: err %v, want ErrFormat", name, err)
		}
	}
	valid, _ := tree.Encode(sampleTree())
	for name, data := range map[string][]byte{
		"no data":     nil,
		"version":     append([]byte{9}, valid[1:]...),
		"truncated":   valid[:len(valid)-3],
		"trailing":    append(append([]byte(nil), valid...), 0),
		"huge count":  {1, 0xff, 0xff, 0xff, 0xff, 0x0f},
		"huge string": {1, 1, 0xff, 0xff, 0xff, 0xff, 0x0f, 'a'},
	} {
		if _, err := tree.Decode(data); !errors.Is(err, tree.ErrFormat) {
			t.Errorf("%s: err %v, want ErrFormat", name, err)
		}
	}
	// A number written longer than it needs (a padded varint) would let
	// two encodings name one listing.
	one := tree.EncodeRaw(&tree.Tree{Nodes: []*tree.Node{file("a")}})
	if _, err := tree.Decode(one); err != nil || one[1] != 1 {
		t.Fatalf("one-entry listing: %v (count byte %#x)", err, one[1])
	}
	for name, data := range map[string][]byte{
		"padded count":        append([]byte{1, 0x81, 0x00}, one[2:]...),
		"padded name length":  append([]byte{1, 1, 0x81, 0x00}, one[3:]...),
		"padded zero counted": append([]byte{1, 0x81, 0x80, 0x00}, one[2:]...),
	} {
		if _, err := tree.Decode(data); !errors.Is(err, tree.ErrFormat) {
			t.Errorf("%s: err %v, want ErrFormat", name, err)
		}
	}
	if _, err := tree.Encode(&tree.Tree{Nodes: []*tree.Node{file("..")}}); err == nil {
		t.Fatal("Encode accepted ..")
	}
}

func FuzzDecode(f *testing.F) {
	valid, _ := tree.Encode(sampleTree())
	empty, _ := tree.Encode(&tree.Tree{})
	hostile := tree.EncodeRaw(&tree.Tree{Nodes: []*tree.Node{{Name: "..", Type: tree.TypeFile}}})
	seeds := [][]byte{valid, empty, hostile, {1}}
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
		again, err := tree.Encode(tr)
		if err != nil {
			t.Fatalf("decoded tree does not encode: %v", err)
		}
		if string(again) != string(data) {
			t.Fatal("a decoded listing does not re-encode to the same bytes")
		}
	})
}
