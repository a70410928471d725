package stall

import (
	"errors"
	"io"
	"net"
	"os"
	"sync/atomic"
	"time"
)

// DefaultTimeout is how long a subscriber with work pending may make no
// progress before it counts as stalled (-stall-timeout).
const DefaultTimeout = 2 * time.Second

// Watch is a deliverer's progress and its verdict on the subscriber. Only
// the deliverer decides that its subscriber has stalled, right after a
// write the socket refused or while acknowledgements fail to come: that is
// what tells a subscriber that stopped reading from a deliverer that merely
// did not get the CPU for a while. Others (publishers waiting for room)
// only read the verdict. Its methods are safe for concurrent use.
type Watch struct {
	timeout time.Duration
	last    atomic.Int64 // unix nanoseconds of the last progress
	stalled atomic.Bool
	room    atomic.Pointer[chan struct{}] // closed at the next change; nil while nobody waits
	verdict atomic.Pointer[chan struct{}] // closed at the next stall verdict; nil while nobody waits
}

// NewWatch returns a Watch whose subscriber stalls after timeout without
// progress; it counts as having progressed now.
func NewWatch(timeout time.Duration) *Watch {
	w := &Watch{timeout: timeout}
	w.last.Store(time.Now().UnixNano())
	return w
}

// Timeout is the stall timeout.
func (w *Watch) Timeout() time.Duration { return w.timeout }

// Progress records progress now: a byte written, a message taken, an
// acknowledgement settled. It ends a stall, and wakes the waiters of Room.
// While nobody waits it costs a clock read and two atomic loads.
func (w *Watch) Progress() {
	w.last.Store(time.Now().UnixNano())
	if w.stalled.Load() {
		w.stalled.Store(false)
	}
	w.wake()
}

// MarkStalled records the verdict that the subscriber has stalled, and
// wakes the waiters of Room so they apply the slow-consumer policy.
func (w *Watch) MarkStalled() {
	w.stalled.Store(true)
	w.wake()
	closeSignal(&w.verdict)
}

func (w *Watch) wake() { closeSignal(&w.room) }

// Room is closed at the next progress or stall verdict: a waiter for room
// in the backlog looks again then. Call it before checking for room, then
// wait on it, so no change falls between the check and the wait.
func (w *Watch) Room() <-chan struct{} { return signal(&w.room) }

// Verdict is closed at the next stall verdict only, for a waiter that is
// handed room some other way (a channel send) and must not be woken at
// every progress. Call it before checking Stalled.
func (w *Watch) Verdict() <-chan struct{} { return signal(&w.verdict) }

// signal returns the channel in p, making one if there is none.
func signal(p *atomic.Pointer[chan struct{}]) <-chan struct{} {
	for {
		if c := p.Load(); c != nil {
			return *c
		}
		c := make(chan struct{})
		if p.CompareAndSwap(nil, &c) {
			return c
		}
	}
}

// closeSignal closes the channel in p, if any, waking everyone who waits on it.
func closeSignal(p *atomic.Pointer[chan struct{}]) {
	if p.Load() != nil {
		if c := p.Swap(nil); c != nil {
			close(*c)
		}
	}
}

// Stalled reports the verdict: the subscriber has made no progress for the
// stall timeout while work was pending, and none since.
func (w *Watch) Stalled() bool { return w.stalled.Load() }

// Idle is how long ago the last progress was.
func (w *Watch) Idle() time.Duration {
	return time.Duration(time.Now().UnixNano() - w.last.Load())
}

// Due reports whether the stall timeout has passed since the last progress.
func (w *Watch) Due() bool { return w.Idle() >= w.timeout }

// Left is how long until the stall timeout passes if no progress is made
// meanwhile (at least a millisecond, for timers).
func (w *Watch) Left() time.Duration { return max(w.timeout-w.Idle(), time.Millisecond) }

// Deadline is when the stall timeout passes if no progress is made
// meanwhile. Unlike now+Left it stays the same from one call to the next
// until progress moves it, so a waiter can keep its timer instead of
// resetting it at every wait.
func (w *Watch) Deadline() time.Time { return time.Unix(0, w.last.Load()).Add(w.timeout) }

