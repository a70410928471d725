//go:build linux

package queue

import (
	"golang.org/x/sys/unix"

	"github.com/forkmq/forkmq/internal/nowait"
)

// Receiver is a queue opened for reading by a loop that waits in an epoll
// set of its own (a worker's deliverer): its descriptor is non-blocking,
// owned by no os.File and in no runtime poller, and every call on it is raw
// (package nowait), its close too. A Queue's descriptor is an os.File in
// the poller, whose close is a system call the scheduler is told of: the
// deliverer, which opens and closes its client's queue at every
// connection, woke its runtime's sysmon thread for it at each client's
// end. Receiver is not safe for concurrent use.
type Receiver struct {
	fd      int // -1 once closed
	name    string
	msgSize int64
}

// OpenReceiver opens an existing queue for reading, for ReceiveNow only.
func OpenReceiver(name string) (*Receiver, error) {
	fd, err := openForReading(name)
	if err != nil {
		return nil, err
	}
	r := &Receiver{fd: fd, name: name}
	a, err := r.Attr()
	if err != nil {
		r.Close()
		return nil, err
	}
	r.msgSize = a.MsgSize
	return r, nil
}

// Fd returns the descriptor, for an epoll set (EPOLLIN: a message waits),
// or -1 once closed.
func (r *Receiver) Fd() int { return r.fd }

// ReceiveNow takes one message into buf if the queue holds any, as
// Queue.ReceiveNow: ErrEmpty when it holds none, ErrMsgSize when buf is
// smaller than the queue's message size.
func (r *Receiver) ReceiveNow(buf []byte) (int, error) {
	if r.fd < 0 {
		return 0, ErrClosed
	}
	var prio uint32
	n, errno := mqReceive(uintptr(r.fd), buf, &prio)
	switch errno {
	case 0:
		return n, nil
	case unix.EAGAIN:
		return 0, ErrEmpty
	case unix.EMSGSIZE:
		return 0, msgSizeError(r.name, len(buf), r.msgSize)
	}
	return 0, &OpError{Op: "receive", Name: r.name, Err: errnoError("mq_timedreceive", errno)}
}

// Attr returns the queue's attributes, with the number of messages in it now.
func (r *Receiver) Attr() (Attr, error) {
	if r.fd < 0 {
		return Attr{}, ErrClosed
	}
	var ka mqAttr
	if errno := mqGetAttr(uintptr(r.fd), &ka); errno != 0 {
		return Attr{}, &OpError{Op: "attr", Name: r.name, Err: errnoError("mq_getsetattr", errno)}
	}
	return ka.attr(), nil
}

// Name returns the queue's name, without a leading slash.
func (r *Receiver) Name() string { return r.name }

// Close closes the descriptor (raw); the queue lives on until Unlink.
func (r *Receiver) Close() error {
	if r.fd < 0 {
		return &OpError{Op: "close", Name: r.name, Err: ErrClosed}
	}
	err := nowait.Close(r.fd)
	r.fd = -1
	if err != nil {
		return &OpError{Op: "close", Name: r.name, Err: err}
	}
	return nil
}
