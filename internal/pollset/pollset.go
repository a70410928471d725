package pollset

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/forkmq/forkmq/internal/nowait"
)

// Set is an epoll set of a process's own, waited on through the Go
// runtime's netpoller rather than in a blocking epoll_wait.
//
// Why: a goroutine blocked in a raw syscall keeps its P (GOMAXPROCS is 1 in
// a worker), so the runtime's sysmon thread wakes every 20 µs to take the P
// back, another thread is woken (or cloned) to run the control channel's
// goroutine, and every wake-up of the deliverer goes through the slow
// exitsyscall path. Each short connection paid that several times: in the
// connect scenario sysmon alone was 13 % of the broker's CPU. An epoll set is
// itself pollable (readable when one of its descriptors is ready), so the
// set is registered with the netpoller like a socket: the deliverer asks
// the set without blocking, and parks (its P idle, sysmon asleep) until the
// netpoller says the set has something.
type Set struct {
	fd       int
	file     *os.File
	raw      syscall.RawConn
	deadline time.Time // file's read deadline now (zero: none)
}

// New makes an empty set, in the poller.
func New() (*Set, error) {
	fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	// os.NewFile registers a non-blocking descriptor with the netpoller.
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, os.NewSyscallError("fcntl", err)
	}
	f := os.NewFile(uintptr(fd), "epoll")
	raw, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("epoll: %w", err)
	}
	return &Set{fd: fd, file: f, raw: raw}, nil
}

// Add adds fd to the set for events (unix.EPOLLET among them for an edge),
// with tag as its event's Fd.
func (s *Set) Add(fd int, events uint32, tag int32) error {
	ev := unix.EpollEvent{Events: events, Fd: tag}
	if err := unix.EpollCtl(s.fd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		return os.NewSyscallError("epoll_ctl", err)
	}
	return nil
}

// Remove takes fd out of the set.
func (s *Set) Remove(fd int) {
	_ = unix.EpollCtl(s.fd, unix.EPOLL_CTL_DEL, fd, nil)
}

// Wait fills events with what is ready, waiting for something until
// deadline (zero: no bound); it returns 0 when the deadline passed.
func (s *Set) Wait(events []unix.EpollEvent, deadline time.Time) (int, error) {
	var n int
	var werr error
	done, err := s.park(deadline, func(fd uintptr) bool {
		// Zero timeout, and without telling the scheduler: a call that
		// cannot wait leaves sysmon asleep (package nowait).
		n, werr = nowait.EpollPoll(int(fd), events)
		if errors.Is(werr, unix.EINTR) {
			n, werr = 0, nil
		}
		return werr != nil || n > 0
	})
	switch {
	case err != nil:
		return 0, err
	case !done:
		return 0, nil
	case werr != nil:
		return 0, os.NewSyscallError("epoll_wait", werr)
	}
	return n, nil
}

// Await calls try until it is done, waiting in between until something
// new happens in the set or deadline (zero: no bound) passes; it returns
// false when the deadline passed first. It is Wait for a caller that does
// not need to know what is ready, only to try its own call again (a read
// that finds nothing): try takes the place of Wait's zero-timeout
// epoll_wait of the set, before the park and after it, two system calls
// per wait.
//
// Why no wake-up is lost: the runtime forgets what its poller saw before
// Await begins and then calls try, so whatever came before try is what
// try finds; whatever comes after it wakes the set's waiters again — each
// wake-up of a descriptor in the set wakes the poller's wait on the set,
// level-triggered or edge-triggered, whether or not an earlier one was
// taken (fs/eventpoll.c, ep_poll_callback) — and so ends the park. So try
// must look at everything the caller waits for, and every descriptor it
// looks at must be in the set.
func (s *Set) Await(deadline time.Time, try func() bool) (bool, error) {
	return s.park(deadline, func(uintptr) bool { return try() })
}

// park calls try with the set's descriptor until it is done, waiting in
// the poller in between; it returns false when deadline (zero: no bound)
// passed first. The deadline is a timer in the runtime: it is set only
// when it changes.
func (s *Set) park(deadline time.Time, try func(fd uintptr) bool) (bool, error) {
	if !deadline.Equal(s.deadline) {
		if err := s.file.SetReadDeadline(deadline); err != nil {
			return false, fmt.Errorf("epoll: %w", err)
		}
		s.deadline = deadline
	}
	err := s.raw.Read(try)
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("epoll: %w", err)
	}
	return true, nil
}

// ClearDeadline drops the deadline of the last Wait, for a set kept while
// nothing waits in it: the runtime timer behind it would wake the process
// for nothing.
func (s *Set) ClearDeadline() error {
	if s.deadline.IsZero() {
		return nil
	}
	if err := s.file.SetReadDeadline(time.Time{}); err != nil {
		return fmt.Errorf("epoll: %w", err)
	}
	s.deadline = time.Time{}
	return nil
}

// Close closes the set (the descriptors in it stay open).
func (s *Set) Close() error {
	return s.file.Close()
}
