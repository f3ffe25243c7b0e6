package tree

import (
	"encoding/binary"
	"fmt"

	"github.com/bunkerhq/bunker/internal/blob"
)

// codecVersion is the version of the binary listing encoding.
const codecVersion = 1

// typeOrder lists node types in the order of their stored codes, from 1.
func typeOrder() [7]NodeType {
	return [7]NodeType{TypeFile, TypeDir, TypeSymlink, TypeBlock, TypeChar, TypeFIFO, TypeSocket}
}

// typeCode returns the stored code of t, or 0 for an unknown type.
func typeCode(t NodeType) byte {
	for i, x := range typeOrder() {
		if x == t {
			return byte(i + 1)
		}
	}
	return 0
}

// codeType returns the type stored as code c, or "" for an unknown code.
func codeType(c byte) NodeType {
	if c == 0 || int(c) > len(typeOrder()) {
		return ""
	}
	return typeOrder()[c-1]
}

// Node flags as stored.
const (
	flagSubtree = 1 << 0
)

// EncodeRaw encodes t as it is, without sorting or validating it. Only
// tests use it, to forge the hostile listings an attacker could store.
func EncodeRaw(t *Tree) []byte { return encode(nil, t) }

// encode appends the binary encoding of t to buf. See docs/FORMAT.md.
func encode(buf []byte, t *Tree) []byte {
	buf = append(buf, codecVersion)
	buf = binary.AppendUvarint(buf, uint64(len(t.Nodes)))
	for _, n := range t.Nodes {
		buf = encodeNode(buf, n)
	}
	return buf
}

func appendString(buf []byte, s string) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(s)))
	return append(buf, s...)
}

func encodeNode(buf []byte, n *Node) []byte {
	buf = appendString(buf, n.Name)
	var flags byte
	if n.Subtree != nil {
		flags |= flagSubtree
	}
	buf = append(buf, typeCode(n.Type), flags)
	for _, v := range []uint64{uint64(n.Mode), uint64(n.UID), uint64(n.GID), n.Size, n.Device, n.Inode, n.Links, n.Rdev} {
		buf = binary.AppendUvarint(buf, v)
	}
	for _, v := range []int64{n.MTime, n.ATime, n.CTime} {
		buf = binary.AppendVarint(buf, v)
	}
	for _, s := range []string{n.User, n.Group, n.LinkTarget, n.Error} {
		buf = appendString(buf, s)
	}
	buf = binary.AppendUvarint(buf, uint64(len(n.Xattrs)))
	for _, x := range n.Xattrs {
		buf = appendString(buf, x.Name)
		buf = appendString(buf, string(x.Value))
	}
	buf = binary.AppendUvarint(buf, uint64(len(n.Content)))
	for _, id := range n.Content {
		buf = append(buf, id[:]...)
	}
	if n.Subtree != nil {
		buf = append(buf, n.Subtree[:]...)
	}
	return buf
}

// decoder reads the binary encoding; the first error sticks.
type decoder struct {
	buf         []byte
	err         error
	user, group string // the last owner names read (see owner)
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrFormat, fmt.Sprintf(format, args...))
	}
}

