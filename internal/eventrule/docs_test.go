package eventrule

import (
	"os"
	"strings"
	"testing"
)

// TestDocumentedErrors checks the table of refused patterns in
// docs/EVENTS.md against Compile.
func TestDocumentedErrors(t *testing.T) {
	b, err := os.ReadFile("../../docs/EVENTS.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(b), "### What is refused")
	if !ok {
		t.Fatal("docs/EVENTS.md has no section on refused patterns")
	}
	table, _, _ = strings.Cut(table, "\n\n## ")
	n := 0
	for line := range strings.SplitSeq(table, "\n") {
		cells := strings.Split(line, "` | `")
		if len(cells) != 2 || !strings.HasPrefix(line, "| `") {
			continue
		}
		pattern := strings.TrimPrefix(cells[0], "| `")
		want := strings.TrimSuffix(cells[1], "` |")
		n++
		if _, err := Compile([]byte(pattern)); err == nil || err.Error() != want {
			t.Errorf("%s:\n   got %v\n  want %s", pattern, err, want)
		}
	}
	if n < 10 {
		t.Errorf("only %d documented errors found", n)
	}
}
