package scan

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strconv"
	"unicode/utf8"

	"github.com/klauspost/compress/flate"
)

// problem is a structure violation found by a format check.
type problem struct{ msg string }

// Error returns the description of the violation.
func (p *problem) Error() string { return p.msg }

func bad(format string, args ...any) error {
	return &problem{fmt.Sprintf(format, args...)}
}

// checkFormat runs the structure check of f. It returns the problem found
// ("" when the structure is valid as far as it was checked) or an error
// when reading failed for another reason than the data itself.
func checkFormat(s *source, f Format, regions []RegionStats) (string, error) {
	var err error
	switch f {
	case FormatZIP, FormatOffice:
		err = checkZIP(s)
	case FormatPDF:
		err = checkPDF(s)
	case FormatJPEG:
		err = checkJPEG(s)
	case FormatPNG:
		err = checkPNG(s)
	case FormatGIF:
		err = checkGIF(s)
	case FormatSQLite:
		err = checkSQLite(s)
	case FormatELF:
		err = checkELF(s)
	case FormatGzip:
		err = checkGzip(s)
	case FormatXZ:
		err = checkXZ(s)
	case FormatZstd:
		err = checkZstd(s)
	case FormatBzip2:
		err = checkBzip2(s)
	case FormatTar:
		err = checkTar(s)
	case FormatMP4:
		err = checkMP4(s)
	case FormatRIFF:
		err = checkRIFF(s)
	case FormatText:
		err = checkText(s, regions)
	default:
		return "", nil
	}
	var pr *problem
	switch {
	case err == nil, errors.Is(err, errBudget):
		return "", nil
	case errors.As(err, &pr):
		return pr.msg, nil
	case errors.Is(err, errOutside):
		return "truncated: " + err.Error(), nil
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return "", fmt.Errorf("check %s: %w", f, err)
	}
	return "", fmt.Errorf("check %s: %w", f, err)
}

// errOutside is a read past the end of the file: a length or offset in the
// data points outside it.
var errOutside = errors.New("data points past the end of the file")

// at reads n bytes at off, failing with errOutside beyond the file.
func (s *source) at(off int64, n int64) ([]byte, error) {
	if off < 0 || n < 0 || off > s.size || n > s.size-off {
		return nil, fmt.Errorf("%d bytes at %d: %w", n, off, errOutside)
	}
	return s.bytesAt(off, int(n))
}

func le16(b []byte) uint16 { return binary.LittleEndian.Uint16(b) }
func le32(b []byte) uint32 { return binary.LittleEndian.Uint32(b) }
func le64(b []byte) uint64 { return binary.LittleEndian.Uint64(b) }
func be16(b []byte) uint16 { return binary.BigEndian.Uint16(b) }
func be32(b []byte) uint32 { return binary.BigEndian.Uint32(b) }

// ---- ZIP ----

const zipCDRead = 256 << 10

