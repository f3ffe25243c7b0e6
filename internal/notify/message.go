package notify

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"strings"
	"time"
)

// maxHeaderLine is where header values are folded, as RFC 5322 advises.
const maxHeaderLine = 78

// message renders e as an RFC 5322 message with CRLF line endings: a
// plain-text UTF-8 body in quoted-printable, and headers whose values come
// from the event only through Line (which has no control characters) and
// Q-encoding, so that no event field can add a header.
func (m *Email) message(e Event) ([]byte, error) {
	id, err := messageID(m.s.from.Address)
	if err != nil {
		return nil, err
	}
	to := make([]string, len(m.s.to))
	for i, a := range m.s.to {
		to[i] = a.String()
	}
	headers := [][2]string{
		{"Date", m.now().Format(time.RFC1123Z)},
		{"From", m.s.from.String()},
		{"To", strings.Join(to, ", ")},
		{"Subject", mime.QEncoding.Encode("utf-8", e.Line())},
		{"Message-ID", id},
		{"MIME-Version", "1.0"},
		{"Content-Type", "text/plain; charset=utf-8"},
		{"Content-Transfer-Encoding", "quoted-printable"},
		{"Auto-Submitted", "auto-generated"},
		{HeaderEvent, mime.QEncoding.Encode("utf-8", clip(clean(e.Kind), 100))},
	}
	if e.ID != "" {
		headers = append(headers, [2]string{HeaderEventID, mime.QEncoding.Encode("utf-8", clip(clean(e.ID), 100))})
	}
	var b bytes.Buffer
	for _, h := range headers {
		if err := writeHeader(&b, h[0], h[1]); err != nil {
			return nil, err
		}
	}
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	if _, err := qp.Write([]byte(e.Text())); err != nil {
		return nil, fmt.Errorf("encode body: %w", err)
	}
	if err := qp.Close(); err != nil {
		return nil, fmt.Errorf("encode body: %w", err)
	}
	b.WriteString("\r\n")
	return b.Bytes(), nil
}

// writeHeader writes one header field, folded at spaces. It refuses a
// value with a CR, an LF or another control character, which would end the
// field early.
func writeHeader(b *bytes.Buffer, name, value string) error {
	for _, r := range value {
		if r < ' ' || r == 0x7f {
			return fmt.Errorf("header %s: control character %q in its value", name, r)
		}
	}
	b.WriteString(name)
	b.WriteString(":")
	n := len(name) + 1
	for i, w := range strings.Split(value, " ") {
		if i > 0 && w != "" && n+1+len(w) > maxHeaderLine {
			b.WriteString("\r\n")
			n = 0
		}
		b.WriteString(" ")
		b.WriteString(w)
		n += 1 + len(w)
	}
	b.WriteString("\r\n")
	return nil
}

// messageID returns a new random Message-ID in the sender's domain.
func messageID(from string) (string, error) {
	at := strings.LastIndexByte(from, '@')
	if at < 0 || at == len(from)-1 {
		return "", errors.New("sender address has no domain")
	}
	var r [16]byte
	if _, err := rand.Read(r[:]); err != nil {
		return "", fmt.Errorf("message id: %w", err)
	}
	return "<" + hex.EncodeToString(r[:]) + ".bunker@" + from[at+1:] + ">", nil
}
