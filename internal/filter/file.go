package filter

import (
	"fmt"
	"os"
	"strings"
)

// ReadFile reads an exclude file for --exclude-file: one pattern per line,
// with LF or CRLF line ends and an optional UTF-8 byte order mark. It
// returns every line, blank lines and comments included, so that New
// reports errors with the file's own line numbers.
func ReadFile(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read exclude file: %w", err)
	}
	return splitLines(string(data)), nil
}

// splitLines splits text into lines, dropping a leading byte order mark,
// the CR of CRLF line ends and the empty string after a final newline.
func splitLines(text string) []string {
	text = strings.TrimPrefix(text, "\uFEFF")
	if text == "" {
		return nil
	}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	for i, line := range lines {
		lines[i] = strings.TrimSuffix(line, "\r")
	}
	return lines
}