func checkZIP(s *source) error {
	n := min(s.size, 65535+22)
	t, err := s.at(s.size-n, n)
	if err != nil {
		return err
	}
	eocd := -1
	for i := len(t) - 22; i >= 0; i-- {
		if t[i] == 'P' && t[i+1] == 'K' && t[i+2] == 5 && t[i+3] == 6 {
			if i+22+int(le16(t[i+20:])) <= len(t) {
				eocd = i
				break
			}
		}
	}
	if eocd < 0 {
		return bad("zip: no end of central directory record")
	}
	e := t[eocd:]
	eocdOff := s.size - n + int64(eocd)
	entries := uint64(le16(e[10:]))
	cdSize := uint64(le32(e[12:]))
	cdOff := uint64(le32(e[16:]))
	cdEnd := eocdOff
	if entries == 0xFFFF || cdSize == 0xFFFFFFFF || cdOff == 0xFFFFFFFF {
		loc, err := s.at(eocdOff-20, 20)
		if err != nil {
			return err
		}
		if !bytes.Equal(loc[:4], []byte("PK\x06\x07")) {
			return bad("zip: zip64 locator missing")
		}
		z64 := int64(le64(loc[8:]))
		if z64 < 0 || z64 > eocdOff-20 {
			return bad("zip: zip64 record offset out of range")
		}
		r, err := s.at(z64, 56)
		if err != nil {
			return err
		}
		if !bytes.Equal(r[:4], []byte("PK\x06\x06")) {
			return bad("zip: zip64 end record missing")
		}
		entries, cdSize, cdOff = le64(r[32:]), le64(r[40:]), le64(r[48:])
		cdEnd = z64
	}
	if cdSize > uint64(cdEnd) || cdOff > uint64(cdEnd) {
		return bad("zip: central directory out of range")
	}
	shift := cdEnd - int64(cdSize) - int64(cdOff)
	if shift < 0 {
		return bad("zip: central directory overlaps its end record")
	}
	if entries == 0 {
		if cdSize != 0 {
			return bad("zip: entries in a directory said empty")
		}
		return nil
	}
	readN := min(int64(cdSize), zipCDRead)
	cd, err := s.at(int64(cdOff)+shift, readN)
	if err != nil {
		return err
	}
	type ent struct {
		name           []byte
		method, flags  uint16
		comp, localOff uint64
	}
	var ents []ent
	off := 0
	for off+46 <= len(cd) {
		c := cd[off:]
		if !bytes.Equal(c[:4], []byte("PK\x01\x02")) {
			return bad("zip: bad central directory entry signature at %d", int64(cdOff)+shift+int64(off))
		}
		nl, xl, cl := int(le16(c[28:])), int(le16(c[30:])), int(le16(c[32:]))
		if 46+nl+xl+cl > len(c) {
			if int64(len(cd)) == int64(cdSize) {
				return bad("zip: central directory entry runs past the directory")
			}
			break
		}
		en := ent{name: c[46 : 46+nl], flags: le16(c[8:]), method: le16(c[10:]), comp: uint64(le32(c[20:])), localOff: uint64(le32(c[42:]))}
		if en.comp == 0xFFFFFFFF || en.localOff == 0xFFFFFFFF {
			zip64Extra(c[46+nl:46+nl+xl], le32(c[24:]) == 0xFFFFFFFF, &en.comp, &en.localOff)
		}
		ents = append(ents, en)
		off += 46 + nl + xl + cl
	}
	if int64(len(cd)) == int64(cdSize) && (uint64(len(ents)) != entries && uint64(len(ents))&0xFFFF != entries&0xFFFF) {
		return bad("zip: central directory holds %d entries, end record says %d", len(ents), entries)
	}
	if len(ents) == 0 {
		return bad("zip: empty central directory")
	}
	// Sample up to 8 entries spread over the directory.
	k := min(len(ents), 8)
	inflated := 0
	for i := 0; i < k; i++ {
		j := i * (len(ents) - 1) / max(k-1, 1)
		en := ents[j]
		lo := int64(en.localOff) + shift
		lh, err := s.at(lo, 30)
		if err != nil {
			return err
		}
		if !bytes.Equal(lh[:4], []byte("PK\x03\x04")) {
			return bad("zip: no local header for %q at %d", en.name, lo)
		}
		nl, xl := int64(le16(lh[26:])), int64(le16(lh[28:]))
		name, err := s.at(lo+30, nl)
		if err != nil {
			return err
		}
		if !bytes.Equal(name, en.name) {
			return bad("zip: local header name differs from the directory at %d", lo)
		}
		if en.method == 8 && en.flags&1 == 0 && en.comp > 0 && inflated < 3 {
			inflated++
			in := min(int64(en.comp), 16<<10)
			data, err := s.at(lo+30+nl+xl, in)
			if err != nil {
				return err
			}
			if err := inflateCheck(s.ws, data, int64(en.comp) == in); err != nil {
				return bad("zip: entry %q: %v", en.name, err)
			}
		}
	}
	return nil
}

// zip64Extra reads the zip64 extended information extra field.
func zip64Extra(x []byte, hasUncomp bool, comp, localOff *uint64) {
	for len(x) >= 4 {
		id, sz := le16(x), int(le16(x[2:]))
		if 4+sz > len(x) {
			return
		}
		if id == 1 {
			d := x[4 : 4+sz]
			if hasUncomp && len(d) >= 8 {
				d = d[8:]
			}
			if *comp == 0xFFFFFFFF && len(d) >= 8 {
				*comp = le64(d)
				d = d[8:]
			}
			if *localOff == 0xFFFFFFFF && len(d) >= 8 {
				*localOff = le64(d)
			}
			return
		}
		x = x[4+sz:]
	}
}

// inflateCheck decodes the start of a raw deflate stream; complete says the
// stream ends within data. At most 256 KiB are decoded.
func inflateCheck(ws *workspace, data []byte, complete bool) error {
	fr, err := ws.inflater(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("corrupt deflate data: %w", err)
	}
	_, err = io.CopyBuffer(io.Discard, io.LimitReader(fr, 256<<10), ws.copyBuffer())
	var ce flate.CorruptInputError
	switch {
	case errors.As(err, &ce):
		return fmt.Errorf("corrupt deflate data: %w", err)
	case errors.Is(err, io.ErrUnexpectedEOF) && complete:
		return fmt.Errorf("truncated deflate data: %w", err)
	}
	return nil
}

// ---- PDF ----

