//go:build linux

package nowait

import (
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// call makes a raw system call, again while it is interrupted.
func call(trap, a1, a2, a3, a4, a5, a6 uintptr) (int, error) {
	for {
		r, _, errno := unix.RawSyscall6(trap, a1, a2, a3, a4, a5, a6)
		switch errno {
		case 0:
			return int(r), nil
		case unix.EINTR:
			continue
		}
		return -1, errno
	}
}

// bufPtr is the address of b's first byte, or of a byte that is not b's
// when b is empty (the kernel reads nothing there).
func bufPtr(b []byte) uintptr {
	if len(b) == 0 {
		var zero byte
		return uintptr(unsafe.Pointer(&zero))
	}
	return uintptr(unsafe.Pointer(unsafe.SliceData(b)))
}

// Read is read(2) on a non-blocking descriptor.
func Read(fd int, p []byte) (int, error) {
	return call(unix.SYS_READ, uintptr(fd), bufPtr(p), uintptr(len(p)), 0, 0, 0)
}

// Write is write(2) on a non-blocking descriptor.
func Write(fd int, p []byte) (int, error) {
	return call(unix.SYS_WRITE, uintptr(fd), bufPtr(p), uintptr(len(p)), 0, 0, 0)
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
	n, err := call(unix.SYS_WRITEV, uintptr(fd), uintptr(unsafe.Pointer(&iov[0])), uintptr(len(iov)), 0, 0, 0)
	return n, iov, err
}

// Recv is recvfrom(2) without the sender's address, with flags (MSG_DONTWAIT
// for a descriptor that may be blocking).
func Recv(fd int, p []byte, flags int) (int, error) {
	return call(unix.SYS_RECVFROM, uintptr(fd), bufPtr(p), uintptr(len(p)), uintptr(flags), 0, 0)
}

// EpollPoll is epoll_pwait(2) with a zero timeout: the events ready now.
func EpollPoll(epfd int, events []unix.EpollEvent) (int, error) {
	if len(events) == 0 {
		return 0, nil
	}
	return call(unix.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), 0, 0, 0)
}

// ReadProc reads a file of /proc into buf (what fits): open, read until
// the end or buf is full, close. Those never wait on /proc: its files are
// made from the kernel's own counters when read.
func ReadProc(path string, buf []byte) (int, error) {
	p, err := unix.BytePtrFromString(path)
	if err != nil {
		return 0, err
	}
	cwd := unix.AT_FDCWD
	fd, err := call(unix.SYS_OPENAT, uintptr(cwd), uintptr(unsafe.Pointer(p)), uintptr(unix.O_RDONLY|unix.O_CLOEXEC), 0, 0, 0)
	runtime.KeepAlive(p) // call is not syscall.Syscall: the compiler does not keep p alive for it
	if err != nil {
		return 0, err
	}
	defer call(unix.SYS_CLOSE, uintptr(fd), 0, 0, 0, 0, 0)
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
