package ui

import (
	"strconv"
	"unicode"
	"unicode/utf8"
)

// printable returns s unchanged when every rune in it is printable, and
// quoted with Go escapes otherwise, so that names chosen by whoever wrote
// the files cannot move the cursor, retitle the window or forge lines.
func printable(s string) string {
	if !utf8.ValidString(s) {
		return strconv.Quote(s)
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return strconv.Quote(s)
		}
	}
	return s
}

// truncate shortens s to at most width runes.
func truncate(s string, width int) string {
	if width <= 0 {
		return ""
	}
	if utf8.RuneCountInString(s) <= width {
		return s
	}
	n := 0
	for i := range s {
		if n == width {
			return s[:i]
		}
		n++
	}
	return s
}
