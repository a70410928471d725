//go:build linux

package queue

import (
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/forkmq/forkmq/internal/nowait"
)

// Queue is an open descriptor of a POSIX message queue. Its methods are safe
// for concurrent use; Send calls are serialized among themselves, and so are
// Receive calls (see the package comment).
type Queue struct {
	name    string
	f       *os.File        // non-blocking, registered with the runtime poller
	rc      syscall.RawConn // f's, kept to avoid allocating one per call
	maxMsg  int64
	msgSize int64
	closed  atomic.Bool
	// blocking descriptors (OpenWriter) wait in the kernel, not the poller.
	blocking bool

	snd struct {
		op
		msg  []byte
		prio uint32
	}
	rcv struct {
		op
		buf  []byte
		n    int
		prio uint32
	}
}

// op is the state of one direction. The functions are bound once, when the
// Queue is made, so that Send and Receive do not allocate closures.
type op struct {
	mu       sync.Mutex
	errno    unix.Errno
	deadline time.Time // the deadline last set on the File for this direction
	try      func(fd uintptr)
	step     func(fd uintptr) bool
}

// Create creates a queue that must not exist yet, readable and writable by
// its owner alone, and opens it for reading and writing. The queue is
// charged to the calling user's RLIMIT_MSGQUEUE until it is unlinked and
// every descriptor of it is closed.
func Create(name string, a Attr) (*Queue, error) { return CreateMode(name, a, 0o600) }

// CreateMode is Create with the queue's permission bits (less the umask):
// 0o620 lets the owner's group send to it without reading it.
func CreateMode(name string, a Attr, perm uint32) (*Queue, error) {
	fd, err := create(name, a, perm)
	if err != nil {
		return nil, err
	}
	q, err := newQueue(fd, name)
	if err != nil {
		mqUnlink(name)
		return nil, err
	}
	return q, nil
}

// Make creates a queue that must not exist yet, as CreateMode does, and
// opens nothing: for a creator that hands the queue to other processes
// which open it themselves (a worker creating its client's queue), two
// system calls instead of CreateMode's six.
func Make(name string, a Attr, perm uint32) error {
	fd, err := create(name, a, perm)
	if err != nil {
		return err
	}
	nowait.Close(fd)
	return nil
}

// create is mq_open(O_CREAT|O_EXCL) with the checks and errors of creation.
func create(name string, a Attr, perm uint32) (int, error) {
	if err := checkName(name); err != nil {
		return -1, &OpError{Op: "create", Name: name, Err: err}
	}
	if a.MaxMsg < 1 || a.MsgSize < 1 {
		return -1, &OpError{Op: "create", Name: name,
			Err: fmt.Errorf("%w: MaxMsg %d and MsgSize %d must be positive", ErrInvalid, a.MaxMsg, a.MsgSize)}
	}
	ka := mqAttr{maxMsg: int(a.MaxMsg), msgSize: int(a.MsgSize)}
	fd, errno := mqOpen(name, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC|unix.O_NONBLOCK, perm, &ka)
	if errno != 0 {
		return -1, &OpError{Op: "create", Name: name, Err: createError(errno, a)}
	}
	return fd, nil
}

// createError maps the errnos whose meaning is particular to creation.
func createError(errno unix.Errno, a Attr) error {
	switch errno {
	case unix.EMFILE:
		if emfileCause() == LimitNoFile {
			return noFileError(errno)
		}
		return msgQueueError(errno, a)
	case unix.EINVAL:
		l, err := ReadLimits()
		if err != nil {
			break
		}
		if a.MaxMsg > l.MsgMax {
			return &LimitError{Limit: LimitMsgMax, Err: errno,
				Fix: fmt.Sprintf("MaxMsg %d is above fs.mqueue.msg_max %d; lower it (see queue.Plan) or raise the sysctl (sysctl -w fs.mqueue.msg_max=%d)", a.MaxMsg, l.MsgMax, a.MaxMsg)}
		}
		if a.MsgSize > l.MsgSizeMax {
			return &LimitError{Limit: LimitMsgSizeMax, Err: errno,
				Fix: fmt.Sprintf("MsgSize %d is above fs.mqueue.msgsize_max %d; lower it (see queue.Plan) or raise the sysctl (sysctl -w fs.mqueue.msgsize_max=%d)", a.MsgSize, l.MsgSizeMax, a.MsgSize)}
		}
	}
	return errnoError("mq_open", errno)
}