func checkPDF(s *source) error {
	h, err := s.at(0, min(s.size, 64<<10))
	if err != nil {
		return err
	}
	base := pdfHeaderAt(h)
	if base < 0 {
		return bad("pdf: no %%PDF header")
	}
	if !hasObj(h) {
		return bad("pdf: no object in the first %d bytes", len(h))
	}
	tn := min(s.size, 4096)
	t, err := s.at(s.size-tn, tn)
	if err != nil {
		return err
	}
	if !bytes.Contains(t, []byte("%%EOF")) {
		return bad("pdf: no %%%%EOF near the end")
	}
	i := bytes.LastIndex(t, []byte("startxref"))
	if i < 0 {
		return bad("pdf: no startxref near the end")
	}
	rest := bytes.TrimLeft(t[i+9:], " \t\r\n")
	j := 0
	for j < len(rest) && j < 20 && rest[j] >= '0' && rest[j] <= '9' {
		j++
	}
	x, err := strconv.ParseInt(string(rest[:j]), 10, 64)
	if err != nil {
		return bad("pdf: startxref without an offset")
	}
	// Offsets count from the header when junk precedes it.
	for _, o := range []int64{x, x + int64(base)} {
		if o < 0 || o >= s.size {
			continue
		}
		p, err := s.at(o, min(64, s.size-o))
		if err != nil {
			return err
		}
		p = bytes.TrimLeft(p, " \t\r\n")
		if bytes.HasPrefix(p, []byte("xref")) || objHeader(p) {
			return nil
		}
	}
	return bad("pdf: startxref %d does not point at a cross-reference", x)
}

// hasObj reports whether p contains "N G obj".
func hasObj(p []byte) bool {
	for i := 0; ; {
		k := bytes.Index(p[i:], []byte(" obj"))
		if k < 0 {
			return false
		}
		k += i
		st := max(0, k-24)
		if objHeader(bytes.TrimLeft(p[st:k+4], "\r\n\t ")) || objTail(p[st:k]) {
			return true
		}
		i = k + 4
	}
}

// objTail reports whether p ends in "N G".
func objTail(p []byte) bool {
	i := len(p)
	d := 0
	for i > 0 && p[i-1] >= '0' && p[i-1] <= '9' {
		i--
		d++
	}
	if d == 0 || i == 0 || p[i-1] != ' ' {
		return false
	}
	i--
	d = 0
	for i > 0 && p[i-1] >= '0' && p[i-1] <= '9' {
		i--
		d++
	}
	return d > 0
}

// objHeader reports whether p starts with "N G obj".
func objHeader(p []byte) bool {
	i := 0
	digits := func() bool {
		st := i
		for i < len(p) && p[i] >= '0' && p[i] <= '9' {
			i++
		}
		return i > st
	}
	if !digits() || i >= len(p) || p[i] != ' ' {
		return false
	}
	i++
	if !digits() || i >= len(p) || p[i] != ' ' {
		return false
	}
	return bytes.HasPrefix(p[i+1:], []byte("obj"))
}

// ---- JPEG ----

func checkJPEG(s *source) error {
	off := int64(2)
	scan := int64(-1)
	for steps := 0; steps < 1000; steps++ {
		b, err := s.at(off, 4)
		if err != nil {
			return err
		}
		if b[0] != 0xFF {
			return bad("jpeg: no marker at %d", off)
		}
		m := b[1]
		switch {
		case m == 0xFF:
			off++
			continue
		case m == 0x01 || (m >= 0xD0 && m <= 0xD8):
			off += 2
			continue
		case m == 0xD9:
			return bad("jpeg: image ends before any scan")
		case m < 0xC0:
			return bad("jpeg: invalid marker %#x at %d", m, off)
		}
		l := int64(be16(b[2:]))
		if l < 2 {
			return bad("jpeg: segment length %d at %d", l, off)
		}
		off += 2 + l
		if off > s.size {
			return bad("jpeg: segment runs past the end")
		}
		if m == 0xDA {
			scan = off
			break
		}
	}
	if scan < 0 {
		return nil
	}
	t, _ := s.tail()
	if t == nil {
		var err error
		if t, err = s.at(s.size-min(s.size, 4096), min(s.size, 4096)); err != nil {
			return err
		}
	}
	eoi := bytes.LastIndex(t, []byte{0xFF, 0xD9})
	if eoi < 0 {
		return bad("jpeg: no end-of-image marker near the end")
	}
	end := s.size - int64(len(t)) + int64(eoi)
	// Entropy-coded data may hold 0xFF only as stuffing, restart or
	// another marker; random bytes break that rule many times per cell.
	for i, sp := range s.bufs {
		d := s.data[i]
		for c := int64(0); c < int64(len(d)); c += 4096 {
			lo, hi := sp.off+c, min(sp.off+c+4096, sp.off+int64(len(d)))
			if lo < scan || hi > end {
				continue
			}
			cell := d[c : hi-sp.off]
			bad1 := 0
			for j := 0; j+1 < len(cell); j++ {
				if cell[j] != 0xFF {
					continue
				}
				switch n := cell[j+1]; {
				case n == 0, n == 0xFF, n >= 0xD0 && n <= 0xDD, n == 0xC4, n == 0xCC, n == 0xFE, n >= 0xE0 && n <= 0xEF, n >= 0xC0 && n <= 0xC2:
				default:
					bad1++
				}
			}
			if bad1 >= 3 {
				return bad("jpeg: entropy-coded data broken at %d", lo)
			}
		}
	}
	return nil
}

