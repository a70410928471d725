package control

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/forkmq/forkmq/internal/nowait"
)

// oobSpace is room for the ancillary data of the message with the most
// descriptors. A sender that passes more makes the kernel truncate it
// (MSG_CTRUNC), which Parse refuses.
var oobSpace = unix.CmsgSpace(MaxFiles * 4)

// Pair returns a new SOCK_SEQPACKET socket pair: the supervisor keeps one
// end (FromFile), the worker inherits the other on the spawn contract's
// control descriptor. Both are close-on-exec; exec's ExtraFiles dups the
// worker's end without the flag.
func Pair() (supervisor, worker *os.File, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("control socket pair: %w", err)
	}
	return os.NewFile(uintptr(fds[0]), "control (supervisor)"), os.NewFile(uintptr(fds[1]), "control (worker)"), nil
}

// Conn is one end of a control channel. Send may be called from several
// goroutines; Receive from one at a time.
//
// It waits in the runtime's poller (through raw, its syscall.RawConn) but
// sends and receives with the calls of package nowait, which do not tell
// the scheduler: the first ordinary system call after a Go process was
// idle wakes its sysmon thread (two context switches or more), and a
// worker or the supervisor woken by a control message (a Grant, a Claim,
// a Hand) may have nothing else to call. A worker's end waits for reading
// only (Inherit, quietSocket): the supervisor reading what it sent does
// not wake it. The supervisor's ends are read through one Inbox
// (Inbox.Open), out of the poller too: a worker reading what the
// supervisor sent does not wake the supervisor either.
type Conn struct {
	c   end // the socket: a *net.UnixConn (FromFile), or a quietSocket (Inherit, Inbox.Open)
	raw syscall.RawConn

	keep     bool   // Receive keeps its buffers (KeepBuffers)
	rawHands bool   // Receive takes a Hand's descriptors unwrapped (RawHands)
	buf, oob []byte // Receive's buffers, when kept
}

// end is what Conn needs of its socket besides raw.
type end interface {
	SetReadDeadline(time.Time) error
	SetWriteDeadline(time.Time) error
	Close() error
}

// KeepBuffers makes Receive reuse one buffer from call to call (Decode
// copies what it keeps) instead of allocating MaxSize bytes each time: for
// a worker's end, which receives several messages per client (allocating
// and zeroing them showed in the connect scenario's profile). The
// supervisor, which holds one Conn per worker, does not keep 4 KiB for each.
func (c *Conn) KeepBuffers() { c.keep = true }

// RawHands makes Receive give a Hand's descriptors as numbers
// (Hand.SocketFd, Hand.PairFd) instead of *os.Files: for a worker, which
// keeps them out of the runtime's poller and closes them at its client's
// end. Closing an *os.File is a system call the scheduler is told of, and
// the first such call of a wake-up wakes the runtime's sysmon thread (see
// package nowait): the deliverer's two closes of them cost a sysmon
// wake-up each per connection.
func (c *Conn) RawHands() { c.rawHands = true }

// Inherit returns the control channel a worker inherited at fd. It waits
// only for what it can read (see quietSocket).
func Inherit(fd int) (*Conn, error) {
	typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
	switch {
	case errors.Is(err, unix.EBADF):
		return nil, fmt.Errorf("control channel: no descriptor %d", fd)
	case err != nil:
		return nil, fmt.Errorf("control channel %d: %w: %v", fd, ErrNotSeqpacket, err)
	case typ != unix.SOCK_SEQPACKET:
		return nil, fmt.Errorf("control channel %d: %w", fd, ErrNotSeqpacket)
	}
	unix.CloseOnExec(fd)
	q, err := newQuietSocket(fd)
	if err != nil {
		return nil, fmt.Errorf("control channel %d: %w", fd, err)
	}
	return &Conn{c: q, raw: q}, nil
}

// FromFile makes a Conn of a SOCK_SEQPACKET socket and closes f (the Conn
// holds a duplicate, in non-blocking mode for the runtime's poller).
func FromFile(f *os.File) (*Conn, error) {
	defer f.Close()
	if err := checkSeqpacket(f); err != nil {
		return nil, fmt.Errorf("control channel %s: %w", f.Name(), err)
	}
	c, err := net.FileConn(f)
	if err != nil {
		return nil, fmt.Errorf("control channel %s: %w", f.Name(), err)
	}
	uc, ok := c.(*net.UnixConn)
	if !ok {
		c.Close()
		return nil, fmt.Errorf("control channel %s: %w", f.Name(), ErrNotSeqpacket)
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		uc.Close()
		return nil, fmt.Errorf("control channel %s: %w", f.Name(), err)
	}
	return &Conn{c: uc, raw: raw}, nil
}

func checkSeqpacket(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var typ int
	var serr error
	if err := rc.Control(func(fd uintptr) {
		typ, serr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TYPE)
	}); err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("%w: %v", ErrNotSeqpacket, serr)
	}
	if typ != unix.SOCK_SEQPACKET {
		return ErrNotSeqpacket
	}
	return nil
}

// Send sends m and its descriptors as one datagram. The descriptors stay
// the caller's: it closes its copies when Send has returned.
func (c *Conn) Send(m Message) error {
	b, fds, err := Encode(m)
	if err != nil {
		return err
	}
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	var serr error
	werr := c.raw.Write(func(fd uintptr) bool {
		_, serr = nowait.Sendmsg(int(fd), b, oob, unix.MSG_NOSIGNAL|unix.MSG_DONTWAIT)
		return !errors.Is(serr, unix.EAGAIN) // else wait for room
	})
	runtime.KeepAlive(m) // its files stay open until the kernel has them
	if err := cmp.Or(werr, syscallError("sendmsg", serr)); err != nil {
		return fmt.Errorf("control send %s: %w", m.Type(), err)
	}
	return nil
}