// Writer writes to a connection and records every byte it accepts as
// progress. A plain Write to a socket blocks until all is written and
// reports nothing meanwhile; this one writes in slices of time, so a client
// that reads a large burst slowly is seen to make progress throughout, and
// one that reads nothing for the stall timeout is marked stalled — after one
// more attempt, so that a writer that merely did not run for a while does
// not mistake its own delay for the client's.
type Writer struct {
	conn  net.Conn
	watch *Watch
	slice time.Duration
	by    atomic.Int64 // unix nanoseconds by which writing must be done; 0: no limit
}

// NewWriter returns a Writer on conn that records progress in w.
func NewWriter(conn net.Conn, w *Watch) *Writer {
	return &Writer{conn: conn, watch: w, slice: max(w.timeout/4, 10*time.Millisecond)}
}

// Finish limits writing from now on: what is not written by then fails with
// os.ErrDeadlineExceeded. Safe to call from another goroutine, as when a
// connection that ends in order gives its last packets a grace period.
func (w *Writer) Finish(by time.Time) { w.by.Store(by.UnixNano()) }

// deadline sets the connection's write deadline for the next slice of time.
func (w *Writer) deadline(slice time.Duration) error {
	d := time.Now().Add(slice)
	if by := w.by.Load(); by != 0 {
		if time.Now().UnixNano() >= by {
			return os.ErrDeadlineExceeded
		}
		if end := time.Unix(0, by); end.Before(d) {
			d = end
		}
	}
	return w.conn.SetWriteDeadline(d)
}

// attempt runs one slice of writing: write (or sendfile) with the slice's
// deadline. It records progress, and the stall verdict when nothing was
// accepted, the timeout has passed, and an immediate second try confirms the
// socket is still full. It returns how much was written and an error other
// than the slice's deadline.
func (w *Writer) attempt(write func() (int64, error)) (int64, error) {
	if err := w.deadline(w.slice); err != nil {
		return 0, err
	}
	n, err := write()
	if n > 0 {
		w.watch.Progress()
		return n, w.sliceErr(err)
	}
	if err = w.sliceErr(err); err != nil || !w.watch.Due() || w.watch.Stalled() {
		return n, err
	}
	if err := w.deadline(time.Millisecond); err != nil {
		return 0, err
	}
	if n, err = write(); n > 0 {
		w.watch.Progress()
	} else if w.sliceErr(err) == nil {
		w.watch.MarkStalled()
	}
	return n, w.sliceErr(err)
}

func (w *Writer) sliceErr(err error) error {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return nil
	}
	return err
}

// Write writes all of p, however long the client takes to read it; it
// returns early only on an error of the connection (closed, reset) or when
// the time given to Finish is up.
func (w *Writer) Write(p []byte) (int, error) {
	done := 0
	for done < len(p) {
		n, err := w.attempt(func() (int64, error) {
			n, err := w.conn.Write(p[done:])
			return int64(n), err
		})
		done += int(n)
		if err != nil {
			return done, err
		}
	}
	return done, nil
}

// WriteBuffers writes all of bufs, consuming them, in slices of time like
// Write: with one writev(2) per slice when the connection is a socket
// (net.Buffers on a *net.TCPConn or *net.UnixConn).
func (w *Writer) WriteBuffers(bufs *net.Buffers) (int64, error) {
	var done int64
	for len(*bufs) > 0 {
		n, err := w.attempt(func() (int64, error) { return bufs.WriteTo(w.conn) })
		done += n
		if err != nil {
			return done, err
		}
	}
	return done, nil
}

// SendFile writes the next n bytes of f to the connection (sendfile(2) on a
// TCP socket), in slices of time like Write, advancing f's offset.
func (w *Writer) SendFile(f *os.File, n int64) (int64, error) {
	rf, ok := w.conn.(io.ReaderFrom)
	if !ok {
		return io.CopyN(w, f, n)
	}
	var done int64
	for done < n {
		m, err := w.attempt(func() (int64, error) {
			m, err := rf.ReadFrom(&io.LimitedReader{R: f, N: n - done})
			if err == nil && m == 0 {
				err = io.ErrUnexpectedEOF // f is shorter than n
			}
			return m, err
		})
		done += m
		if err != nil {
			return done, err
		}
	}
	return done, nil
}