// ---- PNG ----

const pngSig = "\x89PNG\r\n\x1a\n"

func checkPNG(s *source) error {
	off := int64(8)
	for steps := 0; steps < 8192; steps++ {
		h, err := s.at(off, 8)
		if err != nil {
			return err
		}
		n := int64(be32(h))
		typ := h[4:8]
		if n > 1<<31-1 {
			return bad("png: chunk length %d at %d", n, off)
		}
		for _, c := range typ {
			if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
				return bad("png: invalid chunk type at %d", off)
			}
		}
		if steps == 0 && (string(typ) != "IHDR" || n != 13) {
			return bad("png: first chunk is not IHDR")
		}
		if off+12+n > s.size {
			return bad("png: chunk at %d runs past the end", off)
		}
		if steps == 0 || s.buffered(off, 12+n) {
			c, err := s.at(off+4, n+8)
			if err != nil {
				return err
			}
			if crc32.ChecksumIEEE(c[:n+4]) != be32(c[n+4:]) {
				return bad("png: CRC mismatch in %s chunk at %d", typ, off)
			}
		}
		off += 12 + n
		if string(typ) == "IEND" {
			return nil
		}
	}
	return nil
}

// buffered reports whether [off, off+n) lies inside one sampled buffer.
func (s *source) buffered(off, n int64) bool {
	for i, b := range s.bufs {
		if off >= b.off && off+n <= b.off+int64(len(s.data[i])) {
			return true
		}
	}
	return false
}

// ---- GIF ----

// cursor reads a file sequentially through a small window.
type cursor struct {
	s   *source
	off int64
	win []byte
	wo  int64
}

func (c *cursor) byte() (byte, error) {
	if c.off < c.wo || c.off >= c.wo+int64(len(c.win)) {
		n := min(int64(4096), c.s.size-c.off)
		if n <= 0 {
			return 0, fmt.Errorf("byte at %d: %w", c.off, errOutside)
		}
		w, err := c.s.at(c.off, n)
		if err != nil {
			return 0, err
		}
		c.win, c.wo = w, c.off
	}
	b := c.win[c.off-c.wo]
	c.off++
	return b, nil
}

// subBlocks skips a chain of GIF data sub-blocks.
func (c *cursor) subBlocks() error {
	for {
		n, err := c.byte()
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		c.off += int64(n)
		if c.off > c.s.size {
			return bad("gif: sub-block runs past the end")
		}
	}
}

func checkGIF(s *source) error {
	h, err := s.at(0, 13)
	if err != nil {
		return err
	}
	c := &cursor{s: s, off: 13}
	if h[10]&0x80 != 0 {
		c.off += 3 << (h[10]&7 + 1)
	}
	for steps := 0; steps < 100000; steps++ {
		b, err := c.byte()
		if err != nil {
			return err
		}
		switch b {
		case 0x3B:
			return nil
		case 0x21:
			if _, err := c.byte(); err != nil {
				return err
			}
			if err := c.subBlocks(); err != nil {
				return err
			}
		case 0x2C:
			d := make([]byte, 9)
			for i := range d {
				if d[i], err = c.byte(); err != nil {
					return err
				}
			}
			if d[8]&0x80 != 0 {
				c.off += 3 << (d[8]&7 + 1)
			}
			lzw, err := c.byte()
			if err != nil {
				return err
			}
			if lzw < 1 || lzw > 11 {
				return bad("gif: LZW code size %d at %d", lzw, c.off-1)
			}
			if err := c.subBlocks(); err != nil {
				return err
			}
		default:
			return bad("gif: unknown block %#x at %d", b, c.off-1)
		}
	}
	return nil
}

// ---- SQLite ----

const sqliteSig = "SQLite format 3\x00"

