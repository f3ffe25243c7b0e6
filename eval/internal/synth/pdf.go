package synth

import (
	"bytes"
	"compress/zlib"
	"fmt"
	"strings"
)

// PDF returns a valid multi-page PDF 1.4 document: catalog, page tree,
// pages with Flate-compressed content streams, a font, an info dictionary
// and a correct cross-reference table.
func PDF(p *Prose, pages int) ([]byte, error) {
	if pages < 1 {
		pages = 1
	}
	var objs []string // objs[i] is object i+1's body (without "n 0 obj")
	add := func(s string) int { objs = append(objs, s); return len(objs) }
	catalog := add("") // filled later
	pagesObj := add("")
	font := add("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
	var kids []string
	for i := 0; i < pages; i++ {
		var content strings.Builder
		content.WriteString("BT /F1 11 Tf 14 TL 56 780 Td\n")
		for l := 0; l < 48; l++ {
			line := p.Sentence(5)
			line = strings.NewReplacer(`\`, `\\`, "(", `\(`, ")", `\)`).Replace(line)
			fmt.Fprintf(&content, "(%s) Tj T*\n", line)
		}
		content.WriteString("ET\n")
		var z bytes.Buffer
		zw := zlib.NewWriter(&z)
		if _, err := zw.Write([]byte(content.String())); err != nil {
			return nil, fmt.Errorf("pdf content: %w", err)
		}
		if err := zw.Close(); err != nil {
			return nil, fmt.Errorf("pdf content: %w", err)
		}
		stream := add(fmt.Sprintf("<< /Length %d /Filter /FlateDecode >>\nstream\n%s\nendstream", z.Len(), z.String()))
		page := add(fmt.Sprintf("<< /Type /Page /Parent %d 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 %d 0 R >> >> /Contents %d 0 R >>", pagesObj, font, stream))
		kids = append(kids, fmt.Sprintf("%d 0 R", page))
	}
	info := add(fmt.Sprintf("<< /Title (%s) /Producer (bunker synth) >>", strings.Trim(p.Sentence(3), ".")))
	objs[catalog-1] = fmt.Sprintf("<< /Type /Catalog /Pages %d 0 R >>", pagesObj)
	objs[pagesObj-1] = fmt.Sprintf("<< /Type /Pages /Kids [%s] /Count %d >>", strings.Join(kids, " "), pages)

	var buf bytes.Buffer
	buf.WriteString("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
	offsets := make([]int, len(objs))
	for i, o := range objs {
		offsets[i] = buf.Len()
		fmt.Fprintf(&buf, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	xref := buf.Len()
	fmt.Fprintf(&buf, "xref\n0 %d\n0000000000 65535 f \n", len(objs)+1)
	for _, off := range offsets {
		fmt.Fprintf(&buf, "%010d 00000 n \n", off)
	}
	fmt.Fprintf(&buf, "trailer\n<< /Size %d /Root %d 0 R /Info %d 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(objs)+1, catalog, info, xref)
	return buf.Bytes(), nil
}
