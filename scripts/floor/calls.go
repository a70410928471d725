//go:build linux

package main

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/forkmq/forkmq/internal/nowait"
)

// sockCalls are the system calls of the connect floor's processes, made in
// one of two ways: through Go's scheduler (unix.*, which tells it, and
// whose first call after an idle stretch wakes the sysmon thread), or raw
// (no word to the scheduler), as forkmq's control channel makes them
// (internal/nowait). Every call here is on a non-blocking descriptor, or
// one that cannot wait, so raw is safe.
type sockCalls struct {
	recvmsg     func(fd int, p, oob []byte) (n, oobn int, err error)
	sendmsg     func(fd int, p, oob []byte) error
	read, write func(fd int, p []byte) (int, error)
	accept      func(fd int) (int, error) // with SOCK_CLOEXEC, and TCP_NODELAY set
	close       func(fd int) error
	setNonblock func(fd int) error
}

// callSets are the two ways, by the name -calls gives.
var callSets = map[string]sockCalls{
	"sched": {
		recvmsg: func(fd int, p, oob []byte) (int, int, error) {
			n, oobn, _, _, err := unix.Recvmsg(fd, p, oob, unix.MSG_CMSG_CLOEXEC)
			return n, oobn, err
		},
		sendmsg: func(fd int, p, oob []byte) error { return unix.Sendmsg(fd, p, oob, nil, 0) },
		read:    unix.Read,
		write:   unix.Write,
		accept: func(l int) (int, error) {
			fd, _, err := unix.Accept4(l, unix.SOCK_CLOEXEC)
			if err != nil {
				return -1, err
			}
			return fd, unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
		},
		close:       unix.Close,
		setNonblock: func(fd int) error { return unix.SetNonblock(fd, true) },
	},
	"raw": {
		recvmsg: func(fd int, p, oob []byte) (int, int, error) {
			n, oobn, _, err := nowait.Recvmsg(fd, p, oob, unix.MSG_CMSG_CLOEXEC)
			return n, oobn, err
		},
		sendmsg: func(fd int, p, oob []byte) error { _, err := nowait.Sendmsg(fd, p, oob, 0); return err },
		read:    nowait.Read,
		write:   nowait.Write,
		accept:  rawAccept,
		close:   nowait.Close,
		setNonblock: func(fd int) error {
			fl, err := nowait.FcntlInt(fd, unix.F_GETFL, 0)
			if err == nil {
				_, err = nowait.FcntlInt(fd, unix.F_SETFL, fl|unix.O_NONBLOCK)
			}
			return err
		},
	},
}

func callsNamed(name string) (sockCalls, error) {
	c, ok := callSets[name]
	if !ok {
		return c, fmt.Errorf("unknown -calls %q (raw, sched)", name)
	}
	return c, nil
}

// rawAccept is accept4(2) and setsockopt(TCP_NODELAY) made raw.
func rawAccept(l int) (int, error) {
	var fd uintptr
	var errno unix.Errno
	for {
		fd, _, errno = unix.RawSyscall6(unix.SYS_ACCEPT4, uintptr(l), 0, 0, unix.SOCK_CLOEXEC, 0, 0)
		if errno != unix.EINTR {
			break
		}
	}
	if errno != 0 {
		return -1, errno
	}
	one := int32(1)
	if _, _, errno := unix.RawSyscall6(unix.SYS_SETSOCKOPT, fd, unix.IPPROTO_TCP, unix.TCP_NODELAY,
		uintptr(unsafe.Pointer(&one)), 4, 0); errno != 0 {
		nowait.Close(int(fd))
		return -1, fmt.Errorf("TCP_NODELAY: %w", errno)
	}
	return int(fd), nil
}