func checkSQLite(s *source) error {
	h, err := s.at(0, 100)
	if err != nil {
		return err
	}
	ps := int64(be16(h[16:]))
	if ps == 1 {
		ps = 65536
	}
	if ps < 512 || ps > 65536 || ps&(ps-1) != 0 {
		return bad("sqlite: page size %d", ps)
	}
	if h[18] < 1 || h[18] > 2 || h[19] < 1 || h[19] > 2 {
		return bad("sqlite: file format versions %d/%d", h[18], h[19])
	}
	if h[21] != 64 || h[22] != 32 || h[23] != 32 {
		return bad("sqlite: payload fractions %d/%d/%d", h[21], h[22], h[23])
	}
	if int64(h[20]) >= ps-480 {
		return bad("sqlite: reserved space %d", h[20])
	}
	if sf := be32(h[44:]); sf > 4 {
		return bad("sqlite: schema format %d", sf)
	}
	if enc := be32(h[56:]); enc > 3 {
		return bad("sqlite: text encoding %d", enc)
	}
	if s.size%ps != 0 {
		return bad("sqlite: size %d is not a multiple of the page size %d", s.size, ps)
	}
	pages := s.size / ps
	if be32(h[24:]) == be32(h[92:]) {
		if n := int64(be32(h[28:])); n > pages {
			return bad("sqlite: header says %d pages, file holds %d", n, pages)
		}
	}
	p1, err := s.at(100, min(12, s.size-100))
	if err != nil {
		return err
	}
	if len(p1) > 0 && p1[0] != 13 && p1[0] != 5 {
		return bad("sqlite: first page is not a table b-tree")
	}
	// Sampled pages: every page start inside a buffer.
	for i, sp := range s.bufs {
		d := s.data[i]
		first := (sp.off + ps - 1) / ps * ps
		if first == 0 {
			first = ps
		}
		for po := first; po+12 <= sp.off+int64(len(d)); po += ps {
			pg := d[po-sp.off:]
			if !sqlitePageOK(pg, ps, pages) {
				return bad("sqlite: page %d is not a b-tree, overflow or freelist page", po/ps+1)
			}
		}
	}
	return nil
}

// sqlitePageOK judges a page from its first bytes.
func sqlitePageOK(pg []byte, ps, pages int64) bool {
	switch pg[0] {
	case 2, 5, 10, 13:
		hdr := int64(8)
		if pg[0] == 2 || pg[0] == 5 {
			hdr = 12
		}
		fb := int64(be16(pg[1:]))
		cells := int64(be16(pg[3:]))
		cs := int64(be16(pg[5:]))
		if cs == 0 {
			cs = 65536
		}
		if fb != 0 && (fb < hdr || fb >= ps) {
			break
		}
		if hdr+2*cells > ps || cs > ps {
			break
		}
		if cells > 0 && cs < hdr+2*cells {
			break
		}
		return true
	case 1, 3, 4:
		// Pointer-map entry types; checked below like the rest.
	}
	// Overflow and freelist trunk pages start with a page number; ptrmap
	// pages with an entry type 1..5.
	if n := int64(be32(pg)); n <= pages {
		return true
	}
	if pg[0] >= 1 && pg[0] <= 5 && int64(be32(pg[1:])) <= pages {
		return true
	}
	return false
}

// ---- ELF ----

func checkELF(s *source) error {
	h, err := s.at(0, min(s.size, 64))
	if err != nil {
		return err
	}
	if len(h) < 52 {
		return bad("elf: header truncated")
	}
	class, data, ver := h[4], h[5], h[6]
	if class != 1 && class != 2 {
		return bad("elf: class %d", class)
	}
	if data != 1 && data != 2 {
		return bad("elf: data encoding %d", data)
	}
	if ver != 1 {
		return bad("elf: version %d", ver)
	}
	var bo binary.ByteOrder = binary.LittleEndian
	if data == 2 {
		bo = binary.BigEndian
	}
	var phoff, shoff uint64
	var phes, phn, shes, shn, shstr uint16
	if class == 1 {
		phoff, shoff = uint64(bo.Uint32(h[28:])), uint64(bo.Uint32(h[32:]))
		phes, phn, shes, shn, shstr = bo.Uint16(h[42:]), bo.Uint16(h[44:]), bo.Uint16(h[46:]), bo.Uint16(h[48:]), bo.Uint16(h[50:])
	} else {
		if len(h) < 64 {
			return bad("elf: header truncated")
		}
		phoff, shoff = bo.Uint64(h[32:]), bo.Uint64(h[40:])
		phes, phn, shes, shn, shstr = bo.Uint16(h[54:]), bo.Uint16(h[56:]), bo.Uint16(h[58:]), bo.Uint16(h[60:]), bo.Uint16(h[62:])
	}
	if t := bo.Uint32(h[20:]); t != 1 {
		return bad("elf: object version %d", t)
	}
	size := uint64(s.size)
	wantPH, wantSH := uint16(32), uint16(40)
	if class == 2 {
		wantPH, wantSH = 56, 64
	}
	if phn > 0 {
		if phes != wantPH {
			return bad("elf: program header size %d", phes)
		}
		if phoff > size || uint64(phn)*uint64(phes) > size-phoff {
			return bad("elf: program headers past the end")
		}
		ph, err := s.at(int64(phoff), int64(phn)*int64(phes))
		if err != nil {
			return err
		}
		for i := 0; i < int(phn); i++ {
			e := ph[i*int(phes):]
			var off, fsz uint64
			if class == 1 {
				off, fsz = uint64(bo.Uint32(e[4:])), uint64(bo.Uint32(e[16:]))
			} else {
				off, fsz = bo.Uint64(e[8:]), bo.Uint64(e[32:])
			}
			if off > size || fsz > size-off {
				return bad("elf: segment %d past the end", i)
			}
		}
	}
	if shn > 0 {
		if shes != wantSH {
			return bad("elf: section header size %d", shes)
		}
		if shoff > size || uint64(shn)*uint64(shes) > size-shoff {
			return bad("elf: section headers past the end")
		}
		if shstr != 0xFFFF && shstr >= shn {
			return bad("elf: section name table index %d of %d", shstr, shn)
		}
		sh, err := s.at(int64(shoff), int64(shn)*int64(shes))
		if err != nil {
			return err
		}
		for i := 0; i < int(shn); i++ {
			e := sh[i*int(shes):]
			var typ uint32
			var off, sz uint64
			if class == 1 {
				typ, off, sz = bo.Uint32(e[4:]), uint64(bo.Uint32(e[16:])), uint64(bo.Uint32(e[20:]))
			} else {
				typ, off, sz = bo.Uint32(e[4:]), bo.Uint64(e[24:]), bo.Uint64(e[32:])
			}
			if i == 0 && typ != 0 {
				return bad("elf: first section is not null")
			}
			if typ != 8 && typ != 0 && (off > size || sz > size-off) {
				return bad("elf: section %d past the end", i)
			}
			if i == int(shstr) && typ == 3 && sz > 0 {
				b, err := s.at(int64(off), 1)
				if err != nil {
					return err
				}
				if b[0] != 0 {
					return bad("elf: section name table does not start with NUL")
				}
			}
		}
	}
	return nil
}

