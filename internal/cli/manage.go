package cli

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/term"

	"github.com/bunkerhq/bunker/internal/client"
	"github.com/bunkerhq/bunker/internal/retention"
)

// This file holds what the server management commands (vault, point, user,
// token, role, audit, job) share.

// dial returns a client for a management command: the server named by
// --server or $BUNKER_SERVER, else the one last logged in to.
func (g *globals) dial() (*client.Client, error) {
	c, _, err := g.connect(true)
	return c, err
}

// failed wraps a server call's error with what was being done, gives
// refusals their exit code, and adds what to do next where the server's
// message does not say it.
func failed(err error, format string, a ...any) error {
	what := fmt.Sprintf(format, a...)
	var e *client.Error
	if errors.As(err, &e) {
		hint := ""
		if e.Status == http.StatusForbidden && strings.Contains(e.Message, " lacks the ") {
			hint = "; ask a security-admin for a role that grants it (`bunker role roles` lists them)"
		}
		return serverError(fmt.Errorf("%s: %w%s", what, err, hint))
	}
	return serverError(fmt.Errorf("%s: %w", what, err))
}

// newTable returns a writer that aligns tab-separated columns on stdout.
func (g *globals) newTable(header ...string) *tabwriter.Writer {
	tw := tabwriter.NewWriter(g.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	return tw
}

// row writes one row of cells to a table; empty cells show as "-".
func row(tw *tabwriter.Writer, cells ...string) {
	for i, c := range cells {
		c = display(c)
		if c == "" {
			c = "-"
		}
		cells[i] = c
	}
	fmt.Fprintln(tw, strings.Join(cells, "\t"))
}

// display returns s unchanged when it is printable text, and quoted with Go
// escapes otherwise, so that names and reasons a client chose cannot move
// the cursor, forge lines or break a table's columns.
func display(s string) string {
	if !utf8.ValidString(s) {
		return strconv.Quote(s)
	}
	for _, r := range s {
		if !unicode.IsPrint(r) || r == '\t' {
			return strconv.Quote(s)
		}
	}
	return s
}

// displayAll joins strings for a table cell. A string holding the
// separator, or starting with a quote, is quoted too, so that the cell
// reads back as the strings it was made of.
func displayAll(ss []string, sep string) string {
	mark := strings.TrimSpace(sep)
	if mark == "" {
		mark = sep
	}
	out := make([]string, len(ss))
	for i, s := range ss {
		d := display(s)
		if d == s && (strings.Contains(s, mark) || strings.HasPrefix(s, `"`)) {
			d = strconv.Quote(s)
		}
		out[i] = d
	}
	return strings.Join(out, sep)
}

// when formats a time for people, in local time; "-" for none.
func when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format(time.DateTime)
}

// yesNo formats a boolean for a table.
func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// short returns the first 8 characters of an id.
func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// checkSpan checks a duration flag the way the server reads it ("0", or
// numbers with units h, d, w, m, y), so that a typo is a usage error before
// anything is sent.
func checkSpan(flag, v string) error {
	if v == "0" {
		return nil
	}
	if _, err := retention.ParseSpan(v); err != nil {
		return usageError{fmt.Errorf("--%s %q: write durations like 72h, 30d, 2w, 6m or 1y (m is a month), or 0", flag, v)}
	}
	return nil
}

// checkPointRef checks a point reference: "latest" or at least 4 hex digits.
func checkPointRef(ref string) error {
	if ref == "latest" {
		return nil
	}
	if len(ref) < 4 || len(ref) > 64 || strings.Trim(strings.ToLower(ref), "0123456789abcdef") != "" {
		return usageError{fmt.Errorf("point %q: give \"latest\" or at least 4 hex digits of a point id (see `bunker point list`)", ref)}
	}
	return nil
}

// parseTime reads an RFC 3339 time flag.
func parseTime(flag, v string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, usageError{fmt.Errorf("--%s %q: give the time in RFC 3339 form, e.g. 2026-03-31T00:00:00Z", flag, v)}
	}
	return t, nil
}

// passwordSource says where a password comes from when it is not typed:
// the file named by the flag, or the environment variable.
type passwordSource struct {
	file, flag, env string
}

// askPassword reads a password from src or the terminal, where confirm
// asks for it twice.
func (g *globals) askPassword(src passwordSource, prompt string, confirm bool) (string, error) {
	if src.file != "" {
		data, err := os.ReadFile(src.file)
		if err != nil {
			return "", fmt.Errorf("read --%s: %w", src.flag, err)
		}
		return string(bytes.TrimRight(data, "\r\n")), nil
	}
	if v, ok := os.LookupEnv(src.env); ok {
		return v, nil
	}
	f, ok := g.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return "", usageError{fmt.Errorf("no password given: use --%s or $%s, or run on a terminal to be asked", src.flag, src.env)}
	}
	read := func(p string) (string, error) {
		fmt.Fprint(g.stderr, p)
		pw, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(g.stderr)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		return string(pw), nil
	}
	pw, err := read(prompt)
	if err != nil || !confirm {
		return pw, err
	}
	again, err := read("Enter it again: ")
	if err != nil {
		return "", err
	}
	if pw != again {
		return "", errors.New("the passwords do not match: nothing was changed")
	}
	return pw, nil
}

// terminalLine asks a question on the terminal and returns the answer, or
// false when stdin is not a terminal.
func (g *globals) terminalLine(prompt string) (string, bool, error) {
	f, ok := g.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return "", false, nil
	}
	fmt.Fprint(g.stderr, prompt)
	var b strings.Builder
	buf := make([]byte, 1)
	for {
		n, err := f.Read(buf)
		if n == 1 {
			if buf[0] == '\n' {
				break
			}
			b.WriteByte(buf[0])
		}
		if err != nil {
			return "", true, fmt.Errorf("read answer: %w", err)
		}
		if b.Len() > 256 {
			return "", true, errors.New("read answer: line too long")
		}
	}
	return strings.TrimSpace(b.String()), true, nil
}