// OpenReader opens an existing queue for receiving only.
func OpenReader(name string) (*Queue, error) {
	fd, err := openForReading(name)
	if err != nil {
		return nil, err
	}
	return newQueue(fd, name)
}

// openForReading opens an existing queue for receiving only, non-blocking.
func openForReading(name string) (int, error) {
	if err := checkName(name); err != nil {
		return -1, &OpError{Op: "open", Name: name, Err: err}
	}
	fd, errno := mqOpen(name, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NONBLOCK, 0, nil)
	if errno != 0 {
		return -1, &OpError{Op: "open", Name: name, Err: errnoError("mq_open", errno)}
	}
	return fd, nil
}

// FromFile makes a Queue of a queue descriptor inherited from the parent
// process (exec.Cmd.ExtraFiles), named name. It takes over f: do not use or
// close f afterwards. The descriptor is marked close-on-exec so it does not
// leak further, and put in non-blocking mode if it is not.
func FromFile(f *os.File, name string) (*Queue, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, &OpError{Op: "inherit", Name: name, Err: err}
	}
	var ka mqAttr
	var errno unix.Errno
	var flags int
	var flagsErr error
	if err := rc.Control(func(fd uintptr) {
		errno = mqGetAttr(fd, &ka)
		unix.CloseOnExec(int(fd))
		flags, flagsErr = unix.FcntlInt(fd, unix.F_GETFL, 0)
	}); err != nil {
		return nil, &OpError{Op: "inherit", Name: name, Err: err}
	}
	if errno == unix.EBADF {
		return nil, &OpError{Op: "inherit", Name: name, Err: fmt.Errorf("%w: %s is not a message queue", ErrInvalid, f.Name())}
	}
	if errno != 0 {
		return nil, &OpError{Op: "inherit", Name: name, Err: errnoError("mq_getsetattr", errno)}
	}
	if flagsErr == nil && flags&unix.O_NONBLOCK != 0 && f.SetReadDeadline(time.Time{}) == nil {
		return fromFile(f, name, ka)
	}
	// f was made without the poller: give the poller a duplicate of it.
	nfd, dupErr := -1, error(nil)
	if err := rc.Control(func(fd uintptr) {
		nfd, dupErr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return nil, &OpError{Op: "inherit", Name: name, Err: err}
	}
	if dupErr != nil {
		return nil, &OpError{Op: "inherit", Name: name, Err: os.NewSyscallError("fcntl", dupErr)}
	}
	f.Close()
	if err := unix.SetNonblock(nfd, true); err != nil {
		unix.Close(nfd)
		return nil, &OpError{Op: "inherit", Name: name, Err: os.NewSyscallError("fcntl", err)}
	}
	return fromFile(os.NewFile(uintptr(nfd), name), name, ka)
}

// newQueue wraps a descriptor fresh from mq_open, closing it on failure.
func newQueue(fd int, name string) (*Queue, error) {
	var ka mqAttr
	if errno := mqGetAttr(uintptr(fd), &ka); errno != 0 {
		nowait.Close(fd)
		return nil, &OpError{Op: "open", Name: name, Err: errnoError("mq_getsetattr", errno)}
	}
	return fromFile(os.NewFile(uintptr(fd), name), name, ka)
}

// fromFile finishes a Queue around a non-blocking File, closing it on failure.
func fromFile(f *os.File, name string, ka mqAttr) (*Queue, error) {
	rc, err := f.SyscallConn()
	if err == nil {
		// Fails if the runtime poller did not take the descriptor.
		err = f.SetReadDeadline(time.Time{})
	}
	if err != nil {
		f.Close()
		return nil, &OpError{Op: "open", Name: name, Err: fmt.Errorf("descriptor cannot wait in the runtime poller: %w", err)}
	}
	q := &Queue{name: name, f: f, rc: rc, maxMsg: int64(ka.maxMsg), msgSize: int64(ka.msgSize)}
	q.snd.try = q.sendTry
	q.snd.step = q.sendStep
	q.rcv.try = q.recvTry
	q.rcv.step = q.recvStep
	return q, nil
}

