package listener

import (
	"fmt"
	"io"
	"net"
	"os"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/forkmq/forkmq/internal/nowait"
)

// Conn is a connection a listener accepted, its handshakes done: Read and
// Write carry plain MQTT bytes.
type Conn struct {
	net.Conn
	remote   net.Addr
	identity string
	scheme   string
	// session is true when Conn is a TLS or WebSocket session rather than
	// a socket: see Terminate.
	session bool
	// onClose runs after Close closes the connection (Terminate's, to end
	// a pump its client holds up).
	onClose func()
}

// Close closes the connection.
func (c *Conn) Close() error {
	err := c.Conn.Close()
	if c.onClose != nil {
		c.onClose()
	}
	return err
}

// RemoteAddr is the client's address: the PROXY header's source when the
// listener reads one, the socket's peer otherwise.
func (c *Conn) RemoteAddr() net.Addr { return c.remote }

// Identity is the client certificate's subject common name on a listener
// with use_identity_as_username, "" otherwise: the user name the client is
// to have, whatever its CONNECT says.
func (c *Conn) Identity() string { return c.identity }

// Scheme is the kind of listener that accepted it: mqtt, mqtts, ws, wss.
func (c *Conn) Scheme() string { return c.scheme }

// Pumped reports whether the connection is the plain end of Terminate's
// socketpair: closing it ends the session (after CloseGrace at most), so
// a process that hands the socket on keeps it open until the client ends.
func (c *Conn) Pumped() bool { return c.onClose != nil }

// Session reports whether Read and Write go through a TLS or WebSocket
// session in this process (Terminate gives a socket instead).
func (c *Conn) Session() bool { return c.session }

// ReadFrom lets the socket underneath take io.Copy's and sendfile's path
// (the broker sends spooled payloads from their files) when there is one.
func (c *Conn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{c.Conn}, r)
}

// CloseWrite shuts the sending side where the connection has one (a
// refused client's CONNACK is followed by a half-close).
func (c *Conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// File returns a duplicate of the socket underneath, to hand to another
// process with SCM_RIGHTS: the TCP connection itself, or the plain end of
// Terminate's socketpair. A session that is not terminated has none.
//
// The duplicate is out of this process's poller, unlike net's File: the
// supervisor only passes it on and closes it, and registering it (the
// poller takes every non-blocking descriptor os.NewFile is given) woke the
// thread waiting in epoll_wait, a socket being ready to write at once —
// 0.14 of the supervisor's wake-ups per connection in the connect
// scenario (sched:sched_wakeup from runtime_pollOpen under net's dup). The
// blocking mode is the open file description's, shared with c and with
// the workers' copies, so it is cleared for os.NewFile alone and put back
// at once, with calls that never wait (package nowait); until the Hand,
// nobody else holds the socket, and the supervisor neither reads nor
// writes it.
func (c *Conn) File() (*os.File, error) {
	if c.session {
		return nil, fmt.Errorf("a %s session is not a socket: terminate it first", c.scheme)
	}
	if s, ok := c.Conn.(*socket); ok {
		if f, ok, err := s.file(); ok {
			return f, err
		}
	}
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return nil, fmt.Errorf("connection is a %T, not a socket", c.Conn)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("duplicate the socket: %w", err)
	}
	var f *os.File
	var derr error
	if err := rc.Control(func(fd uintptr) { f, derr = dupOutOfPoller(int(fd)) }); err != nil {
		return nil, fmt.Errorf("duplicate the socket: %w", err)
	}
	return f, derr
}

// dupOutOfPoller duplicates fd (close-on-exec) as an *os.File the poller
// does not watch, leaving fd's mode as it was.
func dupOutOfPoller(fd int) (*os.File, error) {
	dup, err := nowait.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("fcntl", err)
	}
	flags, err := nowait.FcntlInt(dup, unix.F_GETFL, 0)
	if err == nil && flags&unix.O_NONBLOCK != 0 {
		if _, err = nowait.FcntlInt(dup, unix.F_SETFL, flags&^unix.O_NONBLOCK); err == nil {
			defer func() {
				// Back as it was: conn's own calls are non-blocking ones.
				_, _ = nowait.FcntlInt(dup, unix.F_SETFL, flags)
			}()
		}
	}
	if err != nil {
		nowait.Close(dup)
		return nil, os.NewSyscallError("fcntl", err)
	}
	return os.NewFile(uintptr(dup), "socket"), nil
}
