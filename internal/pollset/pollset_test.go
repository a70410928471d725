package pollset

import (
	"encoding/binary"
	"errors"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// newSet makes an empty set, closed with the test.
func newSet(t *testing.T) *Set {
	t.Helper()
	set, err := New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { set.Close() })
	return set
}

// setWithEventfd is a set holding an eventfd of the given count, tagged
// tag; both are closed with the test.
func setWithEventfd(t *testing.T, count uint, tag int32) (*Set, int) {
	t.Helper()
	set := newSet(t)
	efd, err := unix.Eventfd(count, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(efd) })
	if err := set.Add(efd, unix.EPOLLIN|unix.EPOLLET, tag); err != nil {
		t.Fatal(err)
	}
	return set, efd
}

// TestSetWait: the set reports a descriptor that becomes ready while
// the deliverer is parked in the netpoller, reports nothing once its
// timeout passes, and reports nothing more for an edge already seen.
func TestSetWait(t *testing.T) {
	const tag = 7
	set, efd := setWithEventfd(t, 0, tag)
	events := make([]unix.EpollEvent, 4)

	// Nothing ready: the timeout ends the wait with no event.
	if n, err := set.Wait(events, time.Now().Add(10*time.Millisecond)); err != nil || n != 0 {
		t.Fatalf("wait with nothing ready: %d events, %v; want 0, nil", n, err)
	}

	// Ready while parked: the wait (no bound) returns it.
	go func() {
		time.Sleep(20 * time.Millisecond)
		var one [8]byte
		binary.NativeEndian.PutUint64(one[:], 1)
		unix.Write(efd, one[:])
	}()
	n, err := set.Wait(events, time.Time{})
	if err != nil || n != 1 || events[0].Fd != tag {
		t.Fatalf("wait for a write: %d events (%+v), %v; want the one tagged %d", n, events[:n], err, tag)
	}

	// Edge-triggered: the same readiness is not reported twice; the
	// deadline of a bounded wait does not stay on an unbounded one.
	if n, err := set.Wait(events, time.Now().Add(10*time.Millisecond)); err != nil || n != 0 {
		t.Fatalf("second wait: %d events, %v; want 0, nil", n, err)
	}
	go func() {
		time.Sleep(20 * time.Millisecond)
		var one [8]byte
		binary.NativeEndian.PutUint64(one[:], 1)
		unix.Write(efd, one[:])
	}()
	if n, err := set.Wait(events, time.Time{}); err != nil || n != 1 {
		t.Fatalf("unbounded wait after a bounded one: %d events, %v; want 1", n, err)
	}
}

// TestClearDeadline: a set kept after a bounded wait loses its deadline,
// in the runtime's poller too: once the old deadline has passed, a read of
// the set's descriptor is not refused for it (a deadline left armed would
// also fire, and wake the process, with nothing waiting).
func TestClearDeadline(t *testing.T) {
	set, _ := setWithEventfd(t, 1, 1)
	events := make([]unix.EpollEvent, 4)
	const bound = 20 * time.Millisecond
	for _, clear := range []bool{false, true} {
		if n, err := set.Wait(events, time.Now().Add(bound)); err != nil || n > 1 {
			t.Fatalf("bounded wait: %d events, %v", n, err)
		}
		if clear {
			if err := set.ClearDeadline(); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(2 * bound) // the deadline has passed
		err := set.raw.Read(func(uintptr) bool { return true })
		if got := errors.Is(err, os.ErrDeadlineExceeded); got == clear {
			t.Errorf("cleared %v: read after the deadline: %v", clear, err)
		}
		set.deadline = time.Time{}
		set.file.SetReadDeadline(time.Time{})
	}
}

// TestCloseLeavesSet: closing the last descriptor of an open file takes
// it out of the set with no Remove (what a deliverer relies on for its
// queue, whose descriptor is its own), while a descriptor whose file is
// still open elsewhere (a dup, as the client's socket is in the router)
// stays in the set until Remove, its events still reported.
func TestCloseLeavesSet(t *testing.T) {
	tests := []struct {
		name      string
		keepDup   bool
		wantEvent bool
	}{
		{"last descriptor closed", false, false},
		{"another descriptor of the file open", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set := newSet(t)
			efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
			if err != nil {
				t.Fatal(err)
			}
			other, err := unix.Dup(efd)
			if err != nil {
				t.Fatal(err)
			}
			// Level-triggered: a registration left behind reports the
			// count at every wait.
			if err := set.Add(efd, unix.EPOLLIN, 1); err != nil {
				t.Fatal(err)
			}
			var one [8]byte
			binary.NativeEndian.PutUint64(one[:], 1)
			if _, err := unix.Write(other, one[:]); err != nil {
				t.Fatal(err)
			}
			if !tt.keepDup {
				unix.Close(other)
			}
			unix.Close(efd)
			events := make([]unix.EpollEvent, 2)
			n, err := set.Wait(events, time.Now().Add(50*time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			if got := n > 0; got != tt.wantEvent {
				t.Fatalf("after the close: %d events; want an event: %v", n, tt.wantEvent)
			}
			if tt.keepDup {
				unix.Close(other)
			}
		})
	}
}

// TestAwait: a reader that tries its own read and waits with Await gets
// every message, whether the socket is in the set level-triggered (its
// entry then stays on the set's ready list, since Await never asks the
// set what is ready: a later message must still wake the wait) or
// edge-triggered; messages sent one at a time, each after the last was
// read (every read then parks), and in a burst. With nothing sent, a
// bounded Await ends at its deadline.
func TestAwait(t *testing.T) {
	const messages = 500
	tests := []struct {
		name   string
		events uint32
	}{
		{"level-triggered", unix.EPOLLIN | unix.EPOLLRDHUP},
		{"edge-triggered", unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLET},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set := newSet(t)
			fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(fds[0])
			defer unix.Close(fds[1])
			if err := set.Add(fds[0], tt.events, 0); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 16)
			var got int
			recv := func() bool {
				n, _, err := unix.Recvfrom(fds[0], buf, unix.MSG_DONTWAIT)
				if errors.Is(err, unix.EAGAIN) {
					return false
				}
				if err != nil || n != 1 || int(buf[0]) != got%256 {
					t.Fatalf("message %d: %d bytes (%v), %v", got, n, buf[:max(n, 0)], err)
				}
				got++
				return true
			}
			send := func(i int) {
				if _, err := unix.Write(fds[1], []byte{byte(i)}); err != nil {
					t.Error(err)
				}
			}

			if done, err := set.Await(time.Now().Add(10*time.Millisecond), recv); err != nil || done {
				t.Fatalf("await with nothing sent: %v, %v; want false, nil", done, err)
			}

			// One at a time: each send waits for the last message's read.
			next := make(chan int)
			go func() {
				for i := range next {
					send(i)
				}
			}()
			for i := 0; i < messages; i++ {
				next <- i
				if done, err := set.Await(time.Time{}, recv); err != nil || !done {
					t.Fatalf("await message %d: %v, %v", i, done, err)
				}
			}
			close(next)

			// A burst: the sender runs ahead (the socket's queue holds
			// some; its sends block for room as the reader reads).
			go func() {
				for i := messages; i < 2*messages; i++ {
					send(i)
				}
			}()
			for got < 2*messages {
				if done, err := set.Await(time.Time{}, recv); err != nil || !done {
					t.Fatalf("await message %d: %v, %v", got, done, err)
				}
			}
		})
	}
}