func (q *Queue) sendStep(fd uintptr) bool {
	q.snd.errno = mqSend(fd, q.snd.msg, q.snd.prio)
	return q.snd.errno != unix.EAGAIN
}

func (q *Queue) sendTry(fd uintptr) { q.sendStep(fd) }

func (q *Queue) recvStep(fd uintptr) bool {
	q.rcv.n, q.rcv.errno = mqReceive(fd, q.rcv.buf, &q.rcv.prio)
	return q.rcv.errno != unix.EAGAIN
}

func (q *Queue) recvTry(fd uintptr) { q.recvStep(fd) }

// Send puts msg on the queue with priority prio (0 to 32767; higher
// priorities are received first, equal ones in order). If the queue is full it
// waits until deadline: a zero deadline waits as long as needed, a deadline
// already past does not wait at all and gives ErrFull, and one that passes
// while waiting gives ErrTimeout.
func (q *Queue) Send(msg []byte, prio uint32, deadline time.Time) error {
	if int64(len(msg)) > q.msgSize {
		return &OpError{Op: "send", Name: q.name,
			Err: fmt.Errorf("%w: %d-byte message, the queue takes at most %d bytes", ErrMsgSize, len(msg), q.msgSize)}
	}
	if prio >= prioMax {
		return &OpError{Op: "send", Name: q.name, Err: fmt.Errorf("%w: priority %d is not below %d", ErrInvalid, prio, prioMax)}
	}
	if q.blocking {
		return q.sendBlocking(msg, prio, deadline)
	}
	s := &q.snd
	s.mu.Lock()
	s.msg, s.prio = msg, prio
	err := q.run(&s.op, true, deadline, ErrFull)
	errno := s.errno
	s.msg = nil
	s.mu.Unlock()
	if err == nil && errno != 0 {
		err = q.callError("send", "mq_timedsend", errno)
	}
	return err
}

// Receive takes the oldest message of the highest priority off the queue into
// buf, which must hold at least the queue's MsgSize bytes, and returns its
// length and priority. If the queue is empty it waits until deadline, as Send
// does, giving ErrEmpty or ErrTimeout.
func (q *Queue) Receive(buf []byte, deadline time.Time) (n int, prio uint32, err error) {
	if int64(len(buf)) < q.msgSize {
		return 0, 0, msgSizeError(q.name, len(buf), q.msgSize)
	}
	if q.blocking {
		return 0, 0, q.callError("receive", "mq_timedreceive", unix.EBADF) // a writer
	}
	r := &q.rcv
	r.mu.Lock()
	r.buf = buf
	err = q.run(&r.op, false, deadline, ErrEmpty)
	n, prio, errno := r.n, r.prio, r.errno
	r.buf = nil
	r.mu.Unlock()
	if err == nil && errno != 0 {
		err = q.callError("receive", "mq_timedreceive", errno)
	}
	if err != nil {
		return 0, 0, err
	}
	return n, prio, nil
}

// ReceiveNow takes one message if the queue holds any, without waiting: it
// gives ErrEmpty otherwise. It is for a caller that waits on the descriptor
// itself (in an epoll set of its own, see Fd).
func (q *Queue) ReceiveNow(buf []byte) (n int, prio uint32, err error) {
	if q.blocking {
		return 0, 0, q.callError("receive", "mq_timedreceive", unix.EBADF) // a writer
	}
	var errno unix.Errno
	if err := q.rc.Control(func(fd uintptr) { n, errno = mqReceive(fd, buf, &prio) }); err != nil {
		return 0, 0, q.fileError(err)
	}
	switch errno {
	case 0:
		return n, prio, nil
	case unix.EAGAIN:
		return 0, 0, ErrEmpty
	case unix.EMSGSIZE:
		return 0, 0, msgSizeError(q.name, len(buf), q.msgSize)
	}
	return 0, 0, q.callError("receive", "mq_timedreceive", errno)
}

