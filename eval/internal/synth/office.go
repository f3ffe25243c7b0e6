package synth

import (
	"archive/zip"
	"bytes"
	"fmt"
	"hash/crc32"
	"html"
	"strings"
	"time"
)

// zipParts writes named parts into a ZIP container; parts listed in stored
// are written without compression (ODF requires an uncompressed mimetype
// entry first).
func zipParts(parts [][2]string, stored map[string]bool, mod time.Time) ([]byte, error) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, p := range parts {
		if stored[p[0]] {
			// As office suites write it: no extra field, no data
			// descriptor, so the content sits at a fixed offset.
			d, t := DOSTime(mod)
			h := &zip.FileHeader{Name: p[0], Method: zip.Store, ModifiedDate: d, ModifiedTime: t,
				CRC32: crc32.ChecksumIEEE([]byte(p[1])), CompressedSize64: uint64(len(p[1])), UncompressedSize64: uint64(len(p[1]))}
			w, err := zw.CreateRaw(h)
			if err != nil {
				return nil, fmt.Errorf("zip part %s: %w", p[0], err)
			}
			if _, err := w.Write([]byte(p[1])); err != nil {
				return nil, fmt.Errorf("zip part %s: %w", p[0], err)
			}
			continue
		}
		h := &zip.FileHeader{Name: p[0], Method: zip.Deflate, Modified: mod}
		w, err := zw.CreateHeader(h)
		if err != nil {
			return nil, fmt.Errorf("zip part %s: %w", p[0], err)
		}
		if _, err := w.Write([]byte(p[1])); err != nil {
			return nil, fmt.Errorf("zip part %s: %w", p[0], err)
		}
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("zip close: %w", err)
	}
	return buf.Bytes(), nil
}

// DOSTime returns t in the MS-DOS date and time fields of ZIP headers.
func DOSTime(t time.Time) (date, tm uint16) {
	t = t.UTC()
	date = uint16(t.Day() + int(t.Month())<<5 + (t.Year()-1980)<<9)
	tm = uint16(t.Second()/2 + t.Minute()<<5 + t.Hour()<<11)
	return date, tm
}

const xmlHeader = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` + "\n"

// Docx returns a WordprocessingML document with paras paragraphs.
func Docx(p *Prose, paras int, mod time.Time) ([]byte, error) {
	var body strings.Builder
	for i := 0; i < paras; i++ {
		fmt.Fprintf(&body, `<w:p><w:r><w:t xml:space="preserve">%s</w:t></w:r></w:p>`, html.EscapeString(p.Paragraph()))
	}
	title := html.EscapeString(p.Sentence(3))
	parts := [][2]string{
		{"[Content_Types].xml", xmlHeader + `<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/><Override PartName="/docProps/core.xml" ContentType="application/vnd.openxmlformats-package.core-properties+xml"/><Override PartName="/docProps/app.xml" ContentType="application/vnd.openxmlformats-officedocument.extended-properties+xml"/></Types>`},
		{"_rels/.rels", xmlHeader + `<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties" Target="docProps/core.xml"/><Relationship Id="rId3" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/extended-properties" Target="docProps/app.xml"/></Relationships>`},
		{"word/document.xml", xmlHeader + `<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>` + body.String() + `<w:sectPr><w:pgSz w:w="11906" w:h="16838"/></w:sectPr></w:body></w:document>`},
		{"docProps/core.xml", xmlHeader + `<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><dc:title>` + title + `</dc:title><dc:creator>bunker</dc:creator><dcterms:created xsi:type="dcterms:W3CDTF">` + mod.UTC().Format(time.RFC3339) + `</dcterms:created></cp:coreProperties>`},
		{"docProps/app.xml", xmlHeader + `<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties"><Application>Microsoft Office Word</Application><Pages>` + fmt.Sprint(1+paras/8) + `</Pages></Properties>`},
	}
	return zipParts(parts, nil, mod)
}

// Xlsx returns a SpreadsheetML workbook with one sheet of rows x 6 cells.
func Xlsx(p *Prose, rows int, mod time.Time) ([]byte, error) {
	var sheet strings.Builder
	cols := "ABCDEF"
	for r := 1; r <= rows; r++ {
		fmt.Fprintf(&sheet, `<row r="%d">`, r)
		for c := 0; c < len(cols); c++ {
			ref := fmt.Sprintf("%c%d", cols[c], r)
			if c%2 == 0 {
				fmt.Fprintf(&sheet, `<c r="%s" t="inlineStr"><is><t>%s</t></is></c>`, ref, html.EscapeString(p.Word()+" "+p.Word()))
			} else {
				fmt.Fprintf(&sheet, `<c r="%s"><v>%d.%02d</v></c>`, ref, p.rng.IntN(100000), p.rng.IntN(100))
			}
		}
		sheet.WriteString(`</row>`)
	}
	parts := [][2]string{
		{"[Content_Types].xml", xmlHeader + `<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>`},
		{"_rels/.rels", xmlHeader + `<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>`},
		{"xl/workbook.xml", xmlHeader + `<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>`},
		{"xl/_rels/workbook.xml.rels", xmlHeader + `<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>`},
		{"xl/worksheets/sheet1.xml", xmlHeader + `<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>` + sheet.String() + `</sheetData></worksheet>`},
	}
	return zipParts(parts, nil, mod)
}

// Odt returns an OpenDocument text with paras paragraphs.
func Odt(p *Prose, paras int, mod time.Time) ([]byte, error) {
	var body strings.Builder
	for i := 0; i < paras; i++ {
		fmt.Fprintf(&body, `<text:p>%s</text:p>`, html.EscapeString(p.Paragraph()))
	}
	parts := [][2]string{
		{"mimetype", "application/vnd.oasis.opendocument.text"},
		{"META-INF/manifest.xml", xmlHeader + `<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2"><manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.text"/><manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/><manifest:file-entry manifest:full-path="meta.xml" manifest:media-type="text/xml"/></manifest:manifest>`},
		{"content.xml", xmlHeader + `<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2"><office:body><office:text>` + body.String() + `</office:text></office:body></office:document-content>`},
		{"meta.xml", xmlHeader + `<office:document-meta xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:meta="urn:oasis:names:tc:opendocument:xmlns:meta:1.0" office:version="1.2"><office:meta><meta:generator>LibreOffice/7.3</meta:generator><meta:creation-date>` + mod.UTC().Format("2006-01-02T15:04:05") + `</meta:creation-date></office:meta></office:document-meta>`},
	}
	return zipParts(parts, map[string]bool{"mimetype": true}, mod)
}
