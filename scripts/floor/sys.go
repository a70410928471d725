//go:build linux

package main

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// mqAttr is the kernel's struct mq_attr: four longs and four reserved ones
// (Go's int is a C long on every Linux port).
type mqAttr struct {
	flags, maxMsg, msgSize, curMsgs int
	reserved                        [4]int
}

// The subscribers' queues: a seed message (~256 B and its MQTT header) fits
// in 512 bytes, and one a second needs no depth; 4 messages keep the
// floor's 50 queues at 50*4*(512+96) = 121,600 bytes of the uid's
// RLIMIT_MSGQUEUE, which every broker and test on the machine shares.
const (
	queueMsgs    = 4
	queueMsgSize = 512
)

// mqOpen is mq_open(2); name has no leading slash (the system call takes
// it without).
func mqOpen(name string, flags int, attr *mqAttr) (int, error) {
	p, err := unix.BytePtrFromString(name)
	if err != nil {
		return -1, err
	}
	fd, _, errno := unix.Syscall6(unix.SYS_MQ_OPEN, uintptr(unsafe.Pointer(p)), uintptr(flags|unix.O_CLOEXEC), 0o600,
		uintptr(unsafe.Pointer(attr)), 0, 0)
	if errno != 0 {
		return -1, fmt.Errorf("mq_open %s: %w", name, errno)
	}
	return int(fd), nil
}

func mqUnlink(name string) error {
	p, err := unix.BytePtrFromString(name)
	if err != nil {
		return err
	}
	if _, _, errno := unix.Syscall(unix.SYS_MQ_UNLINK, uintptr(unsafe.Pointer(p)), 0, 0); errno != 0 {
		return fmt.Errorf("mq_unlink %s: %w", name, errno)
	}
	return nil
}

// mqSetBlocking clears (or sets) O_NONBLOCK on a queue's open file
// description: mq_getsetattr honours only mq_flags.
func mqSetBlocking(fd int, blocking bool) error {
	var a mqAttr
	if !blocking {
		a.flags = unix.O_NONBLOCK
	}
	if _, _, errno := unix.Syscall(unix.SYS_MQ_GETSETATTR, uintptr(fd), uintptr(unsafe.Pointer(&a)), 0); errno != 0 {
		return fmt.Errorf("mq_getsetattr: %w", errno)
	}
	return nil
}

// zeroTime is an absolute timeout long past: mq_timedsend never waits with
// it, even on a descriptor without O_NONBLOCK.
var zeroTime unix.Timespec

// mqSendNow is mq_timedsend(2) that never waits, made raw (no word to the
// Go scheduler, as forkmq's routers make it): a router that finds the
// queue full would wait for room, which at one message a second never
// happens here, so it is an error.
func mqSendNow(fd int, msg []byte) error {
	for {
		_, _, errno := unix.RawSyscall6(unix.SYS_MQ_TIMEDSEND, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(msg))),
			uintptr(len(msg)), 0, uintptr(unsafe.Pointer(&zeroTime)), 0)
		switch errno {
		case 0:
			return nil
		case unix.EINTR:
			continue
		}
		return fmt.Errorf("mq_timedsend: %w", errno)
	}
}

// recv takes one message from a source: read(2) on a socket,
// mq_timedreceive(2) with no timeout on a queue. On a blocking descriptor
// it waits in the kernel, through unix.Syscall6 (the scheduler is told, and
// may hand the process's P to another thread) or, raw, through
// unix.RawSyscall6 (it is not); on a non-blocking one it returns EAGAIN at
// once. The buffer's address is converted in the call's own argument list,
// which keeps it valid during the call.
func recv(fd int, buf []byte, isQueue, raw bool) (int, unix.Errno) {
	trap, a4 := uintptr(unix.SYS_READ), uintptr(0)
	if isQueue {
		trap = unix.SYS_MQ_TIMEDRECEIVE // a4: no priority wanted; a5: no timeout
	}
	for {
		var n uintptr
		var errno unix.Errno
		if raw {
			n, _, errno = unix.RawSyscall6(trap, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(buf))), uintptr(len(buf)), a4, 0, 0)
		} else {
			n, _, errno = unix.Syscall6(trap, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(buf))), uintptr(len(buf)), a4, 0, 0)
		}
		if errno != unix.EINTR {
			return int(n), errno
		}
	}
}
