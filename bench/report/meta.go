package main

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// Meta holds the key=value facts about a run: machine, versions, corpus.
type Meta map[string]string

// Get returns the value for key, or "unknown".
func (m Meta) Get(key string) string {
	if v, ok := m[key]; ok && v != "" {
		return v
	}
	return "unknown"
}

// ParseMeta reads lines of key=value; blank lines and lines starting with #
// are ignored, and later keys replace earlier ones.
func ParseMeta(r io.Reader) (Meta, error) {
	m := Meta{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || k == "" || strings.ContainsAny(k, " \t") {
			return nil, fmt.Errorf("meta line %d: %q is not key=value", n, line)
		}
		m[k] = v
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("meta: %w", err)
	}
	return m, nil
}
