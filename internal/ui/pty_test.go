//go:build linux

package ui

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"
)

// openPTY returns the controller and the terminal side of a new
// pseudo-terminal whose window is cols columns wide.
func openPTY(t *testing.T, cols uint16) (ptmx, tty *os.File) {
	t.Helper()
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals: %v", err)
	}
	fd := int(ptmx.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlock pty: %v", err)
	}
	n, err := unix.IoctlGetUint32(fd, unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("pty number: %v", err)
	}
	tty, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open pty: %v", err)
	}
	if err := unix.IoctlSetWinsize(int(tty.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 24, Col: cols}); err != nil {
		t.Fatalf("set window size: %v", err)
	}
	return ptmx, tty
}

// On a real terminal, the automatic mode must draw the status line and take
// the width from the terminal's window size.
func TestRendererAutoOnTerminal(t *testing.T) {
	ptmx, tty := openPTY(t, 30)
	defer ptmx.Close()
	read := make(chan string)
	go func() {
		b, _ := io.ReadAll(ptmx) // ends with EIO once tty is closed
		read <- string(b)
	}()

	r := NewRenderer(tty, Options{Interval: 2 * time.Millisecond})
	r.Start(context.Background())
	simulate(r.Progress(), 5, 3*time.Millisecond)
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	tty.Close()
	out := <-read

	if !strings.Contains(out, "files") || !strings.HasSuffix(out, "\n") {
		t.Fatalf("no status line on the terminal: %q", out)
	}
	for _, seg := range segments(out) {
		if n := utf8.RuneCountInString(seg); n > 29 {
			t.Errorf("segment of %d runes exceeds the 30-column terminal: %q", n, seg)
		}
	}
}
