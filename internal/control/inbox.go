package control

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/forkmq/forkmq/internal/nowait"
	"github.com/forkmq/forkmq/internal/pollset"
)

// Inbox reads many control channels — the supervisor's ends, one per
// worker — from one epoll set, on whatever single goroutine calls Wait,
// and hands back everything they hold at once.
//
// Why not a goroutine per channel, each blocked in Receive: every message
// then cost a wake-up of its reader goroutine (a thread, with GOMAXPROCS
// 2) and a hand-off to the supervisor's loop through a channel, and a
// deliverer's end of a client (CleanupDone, Idle, PartnerIdle in one
// sendmmsg) three of each. The channels were also in the runtime's poller,
// which watches for room to write too: each message a worker read from
// the supervisor woke the supervisor's poller for nothing. An Inbox's
// channels are blocking sockets out of the poller, in a set of their own
// for reading only (level-triggered: what one Wait leaves, the next finds);
// the set is what the poller waits on (package pollset). See
// docs/ARCHITECTURE.md, "The supervisor's loop", for the figures.
//
// T is what the caller knows a channel by (the supervisor's *worker).
// Order is kept per channel, not between channels.
type Inbox[T any] struct {
	set    *pollset.Set
	events []unix.EpollEvent
	// What one recvmmsg takes from a channel: perChannel datagrams, each
	// with its buffer (Decode copies what it keeps) and ancillary data.
	hdrs []unix.Mmsghdr
	bufs [][]byte
	oobs [][]byte

	mu     sync.Mutex // held by Wait while it reads, by a channel's Close
	ins    map[int32]*inboxEntry[T]
	next   int32 // the next channel's tag
	closed bool  // Close was called
}

// inboxEntry is one channel in an Inbox.
type inboxEntry[T any] struct {
	fd    int
	owner T
	ended bool // EOF or an unreadable message was handed back: out of the set
}

// Received is one message an Inbox took, or the error that ends its
// channel (io.EOF at the other end's close): after an error, nothing more
// comes from that channel.
type Received[T any] struct {
	From    T
	Message Message
	Err     error
}

// perChannel bounds the messages one Wait takes from one channel, so that
// a worker that floods its channel does not starve the others (the rest
// waits for the next Wait: the set is level-triggered).
const perChannel = 16

// NewInbox makes an empty Inbox.
func NewInbox[T any]() (*Inbox[T], error) {
	set, err := pollset.New()
	if err != nil {
		return nil, fmt.Errorf("control inbox: %w", err)
	}
	in := &Inbox[T]{set: set, events: make([]unix.EpollEvent, 64), ins: make(map[int32]*inboxEntry[T])}
	in.bufs = make([][]byte, perChannel)
	in.oobs = make([][]byte, perChannel)
	for i := range perChannel {
		in.bufs[i], in.oobs[i] = make([]byte, MaxSize), make([]byte, oobSpace)
	}
	in.hdrs = nowait.Mmsghdrs(in.bufs)
	for i := range in.hdrs {
		in.hdrs[i].Hdr.Control = &in.oobs[i][0]
	}
	return in, nil
}

