package pollset

import (
	"encoding/binary"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestSetWait: the set reports a descriptor that becomes ready while
// the deliverer is parked in the netpoller, reports nothing once its
// timeout passes, and reports nothing more for an edge already seen.
func TestSetWait(t *testing.T) {
	set, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(efd)
	const tag = 7
	if err := set.Add(efd, unix.EPOLLIN|unix.EPOLLET, tag); err != nil {
		t.Fatal(err)
	}
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
