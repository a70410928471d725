//go:build linux

package queue

import (
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// mqAttr is the kernel's struct mq_attr: four longs and four reserved ones.
// Go's int has the size of a C long on every Linux port.
type mqAttr struct {
	flags    int
	maxMsg   int
	msgSize  int
	curMsgs  int
	reserved [4]int
}

// zeroTime is an absolute CLOCK_REALTIME timeout of zero, long past, given to
// mq_timedsend and mq_timedreceive so they never block even on a descriptor
// without O_NONBLOCK; they fail with ETIMEDOUT instead of EAGAIN then.
var zeroTime unix.Timespec

const maxNameLen = 255 // NAME_MAX

func checkName(name string) error {
	if name == "" || len(name) > maxNameLen || strings.ContainsAny(name, "/\x00") {
		return ErrInvalid
	}
	return nil
}

// mqOpen calls mq_open, retrying on EINTR. attr may be nil.
//
// It is a raw call (see package nowait), as are mqUnlink, mqGetAttr and
// closing a descriptor no os.File owns yet (nowait.Close): the mqueue file system lives in memory, and none of these
// waits (blocking is for sending and receiving). Creating, opening and
// closing the client's queue are calls of every connection's router and
// deliverer, and made through the scheduler they woke its sysmon thread
// for nothing.
func mqOpen(name string, flags int, perm uint32, attr *mqAttr) (int, unix.Errno) {
	p, err := unix.BytePtrFromString(name)
	if err != nil {
		return -1, unix.EINVAL
	}
	for {
		fd, _, errno := unix.RawSyscall6(unix.SYS_MQ_OPEN, uintptr(unsafe.Pointer(p)), uintptr(flags), uintptr(perm),
			uintptr(unsafe.Pointer(attr)), 0, 0)
		if errno != unix.EINTR {
			return int(fd), errno
		}
	}
}

func mqUnlink(name string) unix.Errno {
	p, err := unix.BytePtrFromString(name)
	if err != nil {
		return unix.EINVAL
	}
	for {
		_, _, errno := unix.RawSyscall(unix.SYS_MQ_UNLINK, uintptr(unsafe.Pointer(p)), 0, 0)
		if errno != unix.EINTR {
			return errno
		}
	}
}

func mqGetAttr(fd uintptr, a *mqAttr) unix.Errno {
	_, _, errno := unix.RawSyscall(unix.SYS_MQ_GETSETATTR, fd, 0, uintptr(unsafe.Pointer(a)))
	return errno
}

// mqSend tries once to send msg, retrying only on EINTR. It returns EAGAIN
// when the queue is full. With its zero timeout it never waits, so it is
// made without telling the scheduler (a raw call: see package nowait).
func mqSend(fd uintptr, msg []byte, prio uint32) unix.Errno {
	for {
		_, _, errno := unix.RawSyscall6(unix.SYS_MQ_TIMEDSEND, fd, uintptr(unsafe.Pointer(unsafe.SliceData(msg))),
			uintptr(len(msg)), uintptr(prio), uintptr(unsafe.Pointer(&zeroTime)), 0)
		switch errno {
		case unix.EINTR:
			continue
		case unix.ETIMEDOUT:
			return unix.EAGAIN
		}
		return errno
	}
}

// mqSendUntil sends msg, waiting in the kernel while the queue is full until
// deadline (a zero deadline waits forever; one already past does not wait).
// It retries on EINTR with the same absolute timeout: the runtime's
// preemption signals interrupt long waits.
func mqSendUntil(fd uintptr, msg []byte, prio uint32, deadline time.Time) unix.Errno {
	var ts *unix.Timespec
	if !deadline.IsZero() {
		t := unix.NsecToTimespec(deadline.UnixNano())
		ts = &t
	}
	for {
		_, _, errno := unix.Syscall6(unix.SYS_MQ_TIMEDSEND, fd, uintptr(unsafe.Pointer(unsafe.SliceData(msg))),
			uintptr(len(msg)), uintptr(prio), uintptr(unsafe.Pointer(ts)), 0)
		if errno != unix.EINTR {
			return errno
		}
	}
}

// mqReceive tries once to receive into buf, retrying only on EINTR. It returns
// EAGAIN when the queue is empty. It never waits, and is a raw call as
// mqSend is.
func mqReceive(fd uintptr, buf []byte, prio *uint32) (int, unix.Errno) {
	for {
		n, _, errno := unix.RawSyscall6(unix.SYS_MQ_TIMEDRECEIVE, fd, uintptr(unsafe.Pointer(unsafe.SliceData(buf))),
			uintptr(len(buf)), uintptr(unsafe.Pointer(prio)), uintptr(unsafe.Pointer(&zeroTime)), 0)
		switch errno {
		case unix.EINTR:
			continue
		case unix.ETIMEDOUT:
			return 0, unix.EAGAIN
		}
		return int(n), errno
	}
}
