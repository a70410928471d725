package worker

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/forkmq/forkmq/internal/nowait"
	"github.com/forkmq/forkmq/internal/pollset"
)

// clientSocket is the router's end of the client's socket (a TCP socket,
// or the plain end of a socketpair whose other end the supervisor's
// terminator pumps to a TLS or WebSocket session, package listener; the
// router does not know the difference): a raw descriptor, read with raw
// calls (package nowait), that waits for the client in the worker's epoll
// set (delivererSet: the deliverers' set, which no deliverer uses while
// the worker is a router), under the connection's read deadline.
//
// Why not an os.File in the runtime's poller, as it was: its close is a
// system call the scheduler is told of, and the first such call of a
// wake-up wakes the runtime's sysmon thread (package nowait) — the
// router's close of the socket at a client's end was the last one a clean
// CONNECT/DISCONNECT client cost (0.9 sysmon wake-ups per connection,
// perf sched_wakeup). The set is waited on with the read as its test
// (pollset.Set.Await): no more system calls per wait than the os.File.
type clientSocket struct {
	fd       int // -1 once closed
	set      *pollset.Set
	deadline time.Time // zero: none
}

// tagClient tags the router's socket in the set (the router looks at no
// tag: it reads until the socket has nothing).
const tagClient = tagControl + 1

// newClientSocket takes fd, the client's socket handed over raw, for
// reading, in set. Its reads are MSG_DONTWAIT, so fd need not be
// non-blocking (a terminator's end is not; a TCP socket already is): no
// fcntl per client. The caller owns fd until it returns without an error.
func newClientSocket(fd int, set *pollset.Set) (*clientSocket, error) {
	if err := set.Add(fd, unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLET, tagClient); err != nil {
		return nil, fmt.Errorf("socket: %w", err)
	}
	return &clientSocket{fd: fd, set: set}, nil
}

// Read reads what the client sent, waiting for it until the read deadline
// (then an error that is a timeout, os.ErrDeadlineExceeded). It returns
// io.EOF once the client or a shutdown ended the connection.
func (s *clientSocket) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	var n int
	var err error
	// The set waits, the read is the test (pollset.Set.Await): no
	// epoll_wait of the set, before the park or after it, per wait.
	// Edge-triggered: after EAGAIN the next edge is the client's next
	// bytes (or the control eventfd's count, which the watch takes: read
	// again, and wait again).
	read := func() bool {
		n, err = nowait.Recv(s.fd, p, unix.MSG_DONTWAIT)
		return !errors.Is(err, unix.EAGAIN)
	}
	done, werr := s.set.Await(s.deadline, read)
	switch {
	case werr != nil:
		return 0, werr
	case !done:
		return 0, os.ErrDeadlineExceeded
	case err != nil:
		return 0, err
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

// SetReadDeadline bounds the reads from now on (zero: no bound). It only
// notes t: the set's wait takes it, and changes the runtime's timer only
// when it differs from the last wait's.
func (s *clientSocket) SetReadDeadline(t time.Time) error {
	s.deadline = t
	return nil
}

// shutdown ends the connection for both workers at once: the socket is
// shared, so closing the router's descriptor alone would leave the
// deliverer's open. Safe from another goroutine than Read's, which then
// finds the end.
func (s *clientSocket) shutdown(log zerolog.Logger) { shutdownFd(s.fd, log) }

// Close takes the socket out of the set (closing it would not: the
// deliverer's descriptor of it may still be open), clears the set's
// deadline (an armed one would wake the idle worker) and closes it, raw.
func (s *clientSocket) Close() error {
	if s.fd < 0 {
		return nil
	}
	s.set.Remove(s.fd)
	err := s.set.ClearDeadline()
	if cerr := nowait.Close(s.fd); err == nil {
		err = cerr
	}
	s.fd = -1
	return err
}
