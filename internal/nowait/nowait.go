//go:build linux

package nowait

import (
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// call makes a raw system call on fd whose second argument points into
// memory, again while it is interrupted. Passed as an unsafe.Pointer (a
// uintptr would not be), ptr keeps what it points at alive, and follows it
// should the stack move, until the call is made; the conversion in
// RawSyscall6's own argument list keeps it so during the call.
func call(trap uintptr, fd int, ptr unsafe.Pointer, a3, a4 uintptr) (int, error) {
	for {
		r, _, errno := unix.RawSyscall6(trap, uintptr(fd), uintptr(ptr), a3, a4, 0, 0)
		if n, done, err := result(r, errno); done {
			return n, err
		}
	}
}

// result is a raw call's result; not done on EINTR, when it is made again.
func result(r uintptr, errno unix.Errno) (n int, done bool, err error) {
	switch errno {
	case 0:
		return int(r), true, nil
	case unix.EINTR:
		return 0, false, nil
	}
	return -1, true, errno
}

// callInts is call for a system call whose arguments are all numbers.
func callInts(trap uintptr, fd int, a2, a3 uintptr) (int, error) {
	for {
		r, _, errno := unix.RawSyscall(trap, uintptr(fd), a2, a3)
		if n, done, err := result(r, errno); done {
			return n, err
		}
	}
}

// bufPtr is the address of b's first byte, or of a byte that is not b's
// when b is empty (the kernel reads nothing there).
func bufPtr(b []byte) unsafe.Pointer {
	if len(b) == 0 {
		var zero byte
		return unsafe.Pointer(&zero)
	}
	return unsafe.Pointer(unsafe.SliceData(b))
}

// Read is read(2) on a non-blocking descriptor.
func Read(fd int, p []byte) (int, error) {
	return call(unix.SYS_READ, fd, bufPtr(p), uintptr(len(p)), 0)
}

// Write is write(2) on a non-blocking descriptor.
func Write(fd int, p []byte) (int, error) {
	return call(unix.SYS_WRITE, fd, bufPtr(p), uintptr(len(p)), 0)
}

// Writev is writev(2) of bufs on a non-blocking descriptor; iov is scratch
// space for the kernel's iovecs, returned for reuse.
func Writev(fd int, bufs [][]byte, iov []unix.Iovec) (int, []unix.Iovec, error) {
	iov = iov[:0]
	for _, b := range bufs {
		if len(b) == 0 {
			continue
		}
		v := unix.Iovec{Base: unsafe.SliceData(b)}
		v.SetLen(len(b))
		iov = append(iov, v)
	}
	if len(iov) == 0 {
		return 0, iov, nil
	}
	n, err := call(unix.SYS_WRITEV, fd, unsafe.Pointer(&iov[0]), uintptr(len(iov)), 0)
	return n, iov, err
}

// FcntlInt is fcntl(2) with an integer argument, for the commands that
// never wait (F_DUPFD_CLOEXEC, F_GETFL, F_SETFL; not the lock commands).
func FcntlInt(fd, cmd, arg int) (int, error) {
	return callInts(unix.SYS_FCNTL, fd, uintptr(cmd), uintptr(arg))
}

// Shutdown is shutdown(2) of a socket: it never waits (a lingering close
// would be close's, not shutdown's).
func Shutdown(fd, how int) error {
	_, err := callInts(unix.SYS_SHUTDOWN, fd, uintptr(how), 0)
	return err
}

// Close is close(2) of a socket, pipe, eventfd, epoll or mqueue descriptor
// that no os.File owns (its finalizer would close the number again) and no
// SO_LINGER makes wait. EINTR is not retried: Linux has released the
// descriptor by then, and a second close could close one reused since.
func Close(fd int) error {
	_, _, errno := unix.RawSyscall(unix.SYS_CLOSE, uintptr(fd), 0, 0)
	if errno != 0 && errno != unix.EINTR {
		return errno
	}
	return nil
}

// Exists reports whether path names a file, with faccessat(2) (F_OK): a
// path lookup, which waits only if the kernel's dentry cache lacks a
// directory on the way and reads it from disk. Meant for names in the
// broker's state directory, which every connection's records keep in that
// cache: should a lookup wait, it holds the process's only P for that
// read, which a worker with one client and nothing else to run can afford.
// Any error but ENOENT and ENOTDIR is returned (the answer is unknown).
func Exists(path string) (bool, error) {
	p, err := unix.BytePtrFromString(path)
	if err != nil {
		return false, err
	}
	_, err = call(unix.SYS_FACCESSAT, unix.AT_FDCWD, unsafe.Pointer(p), unix.F_OK, 0)
	switch err {
	case nil:
		return true, nil
	case unix.ENOENT, unix.ENOTDIR:
		return false, nil
	}
	return false, err
}

// Recv is recvfrom(2) without the sender's address, with flags (MSG_DONTWAIT
// for a descriptor that may be blocking).
func Recv(fd int, p []byte, flags int) (int, error) {
	return call(unix.SYS_RECVFROM, fd, bufPtr(p), uintptr(len(p)), uintptr(flags))
}

// EpollPoll is epoll_pwait(2) with a zero timeout: the events ready now.
func EpollPoll(epfd int, events []unix.EpollEvent) (int, error) {
	if len(events) == 0 {
		return 0, nil
	}
	return call(unix.SYS_EPOLL_PWAIT, epfd, unsafe.Pointer(&events[0]), uintptr(len(events)), 0)
}

// msghdr describes p and oob for recvmsg and sendmsg; iov is its one
// iovec, the caller's (the header points at it).
func msghdr(msg *unix.Msghdr, iov *unix.Iovec, p, oob []byte) {
	if len(p) > 0 {
		iov.Base = unsafe.SliceData(p)
		iov.SetLen(len(p))
		msg.Iov = iov
		msg.SetIovlen(1)
	}
	if len(oob) > 0 {
		msg.Control = unsafe.SliceData(oob)
		msg.SetControllen(len(oob))
	}
}

// Recvmsg is recvmsg(2) of one datagram into p, its ancillary data into oob,
// with flags (MSG_DONTWAIT for a descriptor that may be blocking). It
// returns the lengths of both and the message's flags (MSG_TRUNC,
// MSG_CTRUNC).
func Recvmsg(fd int, p, oob []byte, flags int) (n, oobn, recvflags int, err error) {
	var msg unix.Msghdr
	var iov unix.Iovec
	msghdr(&msg, &iov, p, oob)
	n, err = call(unix.SYS_RECVMSG, fd, unsafe.Pointer(&msg), uintptr(flags), 0)
	if err != nil {
		return -1, 0, 0, err
	}
	return n, int(msg.Controllen), int(msg.Flags), nil
}

// Sendmsg is sendmsg(2) of p with the ancillary data oob (descriptors, see
// unix.UnixRights), with flags (MSG_NOSIGNAL: an EPIPE, not a SIGPIPE, for
// a peer gone).
func Sendmsg(fd int, p, oob []byte, flags int) (int, error) {
	var msg unix.Msghdr
	var iov unix.Iovec
	msghdr(&msg, &iov, p, oob)
	return call(unix.SYS_SENDMSG, fd, unsafe.Pointer(&msg), uintptr(flags), 0)
}

// Mmsghdrs describes bufs, one datagram each, for Sendmmsg.
func Mmsghdrs(bufs [][]byte) []unix.Mmsghdr {
	iovs := make([]unix.Iovec, len(bufs))
	hdrs := make([]unix.Mmsghdr, len(bufs))
	for i, b := range bufs {
		if len(b) > 0 {
			iovs[i].Base = &b[0]
			iovs[i].SetLen(len(b))
		}
		hdrs[i].Hdr.Iov = &iovs[i]
		hdrs[i].Hdr.SetIovlen(1)
	}
	return hdrs
}

// Sendmmsg is sendmmsg(2) of the messages hdrs describe (Mmsghdrs), with
// flags; it returns how many were sent.
func Sendmmsg(fd int, hdrs []unix.Mmsghdr, flags int) (int, error) {
	if len(hdrs) == 0 {
		return 0, nil
	}
	return call(unix.SYS_SENDMMSG, fd, unsafe.Pointer(&hdrs[0]), uintptr(len(hdrs)), uintptr(flags))
}

// Recvmmsg is recvmmsg(2) into the messages hdrs describe, with flags and
// no timeout; it returns how many were received (each one's length in its
// Len, its ancillary data's in Hdr.Controllen, which the caller sets back
// before the next call). With MSG_DONTWAIT it returns what was there, and
// EAGAIN only when nothing was: a reader that takes everything a socket
// holds makes one call where recvmsg made one per datagram and a last
// one for EAGAIN.
func Recvmmsg(fd int, hdrs []unix.Mmsghdr, flags int) (int, error) {
	if len(hdrs) == 0 {
		return 0, nil
	}
	return call(unix.SYS_RECVMMSG, fd, unsafe.Pointer(&hdrs[0]), uintptr(len(hdrs)), uintptr(flags))
}

// ReadProc reads a file of /proc into buf (what fits): open, read until
// the end or buf is full, close. Those never wait on /proc: its files are
// made from the kernel's own counters when read.
func ReadProc(path string, buf []byte) (int, error) {
	p, err := unix.BytePtrFromString(path)
	if err != nil {
		return 0, err
	}
	fd, err := call(unix.SYS_OPENAT, unix.AT_FDCWD, unsafe.Pointer(p), uintptr(unix.O_RDONLY|unix.O_CLOEXEC), 0)
	if err != nil {
		return 0, err
	}
	defer call(unix.SYS_CLOSE, fd, nil, 0, 0)
	n := 0
	for n < len(buf) {
		m, err := Read(fd, buf[n:])
		if err != nil {
			return n, err
		}
		if m == 0 {
			break
		}
		n += m
	}
	return n, nil
}

// TimerfdSettime is timerfd_settime(2) on a timerfd: one expiry, after d
// (relative); 0 disarms it.
func TimerfdSettime(fd int, d time.Duration) error {
	spec := unix.ItimerSpec{Value: unix.NsecToTimespec(int64(d))}
	for {
		// The pointer is the third argument (flags come second), so not
		// through call; converted in the argument list, it stays valid.
		_, _, errno := unix.RawSyscall6(unix.SYS_TIMERFD_SETTIME, uintptr(fd), 0, uintptr(unsafe.Pointer(&spec)), 0, 0, 0)
		switch errno {
		case 0:
			return nil
		case unix.EINTR:
			continue
		}
		return errno
	}
}

// Accept4 is accept4(2) on a non-blocking listening socket: a connection
// waiting in its backlog, or EAGAIN. The peer's address is written to sa.
// Both pointers are converted in RawSyscall6's own argument list, which
// keeps what they point at in place during the call (call's one pointer
// would not do for two).
func Accept4(fd int, sa *unix.RawSockaddrAny, flags int) (int, error) {
	for {
		size := uint32(unix.SizeofSockaddrAny)
		r, _, errno := unix.RawSyscall6(unix.SYS_ACCEPT4, uintptr(fd), uintptr(unsafe.Pointer(sa)),
			uintptr(unsafe.Pointer(&size)), uintptr(flags), 0, 0)
		if n, done, err := result(r, errno); done {
			return n, err
		}
	}
}
