package notify

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestEventLine(t *testing.T) {
	e := testEvent()
	if got, want := e.Line(), "[bunker] approval.requested, vault prod: Löschen: delete point 3fa9 (by ann)"; got != want {
		t.Errorf("Line %q, want %q", got, want)
	}
	if got := (Event{Kind: KindGrantRevoked}).Line(); got != "[bunker] grant.revoked" {
		t.Errorf("Line of a bare event %q", got)
	}
	e.Subject = "a\r\nb\tc\u2028d\u202ee\x00f  \n g\xff"
	if got := e.Line(); strings.ContainsAny(got, "\r\n\t\x00\u2028\u202e") || !strings.Contains(got, "a b c d e f g\uFFFD (by ann)") {
		t.Errorf("Line %q", got)
	}
	e.Subject = strings.Repeat("é", 500)
	if got := e.Line(); utf8.RuneCountInString(got) != maxLineRunes || !strings.HasSuffix(got, "…") || !utf8.ValidString(got) {
		t.Errorf("Line of %d runes: %q", utf8.RuneCountInString(got), got)
	}
}

func TestEventText(t *testing.T) {
	e := testEvent()
	want := `[bunker] approval.requested, vault prod: Löschen: delete point 3fa9 (by ann)

Event:    approval.requested
Time:     2026-05-04T12:30:00Z
Vault:    prod
Subject:  Löschen: delete point 3fa9
Actor:    ann
Request:  req-7
ID:       ev-1

Details:
  operation: point.delete
  points: ["3fa9"]
`
	if got := e.Text(); got != want {
		t.Errorf("Text:\n%s\nwant:\n%s", got, want)
	}
	// No value can start a line of its own.
	e.Actor = "ann\nVault:    other"
	e.Detail = map[string]any{"x\ny": "1\n2"}
	lines := strings.Split(e.Text(), "\n")
	if len(lines) != len(strings.Split(want, "\n"))-1 {
		t.Errorf("Text has %d lines:\n%s", len(lines), e.Text())
	}
	for _, l := range lines {
		if strings.HasPrefix(l, "Vault:    other") {
			t.Errorf("injected line %q", l)
		}
	}
}
