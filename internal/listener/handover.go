package listener

import (
	"errors"
	"net"
	"os"
	"time"
	"unsafe"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/forkmq/forkmq/internal/admission"
	"github.com/forkmq/forkmq/internal/nowait"
)

// A process that hands its sockets to others (the process engine's
// supervisor) needs of a plain TCP connection only its descriptor and the
// peer's address: it never reads or writes it, unless it refuses it. net's
// Accept made each one a net.Conn anyway — registered with the poller and
// unregistered at its close (two epoll_ctl), its local address asked
// (getsockname), five socket options set (TCP_NODELAY and four of
// keep-alive), and the non-blocking descriptor's duplicate for the Hand
// taken out of the poller and put back (five fcntl): 16
// system calls per connection with accept4 and the two closes, of the
// supervisor's 34.6 in the connect scenario (strace -c, main 1fb4cde).
// ServeHandOver accepts a plain listener's connections itself instead,
// with accept4 until the backlog is empty: the options are set once on the
// listening socket, which every accepted socket inherits, and a
// connection is a descriptor until something reads or writes it (socket)
// — 6 calls per connection (24.5 in all after); handed over, that
// descriptor itself is given (Conn.Descriptor): one fcntl and one close.

// ServeHandOver is Serve for a process that hands sockets over: a plain
// TCP listener's connections are accepted as descriptors (see above), the
// others as ServePlain does. It returns when every listener has returned.
func (s Set) ServeHandOver(log zerolog.Logger, handle func(*Conn)) {
	s.serve(log, handle, (*Listener).serveHandOver)
}

// serveHandOver is ServePlain, with a plain listener's connections
// accepted as descriptors.
func (l *Listener) serveHandOver(handle func(*Conn)) {
	_, ok := l.ln.(*net.TCPListener)
	if !ok || l.cfg.Proxy != 0 || l.cfg.TLS != nil || l.cfg.Protocol == WebSockets {
		l.ServePlain(handle)
		return
	}
	f, err := l.pollable()
	if errors.Is(err, net.ErrClosed) {
		return
	}
	if err != nil {
		l.log.Error().Err(err).Msg("listener: no descriptor to accept on; accepting through net")
		l.ServePlain(handle)
		return
	}
	rc, err := f.SyscallConn()
	if err != nil {
		l.log.Error().Err(err).Msg("listener: no descriptor to accept on; accepting through net")
		l.ServePlain(handle)
		return
	}
	var backoff admission.Backoff
	scheme := l.cfg.Scheme()
	var batch []*Conn
	for {
		var aerr error
		batch = batch[:0]
		err := rc.Read(func(fd uintptr) bool {
			batch, aerr = acceptAll(int(fd), batch, scheme)
			return len(batch) > 0 || aerr != nil // false: wait until one is ready
		})
		for _, c := range batch {
			handle(c)
		}
		if err != nil {
			if l.isClosed() { // the file's raw Read says so with an unexported error
				return
			}
			aerr = err
		}
		if aerr == nil {
			backoff.Reset()
			continue
		}
		backoff.Wait(l.log, aerr) // out of descriptors, say
	}
}

// acceptAll accepts every connection waiting on the listening socket lfd
// (at most 64 at a time, so that the first are handed on while more
// arrive), appended to batch; an error other than an empty backlog is
// returned with what was accepted before it. accept4 on a non-blocking
// socket never waits, so it is made raw (package nowait): through the
// scheduler, each one was a system call after an idle spell, which wakes
// sysmon. The sockets are blocking (os.NewFile leaves a blocking one out
// of the poller) and close-on-exec.
func acceptAll(lfd int, batch []*Conn, scheme string) ([]*Conn, error) {
	var sa unix.RawSockaddrAny
	for range 64 {
		fd, err := nowait.Accept4(lfd, &sa, unix.SOCK_CLOEXEC)
		switch {
		case errors.Is(err, unix.EAGAIN):
			return batch, nil
		case errors.Is(err, unix.ECONNABORTED):
			continue // gone before it was accepted, as net's Accept skips it
		case err != nil:
			return batch, os.NewSyscallError("accept4", err)
		}
		remote := peerAddr(&sa)
		batch = append(batch, &Conn{Conn: &socket{fd: fd, remote: remote}, remote: remote, scheme: scheme})
	}
	return batch, nil
}

// peerAddr is the TCP address accept4 wrote to sa.
func peerAddr(sa *unix.RawSockaddrAny) *net.TCPAddr {
	switch sa.Addr.Family {
	case unix.AF_INET:
		in := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		return &net.TCPAddr{IP: net.IP(append([]byte(nil), in.Addr[:]...)), Port: ntohs(in.Port)}
	case unix.AF_INET6:
		in := (*unix.RawSockaddrInet6)(unsafe.Pointer(sa))
		a := &net.TCPAddr{IP: net.IP(append([]byte(nil), in.Addr[:]...)), Port: ntohs(in.Port)}
		if in.Scope_id != 0 {
			if ifc, err := net.InterfaceByIndex(int(in.Scope_id)); err == nil {
				a.Zone = ifc.Name
			}
		}
		return a
	}
	return &net.TCPAddr{}
}

// ntohs is a port in network byte order as a number.
func ntohs(p uint16) int {
	b := (*[2]byte)(unsafe.Pointer(&p))
	return int(b[0])<<8 | int(b[1])
}

