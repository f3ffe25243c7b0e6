package ui

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// lockedBuffer is a bytes.Buffer safe to read while a Renderer writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// hostilePath is a file name that tries to retitle the terminal, clear the
// screen and forge an output line.
const hostilePath = "/data/\x1b]0;owned\x07\x1b[2J\nerror: forged"

// simulate runs a small job against c, in steps with pauses between them.
func simulate(c Counter, steps int, pause time.Duration) {
	c.AddTotal(int64(steps), int64(steps)*1024)
	if f, ok := c.(ScanFinisher); ok {
		f.FinishScan()
	}
	for range steps {
		time.Sleep(pause)
		c.AddDone(1, 1024)
	}
}

// segments splits terminal output into what ends up on each screen line
// between carriage returns and newlines.
func segments(out string) []string {
	return strings.FieldsFunc(out, func(r rune) bool { return r == '\r' || r == '\n' })
}

func TestRendererTerminalFitsWidth(t *testing.T) {
	var buf lockedBuffer
	r := NewRenderer(&buf, Options{Mode: ModeTerminal, Width: 40, Interval: 2 * time.Millisecond})
	r.Start(context.Background())
	p := r.Progress()
	simulate(p, 10, 3*time.Millisecond)
	p.Error(hostilePath, errors.New("permission denied"))
	waitFor(t, func() bool { return strings.Count(buf.String(), "\r") >= 5 })
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if !strings.HasSuffix(out, "\n") {
		t.Fatalf("output does not end with a newline: %q", out)
	}
	for _, seg := range segments(out) {
		if n := utf8.RuneCountInString(seg); n > 39 && !strings.HasPrefix(seg, "error: ") {
			t.Errorf("status segment of %d runes exceeds width 40: %q", n, seg)
		}
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	final := segments(lines[len(lines)-1])
	last := strings.TrimRight(final[len(final)-1], " ")
	if !strings.Contains(last, "100.0% 10/10 files") {
		t.Errorf("final status %q lacks the finished counts", last)
	}
}

func TestRendererTerminalFields(t *testing.T) {
	var buf lockedBuffer
	r := NewRenderer(&buf, Options{Mode: ModeTerminal, Width: 200, Interval: time.Hour})
	r.Start(context.Background())
	p := r.Progress()
	p.AddTotal(4, 4096)
	p.FinishScan()
	p.AddDone(4, 4096)
	p.Error("/data/a", errors.New("boom"))
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(buf.String(), "\n")
	final := segments(lines[len(lines)-2])
	last := final[len(final)-1]
	for _, want := range []string{"100.0%", "4/4 files", "4.0 KiB/4.0 KiB", "B/s", "1 error"} {
		if !strings.Contains(last, want) {
			t.Errorf("final status %q lacks %q", last, want)
		}
	}
	if !strings.Contains(buf.String(), "error: /data/a: boom\n") {
		t.Errorf("error line missing from %q", buf.String())
	}
}

// Names of files are chosen by whoever wrote them, possibly an attacker on
// the protected host; they must reach the operator's terminal inert.
func TestRendererNeutralisesControlCharacters(t *testing.T) {
	for _, mode := range []Mode{ModeTerminal, ModeQuiet, ModeAuto} {
		var buf lockedBuffer
		r := NewRenderer(&buf, Options{Mode: mode, Width: 80, Interval: time.Hour})
		r.Start(context.Background())
		r.Progress().Error(hostilePath, errors.New("read \x1b[31mfailed\r"))
		if err := r.Stop(); err != nil {
			t.Fatal(err)
		}
		out := buf.String()
		if strings.ContainsAny(out, "\x1b\x07") {
			t.Errorf("mode %d: control characters reach the output: %q", mode, out)
		}
		if strings.Contains(out, "\nerror: forged") {
			t.Errorf("mode %d: file name forged an output line: %q", mode, out)
		}
		if !strings.Contains(out, `"/data/\x1b]0;owned\a\x1b[2J\nerror: forged"`) {
			t.Errorf("mode %d: path not shown quoted: %q", mode, out)
		}
	}
}

func TestRendererJSON(t *testing.T) {
	var buf lockedBuffer
	r := NewRenderer(&buf, Options{Mode: ModeJSON, Interval: 2 * time.Millisecond})
	r.Start(context.Background())
	p := r.Progress()
	simulate(p, 5, 3*time.Millisecond)
	p.Error(hostilePath, errors.New("denied"))
	waitFor(t, func() bool { return strings.Count(buf.String(), `"status"`) >= 2 })
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	var statuses, errs int
	var last StatusJSON
	sc := bufio.NewScanner(strings.NewReader(buf.String()))
	for sc.Scan() {
		var head struct {
			MessageType string `json:"message_type"`
		}
		if err := json.Unmarshal(sc.Bytes(), &head); err != nil {
			t.Fatalf("line %q is not JSON: %v", sc.Text(), err)
		}
		switch head.MessageType {
		case "status":
			statuses++
			if err := json.Unmarshal(sc.Bytes(), &last); err != nil {
				t.Fatal(err)
			}
		case "error":
			errs++
			var e ErrorJSON
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				t.Fatal(err)
			}
			if e.Path != hostilePath || e.Error != "denied" {
				t.Errorf("error line = %+v", e)
			}
		default:
			t.Errorf("unexpected message %q", sc.Text())
		}
	}
	if statuses < 3 || errs != 1 {
		t.Fatalf("got %d status and %d error lines, want several and 1", statuses, errs)
	}
	want := StatusJSON{MessageType: "status", PercentDone: 1, TotalFiles: 5, FilesDone: 5,
		TotalBytes: 5120, BytesDone: 5120, ErrorCount: 1, ScanFinished: true}
	last.SecondsElapsed, last.BytesPerSecond, last.SecondsRemaining = 0, 0, nil
	if last != want {
		t.Errorf("final status = %+v, want %+v", last, want)
	}
	if strings.Contains(buf.String(), "\x1b") {
		t.Error("raw escape character in JSON output")
	}
}

