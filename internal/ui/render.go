package ui

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"
)

// Mode selects how a Renderer reports.
type Mode int

// Output modes. Every mode reports errors as they happen; they differ in how
// they report status.
const (
	// ModeAuto draws a status line when the writer is a terminal and
	// behaves like ModeQuiet otherwise.
	ModeAuto Mode = iota
	// ModeTerminal redraws one status line in place, whatever the writer.
	ModeTerminal
	// ModeJSON writes a JSON status object per line.
	ModeJSON
	// ModeQuiet writes no status, only errors.
	ModeQuiet
)

// Default update intervals.
const (
	DefaultTerminalInterval = 200 * time.Millisecond
	DefaultJSONInterval     = time.Second
	defaultWidth            = 80
)

// Options configures a Renderer.
type Options struct {
	Mode Mode
	// Width is the line width in columns. Zero asks the terminal on every
	// redraw and falls back to 80.
	Width int
	// Interval is the time between updates. Zero picks
	// DefaultTerminalInterval or DefaultJSONInterval.
	Interval time.Duration
}

// Renderer shows the state of a Progress while work runs. Create it with
// NewRenderer, hand Progress() to the work, call Start, and call Stop when
// the work is over and before printing anything else to the same writer.
type Renderer struct {
	w        io.Writer
	mode     Mode
	width    int
	interval time.Duration
	progress *Progress
	stop     chan struct{}
	done     chan struct{}

	mu      sync.Mutex // serialises output and guards the fields below
	meter   rateMeter
	start   time.Time
	lastLen int // runes of the status line currently on screen
	started bool
	stopped bool
	err     error // first write error
}

// NewRenderer returns a Renderer writing to w, usually os.Stderr.
func NewRenderer(w io.Writer, opts Options) *Renderer {
	r := &Renderer{
		w:     w,
		mode:  opts.Mode,
		width: opts.Width,
		meter: rateMeter{window: rateWindow},
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	switch r.mode {
	case ModeTerminal, ModeJSON, ModeQuiet:
	case ModeAuto:
		r.mode = ModeQuiet
		if _, ok := terminalFd(w); ok {
			r.mode = ModeTerminal
		}
	default:
		r.mode = ModeQuiet
	}
	r.interval = opts.Interval
	if r.interval <= 0 {
		r.interval = DefaultTerminalInterval
		if r.mode == ModeJSON {
			r.interval = DefaultJSONInterval
		}
	}
	r.progress = NewProgress(r.reportError)
	return r
}

// Progress returns the counters this Renderer shows. It implements Counter
// and ScanFinisher.
func (r *Renderer) Progress() *Progress { return r.progress }

// Start begins periodic updates. They end when Stop is called or ctx is
// done; only the first call has an effect.
func (r *Renderer) Start(ctx context.Context) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started || r.stopped {
		return
	}
	r.started = true
	r.start = time.Now()
	r.meter.add(r.start, r.progress.Snapshot().BytesDone)
	if r.mode == ModeQuiet {
		close(r.done) // nothing to update
		return
	}
	go r.loop(ctx)
}

func (r *Renderer) loop(ctx context.Context) {
	defer close(r.done)
	tick := time.NewTicker(r.interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.stop:
			return
		case <-tick.C:
			r.mu.Lock()
			r.update(time.Now(), false) // read under the lock so samples stay in order
			r.mu.Unlock()
		}
	}
}

// Stop ends the updates, waits for them to finish and writes a final
// status: on a terminal the status line is completed with a newline. Stop
// returns the first error met writing to the output. It is safe to call
// more than once.
func (r *Renderer) Stop() error {
	r.mu.Lock()
	if !r.started || r.stopped {
		r.stopped = true
		defer r.mu.Unlock()
		return r.err
	}
	r.stopped = true
	r.mu.Unlock()

	close(r.stop)
	<-r.done

	r.mu.Lock()
	defer r.mu.Unlock()
	r.update(time.Now(), true)
	return r.err
}

// update writes one status; r.mu must be held.
func (r *Renderer) update(now time.Time, final bool) {
	snap := r.progress.Snapshot()
	rate := r.meter.add(now, snap.BytesDone)
	elapsed := now.Sub(r.start)
	switch r.mode {
	case ModeTerminal:
		r.drawLine(statusLine(snap, elapsed, rate))
		if final {
			r.write("\n")
			r.lastLen = 0
		}
	case ModeJSON:
		r.writeJSON(statusJSON(snap, elapsed, rate))
	}
}

// drawLine replaces the status line on screen with line, cut to the width.
func (r *Renderer) drawLine(line string) {
	line = truncate(line, r.columns()-1)
	n := len([]rune(line))
	pad := max(min(r.lastLen, r.columns()-1)-n, 0)
	r.write("\r" + line + strings.Repeat(" ", pad))
	r.lastLen = n
}

func (r *Renderer) clearLine() {
	if r.lastLen > 0 {
		r.write("\r" + strings.Repeat(" ", r.lastLen) + "\r")
		r.lastLen = 0
	}
}

// columns returns the current line width.
func (r *Renderer) columns() int {
	if r.width > 0 {
		return r.width
	}
	if fd, ok := terminalFd(r.w); ok {
		if cols, _, err := term.GetSize(fd); err == nil && cols > 0 {
			return cols
		}
	}
	return defaultWidth
}

// reportError is called by the Progress for every error, from any goroutine.
func (r *Renderer) reportError(path string, err error) {
	msg := "unknown error"
	if err != nil {
		msg = err.Error()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.mode == ModeJSON {
		r.writeJSON(ErrorJSON{MessageType: "error", Path: path, Error: msg})
		return
	}
	r.clearLine()
	r.write(fmt.Sprintf("error: %s: %s\n", printable(path), printable(msg)))
	if r.mode == ModeTerminal && r.started && !r.stopped {
		r.update(time.Now(), false)
	}
}

func (r *Renderer) writeJSON(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		r.setErr(fmt.Errorf("encode status: %w", err))
		return
	}
	r.write(string(append(b, '\n')))
}

func (r *Renderer) write(s string) {
	if _, err := io.WriteString(r.w, s); err != nil {
		r.setErr(fmt.Errorf("write status: %w", err))
	}
}

func (r *Renderer) setErr(err error) {
	if r.err == nil {
		r.err = err
	}
}

// terminalFd returns the file descriptor of w when w is a terminal.
func terminalFd(w io.Writer) (int, bool) {
	f, ok := w.(interface{ Fd() uintptr })
	if !ok {
		return 0, false
	}
	fd := int(f.Fd())
	return fd, term.IsTerminal(fd)
}
