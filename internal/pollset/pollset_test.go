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