// inheritedOptions sets on a listening socket the options Go sets on every
// connection net's Accept returns (TCP_NODELAY; keep-alive probes after 15
// s idle, every 15 s, 9 of them: net's defaults), so that the sockets
// ServeHandOver accepts, which inherit them from it (Linux copies the
// listening socket's), are as net's would be.
func inheritedOptions(fd int) error {
	for _, o := range []struct{ level, opt, value int }{
		{unix.IPPROTO_TCP, unix.TCP_NODELAY, 1},
		{unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1},
		{unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, 15},
		{unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, 15},
		{unix.IPPROTO_TCP, unix.TCP_KEEPCNT, 9},
	} {
		if err := unix.SetsockoptInt(fd, o.level, o.opt, o.value); err != nil {
			return os.NewSyscallError("setsockopt", err)
		}
	}
	return nil
}

// socket is a TCP connection ServeHandOver accepted, held as its
// descriptor: handed over, the descriptor itself is given away
// (Conn.Descriptor), and it never becomes anything else. Refused, it is read and written: the first
// call that needs a net.Conn makes one of it (net.FileConn). It is not
// safe for concurrent use until then (one goroutine has it at a time: the
// accept loop's, the supervisor's loop, a refusal's).
type socket struct {
	fd     int // -1 once closed or made a net.Conn
	remote net.Addr
	nc     net.Conn
	err    error // why nc could not be made
}

// conn is the socket as a net.Conn, made at the first call that needs it.
func (s *socket) conn() (net.Conn, error) {
	if s.nc != nil || s.err != nil {
		return s.nc, s.err
	}
	if s.fd < 0 {
		s.err = net.ErrClosed
		return nil, s.err
	}
	f := os.NewFile(uintptr(s.fd), "socket")
	s.fd = -1
	s.nc, s.err = net.FileConn(f) // a duplicate, non-blocking, in the poller
	f.Close()
	return s.nc, s.err
}

func (s *socket) Read(p []byte) (int, error) {
	nc, err := s.conn()
	if err != nil {
		return 0, err
	}
	return nc.Read(p)
}

func (s *socket) Write(p []byte) (int, error) {
	nc, err := s.conn()
	if err != nil {
		return 0, err
	}
	return nc.Write(p)
}

// Close closes the descriptor, or the net.Conn made of it.
func (s *socket) Close() error {
	if s.nc != nil {
		return s.nc.Close()
	}
	if s.fd < 0 {
		return net.ErrClosed
	}
	fd := s.fd
	s.fd = -1
	s.err = net.ErrClosed
	// Raw: closing a TCP socket without SO_LINGER does not wait.
	return nowait.Close(fd)
}

// CloseWrite shuts the sending side (a refusal's CONNACK is followed by
// one).
func (s *socket) CloseWrite() error {
	nc, err := s.conn()
	if err != nil {
		return err
	}
	if cw, ok := nc.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

func (s *socket) RemoteAddr() net.Addr { return s.remote }

// LocalAddr is asked of the kernel: nothing on the hand-over's path needs it.
func (s *socket) LocalAddr() net.Addr {
	if nc, err := s.conn(); err == nil {
		return nc.LocalAddr()
	}
	return &net.TCPAddr{}
}

func (s *socket) SetDeadline(t time.Time) error {
	nc, err := s.conn()
	if err != nil {
		return err
	}
	return nc.SetDeadline(t)
}

func (s *socket) SetReadDeadline(t time.Time) error {
	nc, err := s.conn()
	if err != nil {
		return err
	}
	return nc.SetReadDeadline(t)
}

func (s *socket) SetWriteDeadline(t time.Time) error {
	nc, err := s.conn()
	if err != nil {
		return err
	}
	return nc.SetWriteDeadline(t)
}

// detach is Conn.Descriptor for a socket not made a net.Conn: its own
// descriptor, made non-blocking (as the workers take a handed socket; the
// mode is the open file description's, which nothing else in this process
// shares), given to the caller: s is closed without a call. One raw fcntl,
// which never waits. ok is false when the socket was made a net.Conn
// (Descriptor's own path then); on an error s keeps its descriptor.
func (s *socket) detach() (fd int, ok bool, err error) {
	if s.nc != nil || s.fd < 0 {
		return -1, false, nil
	}
	if _, err := nowait.FcntlInt(s.fd, unix.F_SETFL, unix.O_NONBLOCK); err != nil {
		return -1, true, os.NewSyscallError("fcntl", err)
	}
	fd = s.fd
	s.fd, s.err = -1, net.ErrClosed
	return fd, true, nil
}

// setInherited sets inheritedOptions on ln's socket.
func setInherited(ln net.Listener) error {
	tl, ok := ln.(*net.TCPListener)
	if !ok {
		return nil
	}
	rc, err := tl.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = inheritedOptions(int(fd)) }); err != nil {
		return err
	}
	return serr
}

// pollable is a duplicate of the listening socket in the poller, for
// ServeHandOver to wait on: net's listener gives its own descriptor to
// Accept alone (its raw Read is EINVAL). Close closes it with the
// listener.
func (l *Listener) pollable() (*os.File, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, net.ErrClosed
	}
	if l.acceptFile != nil {
		return l.acceptFile, nil
	}
	dup, err := Dup(l.ln.(*net.TCPListener))
	if err != nil {
		return nil, err
	}
	// Non-blocking (the mode is shared with net's descriptor): os.NewFile
	// registers it with the poller.
	l.acceptFile = os.NewFile(uintptr(dup), "listener")
	return l.acceptFile, nil
}

// isClosed reports whether Close was called.
func (l *Listener) isClosed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}
