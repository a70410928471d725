package queue

import (
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/forkmq/forkmq/internal/nowait"
)

// OpenWriter opens an existing queue for sending only. Unlike the other
// descriptors it is blocking: a Send that finds the queue full waits in the
// kernel (mq_timedsend with the deadline as its timeout), holding its OS
// thread, and the kernel hands each freed slot to exactly one waiting sender,
// first come first served. Many routers sending to one full queue thus take
// turns, where waiting in the runtime poller (epoll) would wake them all at
// every free slot and let the unlucky ones starve.
func OpenWriter(name string) (*Queue, error) {
	if err := checkName(name); err != nil {
		return nil, &OpError{Op: "open", Name: name, Err: err}
	}
	fd, errno := mqOpen(name, unix.O_WRONLY|unix.O_CLOEXEC, 0, nil)
	if errno != 0 {
		return nil, &OpError{Op: "open", Name: name, Err: errnoError("mq_open", errno)}
	}
	var ka mqAttr
	if errno := mqGetAttr(uintptr(fd), &ka); errno != 0 {
		nowait.Close(fd)
		return nil, &OpError{Op: "open", Name: name, Err: errnoError("mq_getsetattr", errno)}
	}
	f := os.NewFile(uintptr(fd), name)
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, &OpError{Op: "open", Name: name, Err: err}
	}
	return &Queue{name: name, f: f, rc: rc, maxMsg: int64(ka.maxMsg), msgSize: int64(ka.msgSize), blocking: true}, nil
}

// sendBlocking sends on a blocking descriptor: the kernel waits until the
// deadline (forever for a zero one), queueing this sender behind earlier
// ones. A deadline already past never waits.
//
// It tries first without waiting, a raw call (mqSend): a queue with room is
// the common case, and a call the scheduler is told of wakes the runtime's
// sysmon thread (see package nowait). Only a full queue costs the blocking
// call. The try takes no slot from a waiting sender: the kernel hands a
// freed slot to the first waiter directly.
func (q *Queue) sendBlocking(msg []byte, prio uint32, deadline time.Time) error {
	past := !deadline.IsZero() && !time.Now().Before(deadline)
	var errno unix.Errno
	if err := q.rc.Control(func(fd uintptr) {
		if errno = mqSend(fd, msg, prio); errno == unix.EAGAIN && !past {
			errno = mqSendUntil(fd, msg, prio, deadline)
		}
	}); err != nil {
		return q.fileError(err)
	}
	switch {
	case errno == 0:
		return nil
	case (errno == unix.ETIMEDOUT || errno == unix.EAGAIN) && past:
		return ErrFull
	case errno == unix.ETIMEDOUT:
		return ErrTimeout
	}
	return q.callError("send", "mq_timedsend", errno)
}

// Exists reports whether a queue of this name exists (has not been
// unlinked). It opens and closes a descriptor: two system calls.
func Exists(name string) bool {
	if checkName(name) != nil {
		return false
	}
	fd, errno := mqOpen(name, unix.O_WRONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0, nil)
	if errno != 0 {
		return errno != unix.ENOENT
	}
	nowait.Close(fd)
	return true
}