// ---- gzip ----

func checkGzip(s *source) error {
	h, err := s.at(0, min(s.size, 64<<10))
	if err != nil {
		return err
	}
	if len(h) < 18 {
		return bad("gzip: too short")
	}
	fl := h[3]
	if fl&0xE0 != 0 {
		return bad("gzip: reserved flags %#x", fl)
	}
	p := 10
	if fl&4 != 0 {
		if p+2 > len(h) {
			return bad("gzip: extra field truncated")
		}
		p += 2 + int(le16(h[p:]))
	}
	for _, f := range []byte{8, 16} {
		if fl&f != 0 {
			i := bytes.IndexByte(h[min(p, len(h)):], 0)
			if i < 0 {
				return bad("gzip: unterminated name or comment")
			}
			p += i + 1
		}
	}
	if fl&2 != 0 {
		p += 2
	}
	if p >= len(h) {
		return bad("gzip: header runs past the data")
	}
	complete := int64(len(h)) == s.size
	br := bytes.NewReader(h[p:])
	fr, err := s.ws.inflater(br)
	if err != nil {
		return bad("gzip: %v", err)
	}
	crc := crc32.NewIEEE()
	n, err := io.CopyBuffer(crc, io.LimitReader(fr, 1<<20), s.ws.copyBuffer())
	var ce flate.CorruptInputError
	switch {
	case errors.As(err, &ce):
		return bad("gzip: corrupt deflate data: %v", err)
	case errors.Is(err, io.ErrUnexpectedEOF):
		if complete {
			return bad("gzip: truncated deflate data")
		}
		return nil
	case err != nil:
		return bad("gzip: %v", err)
	}
	if n == 1<<20 {
		return nil
	}
	// The member ended inside the data read: check its trailer.
	used := len(h) - p - br.Len()
	tp := p + used
	if tp+8 > len(h) {
		if complete {
			return bad("gzip: trailer missing")
		}
		return nil
	}
	if le32(h[tp:]) != crc.Sum32() || le32(h[tp+4:]) != uint32(n) {
		return bad("gzip: trailer CRC or size mismatch")
	}
	return nil
}

// ---- xz ----

const xzMagic = "\xFD7zXZ\x00"

// bzip2 block and end-of-stream magics (48 bits each; only the first
// block's is byte-aligned).
const (
	bz2Block = "\x31\x41\x59\x26\x53\x59"
	bz2EOS   = "\x17\x72\x45\x38\x50\x90"
)

// checkBzip2 checks the end of a bzip2 stream: the end-of-stream magic
// followed by the 32-bit combined CRC and at most 7 padding bits (the
// header and the first block's magic were checked by [Identify]). A file
// encrypted past its header or truncated has no such end.
func checkBzip2(s *source) error {
	n := min(s.size, 16)
	t, err := s.at(s.size-n, n)
	if err != nil {
		return err
	}
	want := uint64(0)
	for _, c := range []byte(bz2EOS) {
		want = want<<8 | uint64(c)
	}
	bits := int64(len(t)) * 8
	for pad := int64(0); pad < 8; pad++ {
		start := bits - pad - 32 - 48
		if start < 0 {
			break
		}
		v := uint64(0)
		for i := start; i < start+48; i++ {
			v = v<<1 | uint64(t[i/8]>>(7-uint(i%8))&1)
		}
		if v == want {
			return nil
		}
	}
	return bad("bzip2: no end-of-stream marker at the end")
}