func (d *decoder) uvarint(what string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.buf)
	if n <= 0 || !canonical(d.buf[:n]) {
		d.fail("truncated or non-canonical %s", what)
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

// canonical reports whether enc, a whole varint as binary.Uvarint or
// binary.Varint read it, is the shortest encoding of its value: a longer
// one ends in a group of zero bits.
func canonical(enc []byte) bool {
	return len(enc) == 1 || enc[len(enc)-1] != 0
}

func (d *decoder) varint(what string) int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.buf)
	if n <= 0 || !canonical(d.buf[:n]) {
		d.fail("truncated or non-canonical %s", what)
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

func (d *decoder) uint32(what string) uint32 {
	v := d.uvarint(what)
	if v > 1<<32-1 {
		d.fail("%s %d does not fit 32 bits", what, v)
	}
	return uint32(v)
}

// count reads a count of items of at least minSize bytes each, bounded by
// what is left of the input, so a hostile count cannot force a huge
// allocation.
func (d *decoder) count(what string, minSize int) int {
	v := d.uvarint(what)
	if d.err == nil && v > uint64(len(d.buf)/minSize) {
		d.fail("%s %d exceeds the data left", what, v)
		return 0
	}
	return int(v)
}

func (d *decoder) bytes(what string, n int) []byte {
	if d.err != nil {
		return nil
	}
	if n > len(d.buf) {
		d.fail("truncated %s", what)
		return nil
	}
	b := d.buf[:n:n]
	d.buf = d.buf[n:]
	return b
}

func (d *decoder) string(what string) string {
	return string(d.bytes(what, d.count(what+" length", 1)))
}

// owner reads a user or group name. A listing's entries nearly all share
// one owner, so the last name read is kept and returned again when the next
// one is the same, rather than allocated anew for every entry.
func (d *decoder) owner(what string, last *string) string {
	b := d.bytes(what, d.count(what+" length", 1))
	if string(b) != *last {
		*last = string(b)
	}
	return *last
}

func (d *decoder) id(what string) blob.ID {
	var id blob.ID
	copy(id[:], d.bytes(what, blob.IDSize))
	return id
}

// decode parses the binary encoding of a listing without validating it.
func decode(data []byte) (*Tree, error) {
	if len(data) == 0 || data[0] != codecVersion {
		return nil, fmt.Errorf("%w: unsupported listing version", ErrFormat)
	}
	d := &decoder{buf: data[1:]}
	// A node takes at least 20 bytes (name length, type, flags, 8 uvarints,
	// 3 varints, 4 string lengths, 2 counts, less the name).
	n := d.count("node count", 20)
	if n > MaxNodes {
		return nil, fmt.Errorf("%w: %d entries exceeds %d", ErrFormat, n, MaxNodes)
	}
	// The nodes are allocated together: a listing is decoded whole and
	// its nodes live as long as it does.
	slab := make([]Node, n)
	t := &Tree{Nodes: make([]*Node, 0, n)}
	for i := 0; i < n && d.err == nil; i++ {
		d.node(&slab[i])
		t.Nodes = append(t.Nodes, &slab[i])
	}
	if d.err == nil && len(d.buf) > 0 {
		d.fail("%d trailing bytes", len(d.buf))
	}
	if d.err != nil {
		return nil, d.err
	}
	return t, nil
}

// node decodes one entry into n.
func (d *decoder) node(n *Node) {
	n.Name = d.string("name")
	tf := d.bytes("type", 2)
	if d.err != nil {
		return
	}
	if n.Type = codeType(tf[0]); n.Type == "" {
		d.fail("%q: unknown type code %d", n.Name, tf[0])
		return
	}
	if tf[1]&^flagSubtree != 0 {
		d.fail("%q: unknown flags %#x", n.Name, tf[1])
		return
	}
	n.Mode, n.UID, n.GID = d.uint32("mode"), d.uint32("uid"), d.uint32("gid")
	n.Size, n.Device, n.Inode = d.uvarint("size"), d.uvarint("device"), d.uvarint("inode")
	n.Links, n.Rdev = d.uvarint("links"), d.uvarint("rdev")
	n.MTime, n.ATime, n.CTime = d.varint("mtime"), d.varint("atime"), d.varint("ctime")
	n.User, n.Group = d.owner("user", &d.user), d.owner("group", &d.group)
	n.LinkTarget, n.Error = d.string("link target"), d.string("error")
	if nx := d.count("xattr count", 2); nx > 0 {
		n.Xattrs = make([]Xattr, 0, nx)
		for range nx {
			n.Xattrs = append(n.Xattrs, Xattr{Name: d.string("xattr name"), Value: []byte(d.string("xattr value"))})
		}
	}
	if nc := d.count("content count", blob.IDSize); nc > 0 {
		n.Content = make([]blob.ID, nc)
		for i := range n.Content {
			n.Content[i] = d.id("content id")
		}
	}
	if tf[1]&flagSubtree != 0 {
		id := d.id("subtree id")
		n.Subtree = &id
	}
}
