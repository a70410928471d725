package harness

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// progress draws two bars on a terminal, the whole benchmark's and the
// current run's, redrawn in place; elsewhere (a log file, CI) it prints one
// line per finished run instead.
type progress struct {
	mu       sync.Mutex
	out      io.Writer
	tty      bool
	total    time.Duration // estimated time of all runs
	done     time.Duration // estimated time of the finished runs
	runEst   time.Duration
	label    string
	frac     float64
	started  time.Time
	lastDraw time.Time
}

func newProgress(out *os.File, total time.Duration) *progress {
	fi, err := out.Stat()
	tty := err == nil && fi.Mode()&os.ModeCharDevice != 0
	return &progress{out: out, tty: tty, total: total, started: time.Now()}
}

// begin starts a run.
func (p *progress) begin(label string, estimate time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.label, p.runEst, p.frac = label, estimate, 0
	p.draw(true)
}

// set reports the current run's progress (0 to 1).
func (p *progress) set(frac float64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.frac = min(max(frac, 0), 1)
	p.draw(false)
}

// end finishes the current run with its status.
func (p *progress) end(status string, took time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done += p.runEst
	p.frac, p.runEst = 0, 0
	if p.tty {
		fmt.Fprintf(p.out, "\r\033[K%-60s %-8s %6.1fs\n", p.label, status, took.Seconds())
		p.draw(true)
		return
	}
	fmt.Fprintf(p.out, "%s  %-60s %-8s %6.1fs\n", p.overall(), p.label, status, took.Seconds())
}

// finish clears the bars.
func (p *progress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty {
		fmt.Fprint(p.out, "\r\033[K")
	}
}

// note prints a line above the bars.
func (p *progress) note(format string, a ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty {
		fmt.Fprint(p.out, "\r\033[K")
	}
	fmt.Fprintf(p.out, format+"\n", a...)
	p.draw(true)
}

func (p *progress) overall() string {
	frac := 1.0
	if p.total > 0 {
		frac = min(1, (float64(p.done)+p.frac*float64(p.runEst))/float64(p.total))
	}
	return fmt.Sprintf("%3.0f%% %s", 100*frac, time.Since(p.started).Round(time.Second))
}

func (p *progress) draw(force bool) {
	if !p.tty || (!force && time.Since(p.lastDraw) < 100*time.Millisecond) {
		return
	}
	p.lastDraw = time.Now()
	total := 1.0
	if p.total > 0 {
		total = min(1, (float64(p.done)+p.frac*float64(p.runEst))/float64(p.total))
	}
	fmt.Fprintf(p.out, "\r\033[Kall %s %3.0f%% %6s | %-44.44s %s", bar(total, 24), 100*total,
		time.Since(p.started).Round(time.Second), p.label, bar(p.frac, 16))
}

func bar(frac float64, width int) string {
	n := int(frac*float64(width) + 0.5)
	return "[" + strings.Repeat("#", n) + strings.Repeat(".", width-n) + "]"
}