func TestRendererSilentWhenNotATerminal(t *testing.T) {
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	read := make(chan string)
	go func() {
		b, _ := io.ReadAll(pr)
		read <- string(b)
	}()
	r := NewRenderer(pw, Options{Interval: time.Millisecond})
	r.Start(context.Background())
	simulate(r.Progress(), 5, 2*time.Millisecond)
	r.Progress().Error("/data/x", errors.New("gone"))
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	if got := <-read; got != "error: /data/x: gone\n" {
		t.Fatalf("output to a pipe = %q, want only the error line", got)
	}
}

func TestRendererQuiet(t *testing.T) {
	var buf lockedBuffer
	r := NewRenderer(&buf, Options{Mode: ModeQuiet, Interval: time.Millisecond})
	r.Start(context.Background())
	simulate(r.Progress(), 3, 2*time.Millisecond)
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	if out := buf.String(); out != "" {
		t.Fatalf("quiet renderer wrote %q", out)
	}
}

func TestRendererStopsCleanly(t *testing.T) {
	before := runtime.NumGoroutine()
	var buf lockedBuffer
	r := NewRenderer(&buf, Options{Mode: ModeTerminal, Width: 80, Interval: time.Millisecond})
	r.Start(context.Background())
	r.Start(context.Background()) // a second Start must not start a second loop
	simulate(r.Progress(), 3, 2*time.Millisecond)
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	after := buf.String()
	if !strings.HasSuffix(after, "\n") || strings.Count(after, "\n") != 1 {
		t.Fatalf("want exactly one newline, at the end: %q", after)
	}
	time.Sleep(20 * time.Millisecond)
	if buf.String() != after {
		t.Fatal("renderer wrote after Stop")
	}
	waitGoroutines(t, before)
}

func TestRendererContextCancel(t *testing.T) {
	before := runtime.NumGoroutine()
	var buf lockedBuffer
	ctx, cancel := context.WithCancel(context.Background())
	r := NewRenderer(&buf, Options{Mode: ModeTerminal, Width: 80, Interval: time.Millisecond})
	r.Start(ctx)
	time.Sleep(10 * time.Millisecond)
	cancel()
	// Wait for the update loop itself to end: a goroutine count alone can
	// be fooled by an unrelated goroutine exiting meanwhile.
	select {
	case <-r.done:
	case <-time.After(2 * time.Second):
		t.Fatal("update loop still running 2s after its context was cancelled")
	}
	waitGoroutines(t, before)
	frozen := buf.String()
	time.Sleep(20 * time.Millisecond)
	if buf.String() != frozen {
		t.Fatal("renderer kept drawing after its context was cancelled")
	}
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(buf.String(), "\n") {
		t.Fatalf("Stop after cancel did not finish the line: %q", buf.String())
	}
}

func TestRendererStopWithoutStart(t *testing.T) {
	var buf lockedBuffer
	r := NewRenderer(&buf, Options{Mode: ModeTerminal})
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	r.Start(context.Background()) // too late: must not start
	time.Sleep(5 * time.Millisecond)
	if buf.String() != "" {
		t.Fatalf("unstarted renderer wrote %q", buf.String())
	}
}

func TestRendererReportsWriteError(t *testing.T) {
	r := NewRenderer(failWriter{}, Options{Mode: ModeTerminal, Interval: time.Hour})
	r.Start(context.Background())
	if err := r.Stop(); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("Stop() = %v, want the write error", err)
	}
}

// waitFor polls cond until it holds, failing the test after two seconds.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in time")
		}
		time.Sleep(time.Millisecond)
	}
}

func waitGoroutines(t *testing.T, want int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > want {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines running, want %d", runtime.NumGoroutine(), want)
		}
		time.Sleep(time.Millisecond)
	}
}