func checkXZ(s *source) error {
	h, err := s.at(0, min(s.size, 12+1024))
	if err != nil {
		return err
	}
	if len(h) < 24 {
		return bad("xz: too short")
	}
	if h[6] != 0 || h[7]&0xF0 != 0 || crc32.ChecksumIEEE(h[6:8]) != le32(h[8:]) {
		return bad("xz: stream header flags or CRC")
	}
	if bs := int(h[12]); bs != 0 {
		hl := (bs + 1) * 4
		if 12+hl > len(h) {
			return bad("xz: block header truncated")
		}
		b := h[12 : 12+hl]
		if crc32.ChecksumIEEE(b[:hl-4]) != le32(b[hl-4:]) {
			return bad("xz: block header CRC")
		}
	}
	tn := min(s.size, 4096)
	t, err := s.at(s.size-tn, tn)
	if err != nil {
		return err
	}
	// Stream padding: zeros in multiples of four.
	e := len(t)
	for e >= 4 && t[e-1] == 0 && t[e-2] == 0 && t[e-3] == 0 && t[e-4] == 0 {
		e -= 4
	}
	if e < 12 {
		return bad("xz: no stream footer")
	}
	f := t[e-12 : e]
	if f[10] != 'Y' || f[11] != 'Z' {
		return bad("xz: footer magic")
	}
	if crc32.ChecksumIEEE(f[4:10]) != le32(f) {
		return bad("xz: footer CRC")
	}
	if f[8] != h[6] || f[9] != h[7] {
		return bad("xz: footer flags differ from the header")
	}
	bsz := (int64(le32(f[4:])) + 1) * 4
	fo := s.size - int64(len(t)) + int64(e-12)
	idx := fo - bsz
	if idx < 12 {
		return bad("xz: index before the stream start")
	}
	ib, err := s.at(idx, 1)
	if err != nil {
		return err
	}
	if ib[0] != 0 {
		return bad("xz: no index indicator")
	}
	return nil
}

// ---- zstd ----

const zstdMagic = "\x28\xB5\x2F\xFD"

func checkZstd(s *source) error {
	off := int64(0)
	for steps := 0; steps < 8192; {
		if off == s.size {
			return nil
		}
		m, err := s.at(off, min(s.size-off, 18))
		if err != nil {
			return err
		}
		if len(m) < 4 {
			return bad("zstd: trailing bytes at %d", off)
		}
		magic := le32(m)
		if magic&0xFFFFFFF0 == 0x184D2A50 {
			if len(m) < 8 {
				return bad("zstd: skippable frame truncated")
			}
			off += 8 + int64(le32(m[4:]))
			steps++
			continue
		}
		if magic != 0xFD2FB528 {
			return bad("zstd: no frame magic at %d", off)
		}
		if len(m) < 6 {
			return bad("zstd: frame header truncated")
		}
		fhd := m[4]
		if fhd&0x08 != 0 {
			return bad("zstd: reserved frame header bit")
		}
		single := fhd&0x20 != 0
		hl := int64(1)
		if !single {
			hl++
		}
		hl += []int64{0, 1, 2, 4}[fhd&3]
		fcs := []int64{0, 2, 4, 8}[fhd>>6]
		if fcs == 0 && single {
			fcs = 1
		}
		hl += fcs
		off += 4 + hl
		for {
			steps++
			if steps >= 8192 {
				return nil
			}
			b, err := s.at(off, 3)
			if err != nil {
				return err
			}
			v := uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16
			last, typ, sz := v&1 == 1, (v>>1)&3, int64(v>>3)
			if typ == 3 {
				return bad("zstd: reserved block type at %d", off)
			}
			if sz > 128<<10 {
				return bad("zstd: block of %d bytes at %d", sz, off)
			}
			if typ == 1 {
				sz = 1
			}
			off += 3 + sz
			if off > s.size {
				return bad("zstd: block runs past the end")
			}
			if last {
				break
			}
		}
		if fhd&4 != 0 {
			off += 4
		}
		if off > s.size {
			return bad("zstd: checksum past the end")
		}
	}
	return nil
}

// ---- tar ----

func tarChecksumOK(h []byte) bool {
	if len(h) < 512 {
		return false
	}
	want, ok := tarOctal(h[148:156])
	if !ok {
		return false
	}
	var sum int64
	for i, c := range h[:512] {
		if i >= 148 && i < 156 {
			c = ' '
		}
		sum += int64(c)
	}
	return sum == want
}

