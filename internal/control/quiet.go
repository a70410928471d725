package control

import (
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/forkmq/forkmq/internal/pollset"
)

// quietSocket is a worker's end of its control channel as a
// syscall.RawConn that waits only for what can be read: the socket stays
// blocking, out of the runtime's poller, and is in an epoll set of its own
// for EPOLLIN and EPOLLRDHUP alone; the set is what the poller waits on.
//
// Why: the poller registers every descriptor for reading and writing,
// edge-triggered, and a unix socket tells its writer of room each time its
// reader takes a datagram. So each message the supervisor read from a
// worker woke that worker's poller for nothing (2.2 wake-ups per
// connection in the connect scenario, `perf record -e sched:sched_wakeup`:
// unix_write_space under the supervisor's recvmsg). A worker's control
// messages are small and rare; when one finds no room it waits in poll(2).
//
// Every call on the socket must not block: Conn's calls pass MSG_DONTWAIT.
//
// The supervisor's ends are quiet sockets too, read through an Inbox (one
// epoll set for all of them) instead of each its own: set is nil and
// detach takes the socket out of the inbox before it is closed.
type quietSocket struct {
	fd       int
	set      *pollset.Set // holds fd for reading, in the poller; nil when an Inbox reads it
	detach   func()       // takes fd out of its Inbox (nil: none)
	rDead    time.Time    // of reads (SetReadDeadline, by the goroutine that reads, before it reads)
	deadline time.Time    // of writes (SetWriteDeadline)
}

// newQuietSocket makes a quietSocket of fd, a SOCK_SEQPACKET socket it
// owns from now on (closed if it fails).
func newQuietSocket(fd int) (*quietSocket, error) {
	if err := unix.SetNonblock(fd, false); err != nil {
		unix.Close(fd)
		return nil, os.NewSyscallError("fcntl", err)
	}
	set, err := pollset.New()
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	// Level-triggered inside: the set stays readable while a message
	// waits, and the poller's edge comes with each new one.
	if err := set.Add(fd, unix.EPOLLIN|unix.EPOLLRDHUP, 0); err != nil {
		set.Close()
		unix.Close(fd)
		return nil, err
	}
	return &quietSocket{fd: fd, set: set}, nil
}

// Control implements syscall.RawConn.
func (q *quietSocket) Control(f func(fd uintptr)) error {
	f(uintptr(q.fd))
	return nil
}

// Read implements syscall.RawConn: f is called until it is done, waiting
// in the poller (under the read deadline) until the socket has something
// to read, or its peer is gone. f is the set's test (pollset.Set.Await):
// the set is never asked what is ready (it holds the socket alone), which
// spares two epoll_wait calls per wait.
func (q *quietSocket) Read(f func(fd uintptr) bool) error {
	if q.set == nil {
		if f(uintptr(q.fd)) {
			return nil
		}
		return ErrInInbox
	}
	done, err := q.set.Await(q.rDead, func() bool { return f(uintptr(q.fd)) })
	switch {
	case err != nil:
		return err
	case !done:
		return os.ErrDeadlineExceeded
	}
	return nil
}

// Write implements syscall.RawConn: f is called until it is done, waiting
// in poll(2) (under the write deadline) for room in between.
func (q *quietSocket) Write(f func(fd uintptr) bool) error {
	for !f(uintptr(q.fd)) {
		timeout := -1
		if !q.deadline.IsZero() {
			left := time.Until(q.deadline)
			if left <= 0 {
				return os.ErrDeadlineExceeded
			}
			timeout = int(left.Milliseconds()) + 1
		}
		fds := []unix.PollFd{{Fd: int32(q.fd), Events: unix.POLLOUT}}
		if _, err := unix.Poll(fds, timeout); err != nil && !errors.Is(err, unix.EINTR) {
			return os.NewSyscallError("poll", err)
		}
	}
	return nil
}

func (q *quietSocket) SetReadDeadline(t time.Time) error {
	q.rDead = t
	return nil
}

func (q *quietSocket) SetWriteDeadline(t time.Time) error {
	q.deadline = t
	return nil
}

func (q *quietSocket) Close() error {
	var err error
	if q.detach != nil {
		q.detach()
	}
	if q.set != nil {
		err = q.set.Close()
	}
	if cerr := unix.Close(q.fd); err == nil && cerr != nil {
		err = fmt.Errorf("control channel: %w", os.NewSyscallError("close", cerr))
	}
	return err
}
