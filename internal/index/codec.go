package index

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/bunkerhq/bunker/internal/blob"
	"github.com/bunkerhq/bunker/internal/crypto"
	"github.com/bunkerhq/bunker/internal/pack"
)

// codecVersion is the version of the encoded index payload.
const codecVersion = 1

// maxEntries bounds what a decoder accepts, so a hostile index cannot make
// it allocate without limit.
const maxEntries = 1 << 26

// ErrFormat reports a malformed index payload.
var ErrFormat = errors.New("malformed index")

// PackEntries is the list of blobs in one pack, as recorded by an index object.
type PackEntries struct {
	Pack    blob.ID
	Salt    [crypto.SaltSize]byte
	Entries []pack.Entry
}

// Encode returns the plaintext payload of an index object for the given packs.
// Layout: version (1) | pack count (uvarint) | for each pack: id (32) | blob
// count (uvarint) | salt (32) | per blob: type (1) | flags (1) | offset, length, raw length
// (uvarints) | id (32).
func Encode(packs []PackEntries) []byte {
	buf := []byte{codecVersion}
	buf = binary.AppendUvarint(buf, uint64(len(packs)))
	for _, p := range packs {
		buf = append(buf, p.Pack[:]...)
		buf = binary.AppendUvarint(buf, uint64(len(p.Entries)))
		buf = append(buf, p.Salt[:]...)
		for _, e := range p.Entries {
			buf = append(buf, byte(e.Type), e.Flags)
			buf = binary.AppendUvarint(buf, e.Offset)
			buf = binary.AppendUvarint(buf, uint64(e.Length))
			buf = binary.AppendUvarint(buf, uint64(e.RawLen))
			buf = append(buf, e.ID[:]...)
		}
	}
	return buf
}

type decoder struct {
	buf []byte
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrFormat, fmt.Sprintf(format, args...))
	}
}

func (d *decoder) uvarint(what string, limit uint64) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.buf)
	if n <= 0 {
		d.fail("truncated %s", what)
		return 0
	}
	if v > limit {
		d.fail("%s %d exceeds %d", what, v, limit)
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

func (d *decoder) bytes(what string, n int) []byte {
	if d.err != nil {
		return nil
	}
	if len(d.buf) < n {
		d.fail("truncated %s", what)
		return nil
	}
	b := d.buf[:n]
	d.buf = d.buf[n:]
	return b
}

func (d *decoder) id(what string) blob.ID {
	var id blob.ID
	copy(id[:], d.bytes(what, blob.IDSize))
	return id
}

// Decode parses an index payload produced by Encode.
func Decode(buf []byte) ([]PackEntries, error) {
	if len(buf) == 0 || buf[0] != codecVersion {
		return nil, fmt.Errorf("%w: unsupported version", ErrFormat)
	}
	d := &decoder{buf: buf[1:]}
	// Each pack needs at least 33 bytes and each blob 37, which bounds the
	// counts by the input size before anything is allocated.
	npacks := d.uvarint("pack count", uint64(len(d.buf)/(blob.IDSize+crypto.SaltSize+1)))
	var out []PackEntries
	for i := uint64(0); i < npacks && d.err == nil; i++ {
		p := PackEntries{Pack: d.id("pack id")}
		n := d.uvarint("blob count", min(maxEntries, uint64(len(d.buf)/(blob.IDSize+5))))
		copy(p.Salt[:], d.bytes("salt", crypto.SaltSize))
		p.Entries = make([]pack.Entry, 0, n)
		for j := uint64(0); j < n && d.err == nil; j++ {
			p.Entries = append(p.Entries, d.entry())
		}
		out = append(out, p)
	}
	if d.err == nil && len(d.buf) != 0 {
		d.fail("%d trailing bytes", len(d.buf))
	}
	if d.err != nil {
		return nil, d.err
	}
	return out, nil
}

func (d *decoder) entry() pack.Entry {
	tf := d.bytes("blob type", 2)
	if d.err != nil {
		return pack.Entry{}
	}
	e := pack.Entry{Type: blob.Type(tf[0]), Flags: tf[1]}
	e.Offset = d.uvarint("offset", 1<<40)
	e.Length = uint32(d.uvarint("length", pack.MaxBlobSize))
	e.RawLen = uint32(d.uvarint("raw length", pack.MaxBlobSize))
	e.ID = d.id("blob id")
	if d.err == nil && !e.Type.Valid() {
		d.fail("unknown blob type %d", e.Type)
	}
	return e
}

// Snapshot returns the packs of x in a stable order, for writing a full index.
func (x *Index) Snapshot() []PackEntries {
	contents := x.PackContents()
	out := make([]PackEntries, 0, len(contents))
	for _, p := range contents {
		slices.SortFunc(p.Entries, func(a, b pack.Entry) int { return cmp.Compare(a.Offset, b.Offset) })
		out = append(out, *p)
	}
	slices.SortFunc(out, func(a, b PackEntries) int { return bytes.Compare(a.Pack[:], b.Pack[:]) })
	return out
}