// tarOctal parses a tar numeric field (octal, or base-256 when the high
// bit is set).
func tarOctal(b []byte) (int64, bool) {
	if len(b) > 0 && b[0]&0x80 != 0 {
		var v int64
		for i, c := range b {
			if i == 0 {
				c &= 0x7F
			}
			if v > (1<<62)>>8 {
				return 0, false
			}
			v = v<<8 | int64(c)
		}
		return v, true
	}
	b = bytes.Trim(b, " \x00")
	if len(b) == 0 {
		return 0, true
	}
	v, err := strconv.ParseInt(string(b), 8, 64)
	return v, err == nil && v >= 0
}

func checkTar(s *source) error {
	off := int64(0)
	for steps := 0; steps < 2048; steps++ {
		if off == s.size {
			return nil
		}
		h, err := s.at(off, 512)
		if err != nil {
			return err
		}
		if allZero(h) {
			return nil
		}
		if !tarChecksumOK(h) {
			return bad("tar: header checksum mismatch at %d", off)
		}
		sz, ok := tarOctal(h[124:136])
		if !ok || sz > s.size {
			return bad("tar: bad size field at %d", off)
		}
		off += 512 + (sz+511)/512*512
		if off > s.size {
			return bad("tar: entry at %d runs past the end", off)
		}
	}
	return nil
}

func allZero(p []byte) bool {
	for _, c := range p {
		if c != 0 {
			return false
		}
	}
	return true
}

// ---- text ----

func checkText(s *source, regions []RegionStats) error {
	for _, r := range regions {
		cell := s.slice(r.Offset, int64(r.Length))
		if cell == nil {
			continue
		}
		if !utf8Cell(cell) {
			return bad("text: not valid UTF-8 at %d", r.Offset)
		}
		if r.Printable < 0.9 {
			return bad("text: binary data at %d", r.Offset)
		}
	}
	return nil
}

// utf8Cell reports whether a cell cut from a file is valid UTF-8, allowing
// a sequence cut at either edge.
func utf8Cell(p []byte) bool {
	for i := 0; i < 3 && len(p) > 0 && p[0]&0xC0 == 0x80; i++ {
		p = p[1:]
	}
	if utf8.Valid(p) {
		return true
	}
	// Drop an incomplete sequence at the end.
	for i := 1; i <= 3 && i <= len(p); i++ {
		if c := p[len(p)-i]; c&0xC0 != 0x80 {
			if c >= 0xC0 && !utf8.FullRune(p[len(p)-i:]) {
				return utf8.Valid(p[:len(p)-i])
			}
			break
		}
	}
	return false
}

// slice returns the buffered bytes [off, off+n), or nil.
func (s *source) slice(off, n int64) []byte {
	for i, b := range s.bufs {
		if off >= b.off && off+n <= b.off+int64(len(s.data[i])) {
			return s.data[i][off-b.off : off-b.off+n]
		}
	}
	return nil
}

// ---- ISO media ----

func checkMP4(s *source) error {
	off := int64(0)
	for steps := 0; steps < 4096; steps++ {
		if off == s.size {
			return nil
		}
		h, err := s.at(off, min(16, s.size-off))
		if err != nil {
			return err
		}
		if len(h) < 8 {
			return bad("mp4: trailing bytes at %d", off)
		}
		if !printable4(h[4:8]) && !(h[4] == 0xA9 && printable4(append([]byte{'x'}, h[5:8]...))) {
			return bad("mp4: invalid box type at %d", off)
		}
		n := int64(be32(h))
		switch n {
		case 0:
			return nil // the box extends to the end
		case 1:
			if len(h) < 16 {
				return bad("mp4: large box header truncated at %d", off)
			}
			n = int64(binary.BigEndian.Uint64(h[8:]))
			if n < 16 {
				return bad("mp4: box size %d at %d", n, off)
			}
		default:
			if n < 8 {
				return bad("mp4: box size %d at %d", n, off)
			}
		}
		if n > s.size-off {
			return bad("mp4: box at %d runs past the end", off)
		}
		off += n
	}
	return nil
}

// ---- RIFF ----

func checkRIFF(s *source) error {
	h, err := s.at(0, 12)
	if err != nil {
		return err
	}
	n := int64(le32(h[4:]))
	if n+8 != s.size && n+9 != s.size {
		return bad("riff: size field %d for a file of %d bytes", n, s.size)
	}
	off := int64(12)
	for steps := 0; steps < 4096; steps++ {
		if off >= n+8 {
			return nil
		}
		c, err := s.at(off, 8)
		if err != nil {
			return err
		}
		if !printable4(c[:4]) {
			return bad("riff: invalid chunk id at %d", off)
		}
		l := int64(le32(c[4:]))
		off += 8 + l + l&1
		if off > s.size+1 {
			return bad("riff: chunk runs past the end")
		}
	}
	return nil
}
