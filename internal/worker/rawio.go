package worker

import (
	"errors"
	"fmt"
	"io"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/forkmq/forkmq/internal/nowait"
)

// sockReader reads a socket the way net.Conn does — waiting in the
// runtime's poller, under the connection's read deadline — but makes the
// read itself a raw call (package nowait): a router woken by one packet then
// wakes no other thread of its process.
type sockReader struct {
	rc syscall.RawConn
}

// newSockReader reads from c's descriptor; c keeps it (and its deadlines).
func newSockReader(c syscall.Conn) (*sockReader, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("socket: %w", err)
	}
	return &sockReader{rc: rc}, nil
}

func (s *sockReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	var n int
	var rerr error
	err := s.rc.Read(func(fd uintptr) bool {
		n, rerr = nowait.Read(int(fd), p)
		return !errors.Is(rerr, unix.EAGAIN)
	})
	switch {
	case err != nil: // the deadline, or the connection closed
		return 0, err
	case rerr != nil:
		return 0, rerr
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}
