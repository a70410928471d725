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

// Descriptor returns a descriptor of the socket underneath, to hand to
// another process with SCM_RIGHTS: the TCP connection itself, or the plain
// end of Terminate's socketpair. It is non-blocking (as the workers take a
// handed socket) and close-on-exec, and the caller's to close. A session
// that is not terminated has none.
//
// A plain descriptor, not an *os.File: a process that only passes the
// socket on has no use for the runtime's poller, and os.NewFile asks the
// descriptor its mode (one fcntl), then registers a non-blocking one with
// the poller (which woke the thread in epoll_wait, a socket being ready to
// write at once: 0.14 of the supervisor's wake-ups per connection), and
// closing an *os.File is a system call the scheduler is told of. A
// connection ServeHandOver accepted gives its own descriptor, made
// non-blocking: nothing else in this process holds it (the Conn is left
// with nothing to close), so there is no duplicate to make and close —
// one fcntl where File, before, made three and a close. Any other gives a
// duplicate (one fcntl), its mode already non-blocking (net's); the Conn
// keeps its own.
func (c *Conn) Descriptor() (int, error) {
	if c.session {
		return -1, fmt.Errorf("a %s session is not a socket: terminate it first", c.scheme)
	}
	if s, ok := c.Conn.(*socket); ok {
		if fd, ok, err := s.detach(); ok {
			return fd, err
		}
	}
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return -1, fmt.Errorf("connection is a %T, not a socket", c.Conn)
	}
	return Dup(sc)
}

// Dup duplicates a socket's descriptor (close-on-exec), raw, for a Hand or
// for the listener's copy ServeHandOver waits on (pollable): the duplicate
// shares the socket's mode (net's sockets are non-blocking).
func Dup(sc syscall.Conn) (int, error) {
	rc, err := sc.SyscallConn()
	if err != nil {
		return -1, fmt.Errorf("duplicate the socket: %w", err)
	}
	dup, derr := -1, error(nil)
	if err := rc.Control(func(fd uintptr) { dup, derr = nowait.FcntlInt(int(fd), unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return -1, fmt.Errorf("duplicate the socket: %w", err)
	}
	if derr != nil {
		return -1, os.NewSyscallError("fcntl", derr)
	}
	return dup, nil
}
