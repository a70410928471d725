//go:build linux

package queue

import (
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Attr holds the attributes of a queue. MaxMsg and MsgSize are fixed when the
// queue is created; CurMsgs is the number of messages in it when read.
type Attr struct {
	MaxMsg  int64 // most messages the queue holds
	MsgSize int64 // longest message in bytes
	CurMsgs int64 // messages in the queue now (ignored by Create)
}

// Limits are the limits the kernel applies to queues created by this process.
type Limits struct {
	MsgMax     int64  // fs.mqueue.msg_max: largest MaxMsg
	MsgSizeMax int64  // fs.mqueue.msgsize_max: largest MsgSize
	QueuesMax  int64  // fs.mqueue.queues_max: queues in the IPC namespace
	Budget     uint64 // soft RLIMIT_MSGQUEUE in bytes, shared by the user's queues
}

const procMqueue = "/proc/sys/fs/mqueue/"

// ReadLimits reads the fs.mqueue sysctls and the soft RLIMIT_MSGQUEUE. An
// unlimited RLIMIT_MSGQUEUE gives a Budget of math.MaxUint64.
func ReadLimits() (Limits, error) {
	var l Limits
	for _, v := range []struct {
		file string
		dst  *int64
	}{
		{"msg_max", &l.MsgMax},
		{"msgsize_max", &l.MsgSizeMax},
		{"queues_max", &l.QueuesMax},
	} {
		b, err := os.ReadFile(procMqueue + v.file)
		if err != nil {
			return Limits{}, fmt.Errorf("queue: read limits: %w", err)
		}
		n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			return Limits{}, fmt.Errorf("queue: read limits: %s: %w", procMqueue+v.file, err)
		}
		*v.dst = n
	}
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_MSGQUEUE, &rl); err != nil {
		return Limits{}, fmt.Errorf("queue: read limits: getrlimit(RLIMIT_MSGQUEUE): %w", err)
	}
	l.Budget = rl.Cur
	if rl.Cur == unix.RLIM_INFINITY {
		l.Budget = math.MaxUint64
	}
	return l, nil
}

// Kernel constants of the charge (see the package comment): MQ_PRIO_MAX, and
// the sizes of struct msg_msg and struct posix_msg_tree_node, six words each.
const (
	prioMax      = 32768
	msgHeader    = 6 * uint64(unsafe.Sizeof(uintptr(0)))
	treeNodeSize = 6 * uint64(unsafe.Sizeof(uintptr(0)))
)

// Cost returns the bytes the kernel charges against RLIMIT_MSGQUEUE for a
// queue with these attributes (CurMsgs does not matter). Attributes that are
// not positive cost 0; the kernel rejects them.
func Cost(a Attr) uint64 {
	if a.MaxMsg <= 0 || a.MsgSize <= 0 {
		return 0
	}
	m, s := uint64(a.MaxMsg), uint64(a.MsgSize)
	return m*(s+msgHeader) + min(m, prioMax)*treeNodeSize
}

// Plan returns attributes for queues so that `queues` of them fit the budget
// together, keeping 1/32 of it in reserve for queues Plan does not know about.
// MsgSize is at least minMsgSize (at least 1) and at most MsgSizeMax, MaxMsg
// at most MsgMax. Depth comes first: Plan fits as many messages of minMsgSize
// as it can, up to MsgMax, and what is left of each queue's share then makes
// the messages bigger (a deeper queue absorbs a reader's scheduling delays;
// a larger message only saves spooling the occasional large publication).
// Plan fails with a *LimitError when the queues cannot fit.
func Plan(l Limits, queues int, minMsgSize int64) (Attr, error) {
	if queues < 1 {
		return Attr{}, fmt.Errorf("queue: plan for %d queues: %w", queues, ErrInvalid)
	}
	minMsgSize = max(minMsgSize, 1)
	if l.MsgMax < 1 {
		return Attr{}, &LimitError{Limit: LimitMsgMax,
			Fix: fmt.Sprintf("fs.mqueue.msg_max is %d; raise it (sysctl -w fs.mqueue.msg_max=10)", l.MsgMax)}
	}
	if minMsgSize > l.MsgSizeMax {
		return Attr{}, &LimitError{Limit: LimitMsgSizeMax,
			Fix: fmt.Sprintf("messages of %d bytes need fs.mqueue.msgsize_max >= %d (sysctl -w fs.mqueue.msgsize_max=%d), or smaller messages", minMsgSize, minMsgSize, minMsgSize)}
	}
	reserve := l.Budget / 32
	share := (l.Budget - reserve) / uint64(queues)
	smallest := Attr{MaxMsg: 1, MsgSize: minMsgSize}
	// needed is a budget that would fit the queues with one message each.
	needed := Cost(smallest) * uint64(queues) * 32 / 31
	if l.QueuesMax > 0 && int64(queues) > l.QueuesMax {
		fix := fmt.Sprintf("raise fs.mqueue.queues_max to at least %d (sysctl -w fs.mqueue.queues_max=%d)", queues, queues)
		if Cost(smallest) > share {
			fix += fmt.Sprintf(" and RLIMIT_MSGQUEUE to at least %d bytes", needed)
		}
		return Attr{}, &LimitError{Limit: LimitQueuesMax, Fix: fix + ", or serve fewer clients at once"}
	}
	size := minMsgSize
	n := maxMsgs(share, size, l.MsgMax)
	if n == 0 {
		return Attr{}, &LimitError{Limit: LimitMsgQueue,
			Fix: fmt.Sprintf("%d queues of even one %d-byte message need RLIMIT_MSGQUEUE >= %d bytes, not %d (ulimit -q, LimitMSGQUEUE= in systemd; raising the hard limit needs CAP_SYS_RESOURCE), or serve fewer clients at once",
				queues, minMsgSize, needed, l.Budget)}
	}
	// Grow the messages with the rest of the share, up to MsgSizeMax.
	overhead := Cost(Attr{MaxMsg: n, MsgSize: 1}) - uint64(n)
	if grown := (share - overhead) / uint64(n); grown >= uint64(l.MsgSizeMax) {
		size = l.MsgSizeMax
	} else {
		size = int64(grown)
	}
	return Attr{MaxMsg: n, MsgSize: size}, nil
}

// maxMsgs returns the largest MaxMsg in [0, msgMax] for which a queue of
// messages of size bytes costs at most share.
func maxMsgs(share uint64, size, msgMax int64) int64 {
	lo, hi := int64(0), msgMax
	for lo < hi {
		mid := lo + (hi-lo+1)/2
		if Cost(Attr{MaxMsg: mid, MsgSize: size}) <= share {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return lo
}
