package pollset

import (
	"encoding/binary"
	"errors"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// setWithEventfd is a set holding an eventfd of the given count, tagged
// tag; both are closed with the test.
func setWithEventfd(t *testing.T, count uint, tag int32) (*Set, int) {
	t.Helper()
	set, err := New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { set.Close() })
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
			set, err := New()
			if err != nil {
				t.Fatal(err)
			}
			defer set.Close()
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
