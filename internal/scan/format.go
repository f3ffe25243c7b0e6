package scan

import (
	"bytes"
	"path"
	"strings"
	"unicode/utf8"
)

// Format is a file format recognised by [Identify].
type Format string

// Formats recognised by the scanner.
const (
	FormatUnknown Format = "unknown"
	FormatZIP     Format = "zip"
	// FormatOffice is a ZIP container with an office or e-book extension
	// (docx, xlsx, pptx, odt, epub...); it is checked as ZIP.
	FormatOffice Format = "office"
	FormatPDF    Format = "pdf"
	FormatJPEG   Format = "jpeg"
	FormatPNG    Format = "png"
	FormatGIF    Format = "gif"
	FormatSQLite Format = "sqlite"
	FormatELF    Format = "elf"
	FormatGzip   Format = "gzip"
	FormatXZ     Format = "xz"
	FormatZstd   Format = "zstd"
	FormatBzip2  Format = "bzip2"
	FormatTar    Format = "tar"
	// FormatMP4 is an ISO base media file (MP4, MOV, M4A, HEIC...).
	FormatMP4 Format = "mp4"
	// FormatRIFF is a RIFF container (WAV, AVI, WebP).
	FormatRIFF Format = "riff"
	// FormatText is UTF-8 (or ASCII) text.
	FormatText Format = "text"
)

// IdentifyHeader is how many leading bytes [Identify] looks at; a shorter
// header is fine, a longer one is not needed.
const IdentifyHeader = 4096

// Compressed reports whether random-looking content is normal for the
// format: compressed archives and media.
func (f Format) Compressed() bool {
	switch f {
	case FormatZIP, FormatOffice, FormatJPEG, FormatPNG, FormatGIF, FormatGzip, FormatXZ, FormatZstd, FormatBzip2, FormatPDF, FormatMP4, FormatRIFF:
		return true
	}
	return false
}

// Known reports whether the format has a structure check.
func (f Format) Known() bool { return f != FormatUnknown && f != "" }

func isOfficeExt(ext string) bool {
	switch ext {
	case ".docx", ".docm", ".dotx", ".xlsx", ".xlsm", ".xltx", ".pptx", ".pptm", ".potx",
		".odt", ".ods", ".odp", ".odg", ".ott", ".epub", ".vsdx", ".xps", ".oxps":
		return true
	}
	return false
}

// Identify names the format of a file from its first bytes (up to
// [IdentifyHeader]) and its name. Magic bytes decide; the name only refines
// ZIP into office formats and admits old tar archives without the ustar
// magic. Data that is none of the binary formats and is valid, mostly
// printable UTF-8 is [FormatText].
func Identify(header []byte, name string) Format {
	ext := strings.ToLower(path.Ext(name))
	h := header
	switch {
	case len(h) >= 4 && h[0] == 'P' && h[1] == 'K' && (h[2] == 3 && h[3] == 4 || h[2] == 5 && h[3] == 6 || h[2] == 7 && h[3] == 8):
		if isOfficeExt(ext) {
			return FormatOffice
		}
		return FormatZIP
	case len(h) >= 3 && h[0] == 0xFF && h[1] == 0xD8 && h[2] == 0xFF:
		return FormatJPEG
	case bytes.HasPrefix(h, []byte(pngSig)):
		return FormatPNG
	case bytes.HasPrefix(h, []byte("GIF87a")) || bytes.HasPrefix(h, []byte("GIF89a")):
		return FormatGIF
	case bytes.HasPrefix(h, []byte(sqliteSig)):
		return FormatSQLite
	case bytes.HasPrefix(h, []byte("\x7fELF")):
		return FormatELF
	case len(h) >= 3 && h[0] == 0x1f && h[1] == 0x8b && h[2] == 8:
		return FormatGzip
	case bytes.HasPrefix(h, []byte(xzMagic)):
		return FormatXZ
	case bytes.HasPrefix(h, []byte(zstdMagic)):
		return FormatZstd
	case len(h) >= 10 && h[0] == 'B' && h[1] == 'Z' && h[2] == 'h' && h[3] >= '1' && h[3] <= '9' &&
		(string(h[4:10]) == bz2Block || string(h[4:10]) == bz2EOS):
		return FormatBzip2
	case len(h) >= 12 && bytes.HasPrefix(h, []byte("RIFF")) && printable4(h[8:12]):
		return FormatRIFF
	case len(h) >= 8 && isMP4Box(h[4:8]) && be32(h) >= 8:
		return FormatMP4
	case pdfHeaderAt(h) >= 0:
		return FormatPDF
	case len(h) >= 262 && bytes.Equal(h[257:262], []byte("ustar")):
		return FormatTar
	case len(h) >= 512 && (ext == ".tar") && tarChecksumOK(h[:512]):
		return FormatTar
	}
	if looksText(h) {
		return FormatText
	}
	return FormatUnknown
}

// pdfHeaderAt finds "%PDF-" in the first KiB (readers tolerate leading
// junk there) and returns its offset, or -1.
func pdfHeaderAt(h []byte) int {
	if len(h) > 1024 {
		h = h[:1024]
	}
	return bytes.Index(h, []byte("%PDF-"))
}

// looksText reports whether p is valid UTF-8 (a sequence cut at the end is
// allowed) with at least 95% printable bytes and no NUL.
func looksText(p []byte) bool {
	if len(p) == 0 {
		return false
	}
	ok, printable := textStats(p)
	return ok && printable >= 0.95
}

// textStats reports whether p is valid UTF-8, tolerating a sequence cut at
// either edge, and the printable fraction. A NUL byte makes p not text.
func textStats(p []byte) (bool, float64) {
	// Skip continuation bytes of a sequence cut at the start.
	i := 0
	for i < len(p) && i < 3 && p[i]&0xC0 == 0x80 {
		i++
	}
	printable := i
	for i < len(p) {
		c := p[i]
		if c < utf8.RuneSelf {
			if c == 0 {
				return false, 0
			}
			if printableByte(int(c)) {
				printable++
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(p[i:])
		if r == utf8.RuneError && n <= 1 {
			if len(p)-i < utf8.UTFMax && !utf8.FullRune(p[i:]) {
				printable += len(p) - i
				break
			}
			return false, 0
		}
		printable += n
		i += n
	}
	return true, float64(printable) / float64(len(p))
}

// isMP4Box reports whether t is a box type that starts ISO media files.
func isMP4Box(t []byte) bool {
	switch string(t) {
	case "ftyp", "moov", "mdat", "wide", "free", "skip", "pnot":
		return true
	}
	return false
}

// printable4 reports whether a four-character code is printable ASCII.
func printable4(t []byte) bool {
	for _, c := range t {
		if c < 0x20 || c > 0x7e {
			return false
		}
	}
	return len(t) == 4
}