// Open makes a Conn of f, a SOCK_SEQPACKET socket (closed here, the Conn
// holds a duplicate), whose messages Wait hands back as from owner. The
// Conn sends as any other (waiting in poll(2) for room, under its write
// deadline); its Receive is an error; its Close takes it out of the Inbox
// first, so that Wait never reads a descriptor closed (or reused) under it.
func (in *Inbox[T]) Open(f *os.File, owner T) (*Conn, error) {
	defer f.Close()
	if err := checkSeqpacket(f); err != nil {
		return nil, fmt.Errorf("control channel %s: %w", f.Name(), err)
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("control channel %s: %w", f.Name(), err)
	}
	fd := -1
	var derr error
	if err := rc.Control(func(u uintptr) {
		fd, derr = nowait.FcntlInt(int(u), unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil || derr != nil {
		return nil, fmt.Errorf("control channel %s: dup: %w", f.Name(), errors.Join(err, derr))
	}
	// Blocking, out of the poller: every call on it passes MSG_DONTWAIT.
	if err := unix.SetNonblock(fd, false); err != nil {
		unix.Close(fd)
		return nil, os.NewSyscallError("fcntl", err)
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.closed {
		unix.Close(fd)
		return nil, fmt.Errorf("control channel %s: %w", f.Name(), os.ErrClosed)
	}
	tag := in.next
	in.next++
	if err := in.set.Add(fd, unix.EPOLLIN|unix.EPOLLRDHUP, tag); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("control channel %s: %w", f.Name(), err)
	}
	e := &inboxEntry[T]{fd: fd, owner: owner}
	in.ins[tag] = e
	q := &quietSocket{fd: fd, detach: func() { in.remove(tag) }}
	return &Conn{c: q, raw: q}, nil
}

// remove takes a channel out of the Inbox (its Conn's Close, before the
// descriptor is closed).
func (in *Inbox[T]) remove(tag int32) {
	in.mu.Lock()
	defer in.mu.Unlock()
	e := in.ins[tag]
	if e == nil {
		return
	}
	delete(in.ins, tag)
	if !e.ended && !in.closed {
		in.set.Remove(e.fd)
	}
}

// Wait waits until a channel has something to read (or its other end has
// closed), then appends to got what every ready channel holds, at most
// perChannel messages each, in the order each channel sent them. It
// returns an error only when the Inbox is closed.
func (in *Inbox[T]) Wait(got []Received[T]) ([]Received[T], error) {
	for {
		n, err := in.set.Wait(in.events, time.Time{})
		if err != nil {
			return got, fmt.Errorf("control inbox: %w", err)
		}
		before := len(got)
		in.mu.Lock()
		if in.closed {
			in.mu.Unlock()
			return got, fmt.Errorf("control inbox: %w", os.ErrClosed)
		}
		for _, ev := range in.events[:n] {
			if e := in.ins[ev.Fd]; e != nil && !e.ended {
				got = in.take(e, got)
			}
		}
		in.mu.Unlock()
		if len(got) > before {
			return got, nil
		}
		// A channel closed between the set's word and the lock: nothing.
	}
}

// take appends what one channel holds; mu is held. One recvmmsg takes it
// all (up to perChannel datagrams): with a recvmsg per datagram, every
// visit ended with one more that found nothing (EAGAIN), 2 of the
// supervisor's 6 recvmsg per connection in the connect scenario (strace
// -c), and each message was a call of its own.
func (in *Inbox[T]) take(e *inboxEntry[T], got []Received[T]) []Received[T] {
	for i := range in.hdrs {
		in.hdrs[i].Hdr.SetControllen(len(in.oobs[i])) // the kernel wrote the last call's lengths there
	}
	n, err := nowait.Recvmmsg(e.fd, in.hdrs, unix.MSG_CMSG_CLOEXEC|unix.MSG_DONTWAIT)
	switch {
	case errors.Is(err, unix.EAGAIN):
		return got
	case err != nil:
		got = append(got, Received[T]{From: e.owner, Err: fmt.Errorf("control receive: %w", os.NewSyscallError("recvmmsg", err))})
		in.end(e)
		return got
	}
	for i := range n {
		h := &in.hdrs[i]
		var m Message
		var err error
		if h.Len == 0 {
			// No message is empty: the other end closed the channel (and
			// every datagram after this one says so again).
			err = fmt.Errorf("control receive: %w", io.EOF)
		} else {
			m, err = Parse(in.bufs[i][:h.Len], in.oobs[i][:h.Hdr.Controllen], int(h.Hdr.Flags))
		}
		got = append(got, Received[T]{From: e.owner, Message: m, Err: err})
		if err != nil {
			// Its owner is ended on any error: nothing more from it. The
			// datagrams taken after this one are dropped, and so are the
			// descriptors they carry.
			for j := i + 1; j < n; j++ {
				closeRights(in.oobs[j][:in.hdrs[j].Hdr.Controllen])
			}
			in.end(e)
			return got
		}
	}
	return got
}

// end takes a channel whose error was handed back out of the set; mu is
// held.
func (in *Inbox[T]) end(e *inboxEntry[T]) {
	e.ended = true
	in.set.Remove(e.fd)
}

// closeRights closes the descriptors in the ancillary data of a datagram
// nobody will decode.
func closeRights(oob []byte) {
	fds, _ := rights(oob)
	for _, fd := range fds {
		unix.Close(fd)
	}
}

// Close ends Wait (now or at its next call) with an error. The channels
// stay open: their Conns close them.
func (in *Inbox[T]) Close() error {
	in.mu.Lock()
	in.closed = true
	in.mu.Unlock()
	return in.set.Close()
}