// syscallError names the call that failed, as package os does.
func syscallError(call string, err error) error {
	if err == nil {
		return nil
	}
	return os.NewSyscallError(call, err)
}

// SendAll sends messages without descriptors, each as its own datagram, in
// one system call (sendmmsg): a worker that ends its client says
// CleanupDone and Idle at once, and the supervisor is woken once for both
// instead of once for each.
func (c *Conn) SendAll(ms ...Message) error {
	bufs := make([][]byte, len(ms))
	for i, m := range ms {
		b, fds, err := Encode(m)
		if err != nil {
			return err
		}
		if len(fds) > 0 {
			return fmt.Errorf("control send %s: %w", m.Type(), ErrSendAllFiles)
		}
		bufs[i] = b
	}
	hdrs := nowait.Mmsghdrs(bufs)
	sent := 0
	var serr error
	werr := c.raw.Write(func(fd uintptr) bool {
		for sent < len(hdrs) {
			n, err := nowait.Sendmmsg(int(fd), hdrs[sent:], unix.MSG_NOSIGNAL|unix.MSG_DONTWAIT)
			switch {
			case errors.Is(err, unix.EAGAIN):
				return false // wait for room
			case err != nil:
				serr = os.NewSyscallError("sendmmsg", err)
				return true
			}
			sent += n
		}
		return true
	})
	runtime.KeepAlive(bufs)
	if err := cmp.Or(werr, serr); err != nil {
		return fmt.Errorf("control send %s: %w", ms[min(sent, len(ms)-1)].Type(), err)
	}
	return nil
}

// rawFd is f's descriptor, read without Fd: Fd would switch a pollable
// file to blocking mode, and with it the receiver's copy (they share the
// open file description).
func rawFd(f *os.File) (int, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return -1, fmt.Errorf("%s: %w", f.Name(), err)
	}
	fd := -1
	if err := rc.Control(func(u uintptr) { fd = int(u) }); err != nil {
		return -1, fmt.Errorf("%s: %w", f.Name(), err)
	}
	return fd, nil
}

// Receive waits for the next message. At the other end's close it returns an
// error matching io.EOF.
func (c *Conn) Receive() (Message, error) {
	b, oob := c.buf, c.oob
	if b == nil {
		b, oob = make([]byte, MaxSize), make([]byte, oobSpace)
		if c.keep {
			c.buf, c.oob = b, oob
		}
	}
	var n, oobn, flags int
	var rerr error
	err := c.raw.Read(func(fd uintptr) bool {
		// MSG_CMSG_CLOEXEC: descriptors received are not inherited by
		// what this process starts (as package net receives them).
		// MSG_DONTWAIT: a worker's socket is blocking (quietSocket).
		n, oobn, flags, rerr = nowait.Recvmsg(int(fd), b, oob, unix.MSG_CMSG_CLOEXEC|unix.MSG_DONTWAIT)
		return !errors.Is(rerr, unix.EAGAIN) // else wait for a message
	})
	if err := cmp.Or(err, syscallError("recvmsg", rerr)); err != nil {
		return nil, fmt.Errorf("control receive: %w", err)
	}
	if n == 0 {
		// No message is empty: the other end closed the channel.
		return nil, fmt.Errorf("control receive: %w", io.EOF)
	}
	return parse(b[:n], oob[:oobn], flags, c.rawHands)
}

// Parse decodes a datagram received with recvmsg into a buffer of MaxSize
// bytes and oob ancillary data; flags are recvmsg's. It is Receive's second
// half, for a worker that runs its own epoll loop. Every descriptor received
// is either in the message or closed.
func Parse(b, oob []byte, flags int) (Message, error) { return parse(b, oob, flags, false) }

// parse is Parse, taking a Hand's descriptors unwrapped when raw.
func parse(b, oob []byte, flags int, raw bool) (Message, error) {
	fds, ferr := rights(oob)
	var err error
	switch {
	case flags&unix.MSG_TRUNC != 0:
		err = &Error{Type: typeOf(b), Err: ErrOversized}
	case flags&unix.MSG_CTRUNC != 0 || ferr != nil:
		err = &Error{Type: typeOf(b), Err: ErrAncillary}
	default:
		return decodeAs(b, fds, raw)
	}
	for _, fd := range fds {
		unix.Close(fd)
	}
	return nil, err
}

// rights returns every descriptor in the ancillary data, and an error if it
// holds anything but SCM_RIGHTS or cannot be parsed.
func rights(oob []byte) ([]int, error) {
	if len(oob) == 0 {
		return nil, nil
	}
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, err
	}
	var fds []int
	for i := range msgs {
		if msgs[i].Header.Level != unix.SOL_SOCKET || msgs[i].Header.Type != unix.SCM_RIGHTS {
			err = errors.New("not SCM_RIGHTS")
			continue
		}
		got, perr := unix.ParseUnixRights(&msgs[i])
		if perr != nil {
			err = perr
		}
		fds = append(fds, got...)
	}
	return fds, err
}

func typeOf(b []byte) Type {
	if len(b) == 0 || !Type(b[0]).known() {
		return 0
	}
	return Type(b[0])
}

// SetReadDeadline bounds the wait of Receive.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.c.SetReadDeadline(t) }

// SetWriteDeadline bounds the wait of Send for room in the socket: the
// supervisor never waits long for a wedged worker.
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.c.SetWriteDeadline(t) }

// Close closes this end; the other end reads EOF.
func (c *Conn) Close() error { return c.c.Close() }
