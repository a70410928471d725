package worker

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/forkmq/forkmq/internal/nowait"
)

// alarm calls a function once a time set has passed, from its own
// goroutine, without a Go timer: a timerfd waited on in the runtime's poller, set and read with
// raw calls (package nowait).
//
// Why not time.AfterFunc: the runtime's sysmon thread sleeps until the
// next Go timer is due, so every firing of one wakes sysmon too, which
// then polls in 20 µs steps while the timer's goroutine runs — five to ten
// wake-ups of a second thread per firing. (A timer reset to later does not
// help: the runtime still wakes at the time it was first due, and only then
// looks again.) A timerfd's expiry wakes the process's one thread in its
// epoll_pwait, like a packet, and nothing else.
type alarm struct {
	f  *os.File // the timerfd, in the runtime's poller
	rc syscall.RawConn
}

// newAlarm starts an alarm, disarmed, whose goroutine calls fire at each
// expiry until close.
func newAlarm(fire func()) (*alarm, error) {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("timerfd_create", err)
	}
	f := os.NewFile(uintptr(fd), "alarm") // non-blocking: into the poller
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("alarm: %w", err)
	}
	a := &alarm{f: f, rc: rc}
	go a.wait(fire)
	return a, nil
}

// wait calls fire at each expiry until the alarm is closed.
func (a *alarm) wait(fire func()) {
	var count [8]byte
	for {
		err := a.rc.Read(func(fd uintptr) bool {
			_, rerr := nowait.Read(int(fd), count[:])
			return !errors.Is(rerr, unix.EAGAIN)
		})
		if err != nil {
			return // closed
		}
		fire()
	}
}

// set makes the alarm go off once, d from now (and not at a time set
// before); 0 disarms it.
func (a *alarm) set(d time.Duration) error {
	var err error
	if cerr := a.rc.Control(func(fd uintptr) { err = nowait.TimerfdSettime(int(fd), d) }); cerr != nil {
		return fmt.Errorf("alarm: %w", cerr)
	}
	if err != nil {
		return fmt.Errorf("alarm: %w", os.NewSyscallError("timerfd_settime", err))
	}
	return nil
}

// close stops the alarm and its goroutine. It does not wait for them (fire
// may take a lock the caller holds): an expiry read just before may still
// call fire once.
func (a *alarm) close() {
	a.f.Close()
}
