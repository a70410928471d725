//go:build linux

package queue

import (
	"errors"
	"io/fs"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// sentinel is the type of the package's errors. alias, when set, is a
// standard error the sentinel also matches with errors.Is, so callers that
// only know io/fs or os errors still recognise it.
type sentinel struct {
	msg     string
	alias   error
	timeout bool
}

func (e *sentinel) Error() string        { return e.msg }
func (e *sentinel) Is(target error) bool { return e.alias != nil && target == e.alias }
func (e *sentinel) Timeout() bool        { return e.timeout }
func newSentinel(msg string, alias error) *sentinel {
	return &sentinel{msg: msg, alias: alias}
}

// Errors returned by the package, bare or wrapped; test with errors.Is.
// Send and Receive return ErrFull, ErrEmpty, ErrTimeout and ErrClosed bare, so
// the steady state does not allocate.
var (
	// ErrFull: Send found the queue full and its deadline had passed.
	ErrFull error = newSentinel("queue: full", nil)
	// ErrEmpty: Receive found the queue empty and its deadline had passed.
	ErrEmpty error = newSentinel("queue: empty", nil)
	// ErrTimeout: the deadline passed while waiting. Also matches
	// os.ErrDeadlineExceeded.
	ErrTimeout error = &sentinel{msg: "queue: deadline exceeded", alias: os.ErrDeadlineExceeded, timeout: true}
	// ErrExist: Create found a queue of that name. Also matches fs.ErrExist.
	ErrExist error = newSentinel("queue: already exists", fs.ErrExist)
	// ErrNotExist: no queue of that name. Also matches fs.ErrNotExist.
	ErrNotExist error = newSentinel("queue: does not exist", fs.ErrNotExist)
	// ErrLimit is matched by every *LimitError.
	ErrLimit error = newSentinel("queue: system limit reached", nil)
	// ErrClosed: the Queue was closed. Also matches fs.ErrClosed.
	ErrClosed error = newSentinel("queue: closed", fs.ErrClosed)
	// ErrMsgSize: a message longer than the queue's MsgSize, or a receive
	// buffer shorter than it.
	ErrMsgSize error = newSentinel("queue: message size does not fit", nil)
	// ErrInvalid: a bad name, attribute or priority. Also matches
	// fs.ErrInvalid.
	ErrInvalid error = newSentinel("queue: invalid argument", fs.ErrInvalid)
)

// The limits a LimitError can name.
const (
	LimitMsgQueue   = "RLIMIT_MSGQUEUE"
	LimitQueuesMax  = "fs.mqueue.queues_max"
	LimitMsgMax     = "fs.mqueue.msg_max"
	LimitMsgSizeMax = "fs.mqueue.msgsize_max"
	LimitNoFile     = "RLIMIT_NOFILE"
)

// LimitError reports that a system limit stopped an operation.
type LimitError struct {
	Limit string // one of the Limit* constants
	Fix   string // one sentence: how to raise the limit or what to lower
	Err   error  // the errno, or nil when Plan found the limit too low
}

func (e *LimitError) Error() string {
	s := "queue: " + e.Limit + " reached"
	if e.Err != nil {
		s += " (" + e.Err.Error() + ")"
	}
	return s + ": " + e.Fix
}

// Is makes every LimitError match ErrLimit.
func (e *LimitError) Is(target error) bool { return target == ErrLimit }

func (e *LimitError) Unwrap() error { return e.Err }

// OpError gives an error of an operation on a named queue its context.
type OpError struct {
	Op   string // "create", "open", "send", "receive", "attr", "unlink", ...
	Name string // the queue's name
	Err  error  // a sentinel, a *LimitError or an *os.SyscallError
}

func (e *OpError) Error() string {
	return "queue " + e.Op + " " + strconv.Quote(e.Name) + ": " + e.Err.Error()
}

func (e *OpError) Unwrap() error { return e.Err }

// errnoError maps the errnos every call shares to the package's errors; the
// callers handle the errnos whose meaning depends on the call first.
func errnoError(syscallName string, errno unix.Errno) error {
	switch errno {
	case unix.EEXIST:
		return ErrExist
	case unix.ENOENT:
		return ErrNotExist
	case unix.EAGAIN:
		return ErrFull
	case unix.ETIMEDOUT:
		return ErrTimeout
	case unix.EMSGSIZE:
		return ErrMsgSize
	case unix.ENOSPC:
		return queuesMaxError(errno)
	case unix.EMFILE:
		return noFileError(errno)
	}
	return os.NewSyscallError(syscallName, errno)
}

func queuesMaxError(errno error) *LimitError {
	n := "more"
	if l, err := ReadLimits(); err == nil {
		n = "more than " + strconv.FormatInt(l.QueuesMax, 10)
	}
	return &LimitError{
		Limit: LimitQueuesMax,
		Fix:   "the IPC namespace already holds as many queues as fs.mqueue.queues_max allows; raise it to " + n + " (sysctl -w fs.mqueue.queues_max=N) or serve fewer clients at once",
		Err:   errno,
	}
}

func noFileError(errno error) *LimitError {
	return &LimitError{
		Limit: LimitNoFile,
		Fix:   "the process has as many descriptors open as RLIMIT_NOFILE allows; raise it (ulimit -n, LimitNOFILE= in systemd) or close unused queues",
		Err:   errno,
	}
}

func msgQueueError(errno error, a Attr) *LimitError {
	var budget uint64
	if l, err := ReadLimits(); err == nil {
		budget = l.Budget
	}
	return &LimitError{
		Limit: LimitMsgQueue,
		Fix: "a queue of " + strconv.FormatInt(a.MaxMsg, 10) + "x" + strconv.FormatInt(a.MsgSize, 10) +
			" costs " + strconv.FormatUint(Cost(a), 10) + " bytes, more than the queues of uid " + strconv.Itoa(os.Getuid()) +
			" leave of its " + strconv.FormatUint(budget, 10) + "-byte RLIMIT_MSGQUEUE;" +
			" unlink stale queues, plan smaller queues (queue.Plan) or raise the limit (ulimit -q, LimitMSGQUEUE= in systemd; raising the hard limit needs CAP_SYS_RESOURCE)",
		Err: errno,
	}
}

// emfileCause tells which limit an EMFILE from mq_open with O_CREAT hit: the
// descriptor table (RLIMIT_NOFILE) or the queue budget (RLIMIT_MSGQUEUE). The
// descriptor table was full if we cannot open a directory either, or if
// counting the open descriptors reaches the limit.
func emfileCause() string {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return LimitMsgQueue
	}
	d, err := os.Open("/proc/self/fd")
	if err != nil {
		if errors.Is(err, unix.EMFILE) {
			return LimitNoFile
		}
		return LimitMsgQueue
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return LimitMsgQueue
	}
	below := uint64(0) // descriptors numbered below the limit, ours excluded
	for _, n := range names {
		if fd, err := strconv.ParseUint(n, 10, 64); err == nil && fd < rl.Cur {
			below++
		}
	}
	// The directory we just opened counts: if it took the last free slot,
	// the table is full now and most likely was full for mq_open.
	if below >= rl.Cur {
		return LimitNoFile
	}
	return LimitMsgQueue
}