// run does one direction's operation with o's functions, o.mu held: it tries
// once, and if that would block and the deadline allows, waits in the runtime
// poller until the operation is done. The caller reads o.errno afterwards.
func (q *Queue) run(o *op, write bool, deadline time.Time, wouldBlock error) error {
	if err := q.rc.Control(o.try); err != nil {
		return q.fileError(err)
	}
	if o.errno != unix.EAGAIN {
		return nil
	}
	if !deadline.IsZero() && !time.Now().Before(deadline) {
		return wouldBlock
	}
	if !deadline.Equal(o.deadline) {
		var err error
		if write {
			err = q.f.SetWriteDeadline(deadline)
		} else {
			err = q.f.SetReadDeadline(deadline)
		}
		if err != nil {
			return q.fileError(err)
		}
		o.deadline = deadline
	}
	var err error
	if write {
		err = q.rc.Write(o.step)
	} else {
		err = q.rc.Read(o.step)
	}
	if err == os.ErrDeadlineExceeded {
		return ErrTimeout
	}
	if err != nil {
		return q.fileError(err)
	}
	return nil
}

// fileError maps an error of the File or its RawConn.
func (q *Queue) fileError(err error) error {
	if q.closed.Load() {
		return ErrClosed
	}
	return &OpError{Op: "wait", Name: q.name, Err: err}
}

func (q *Queue) callError(op, syscallName string, errno unix.Errno) error {
	if errno == unix.EBADF && q.closed.Load() {
		return ErrClosed
	}
	err := errnoError(syscallName, errno)
	return &OpError{Op: op, Name: q.name, Err: err}
}

// Attr returns the queue's attributes, with the number of messages in it now.
func (q *Queue) Attr() (Attr, error) {
	var ka mqAttr
	var errno unix.Errno
	if err := q.rc.Control(func(fd uintptr) { errno = mqGetAttr(fd, &ka) }); err != nil {
		return Attr{}, q.fileError(err)
	}
	if errno != 0 {
		return Attr{}, q.callError("attr", "mq_getsetattr", errno)
	}
	return ka.attr(), nil
}

// attr is the kernel's attributes as Attr.
func (ka *mqAttr) attr() Attr {
	return Attr{MaxMsg: int64(ka.maxMsg), MsgSize: int64(ka.msgSize), CurMsgs: int64(ka.curMsgs)}
}

// msgSizeError is ReceiveNow's error for a buffer smaller than the queue's
// messages.
func msgSizeError(name string, bufLen int, msgSize int64) error {
	return &OpError{Op: "receive", Name: name,
		Err: fmt.Errorf("%w: %d-byte buffer, the queue's messages take up to %d bytes", ErrMsgSize, bufLen, msgSize)}
}

// Name returns the queue's name, without a leading slash.
func (q *Queue) Name() string { return q.name }

// File returns the queue's File, for exec.Cmd.ExtraFiles; the child makes a
// Queue of it with FromFile. The Queue keeps owning the File: do not close it.
// Calling its Fd method is harmless: the descriptor stays non-blocking.
func (q *Queue) File() *os.File { return q.f }

// Fd returns the queue's descriptor number, or -1 once the Queue is closed.
func (q *Queue) Fd() int {
	fd := -1
	q.rc.Control(func(u uintptr) { fd = int(u) })
	return fd
}

// Close closes the descriptor; waiting Send and Receive calls return
// ErrClosed. The queue itself lives on until Unlink.
func (q *Queue) Close() error {
	if q.closed.Swap(true) {
		return &OpError{Op: "close", Name: q.name, Err: ErrClosed}
	}
	if err := q.f.Close(); err != nil {
		return &OpError{Op: "close", Name: q.name, Err: err}
	}
	return nil
}

// Unlink removes the queue's name; the queue is destroyed, and its budget
// freed, once its last descriptor is closed. It wraps ErrNotExist when there
// is no queue of that name.
func Unlink(name string) error {
	if err := checkName(name); err != nil {
		return &OpError{Op: "unlink", Name: name, Err: err}
	}
	if errno := mqUnlink(name); errno != 0 {
		return &OpError{Op: "unlink", Name: name, Err: errnoError("mq_unlink", errno)}
	}
	return nil
}
