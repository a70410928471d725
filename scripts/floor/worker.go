//go:build linux

package main

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/forkmq/forkmq/internal/nowait"
)

// The descriptors a worker inherits (exec.Cmd.ExtraFiles), in the order
// forkmq's workers have theirs: the client's TCP connection, the worker's
// end of its client's socket pair, and a queue (the subscriber's, read by
// its deliverer, written by its publisher's router).
const (
	fdConn  = 3
	fdPair  = 4
	fdQueue = 5
)

// An action is what a hop does with a message it took.
type action int

const (
	actSend     action = iota // mq_timedsend it to the queue (fdQueue)
	actAckPair                // write a 4-byte PUBACK on the socket pair
	actAckConn                // write a 4-byte PUBACK to the client
	actCopyConn               // write the message to the client
)

var actionNames = map[string]action{"send": actSend, "ack-pair": actAckPair, "ack-conn": actAckConn, "copy-conn": actCopyConn}

var sourceFDs = map[string]int{"conn": fdConn, "pair": fdPair, "queue": fdQueue}

// A hop is one wait of a worker: a source it takes messages from and what
// it does with each, the minimum forkmq's worker does on that path.
type hop struct {
	name string
	src  int
	acts []action
}

func (h hop) isQueue() bool { return h.src == fdQueue }

// parseHops reads a worker's hops: "SOURCE:ACTION+ACTION,SOURCE:…", a
// source being conn, pair or queue, and "drop" the empty list of actions
// (the subscriber's router, which takes the client's PUBACK and, holding
// it as forkmq does for a clean session, does nothing more).
func parseHops(spec string) ([]hop, error) {
	var hops []hop
	for _, item := range strings.Split(spec, ",") {
		src, acts, ok := strings.Cut(item, ":")
		fd, known := sourceFDs[src]
		if !ok || !known {
			return nil, fmt.Errorf("hop %q: want SOURCE:ACTIONS, SOURCE one of conn, pair, queue", item)
		}
		h := hop{name: src, src: fd}
		if acts != "drop" {
			for _, a := range strings.Split(acts, "+") {
				act, known := actionNames[a]
				if !known {
					return nil, fmt.Errorf("hop %q: unknown action %q (send, ack-pair, ack-conn, copy-conn, or drop alone)", item, a)
				}
				h.acts = append(h.acts, act)
			}
		}
		hops = append(hops, h)
	}
	return hops, nil
}

// puback is what the floor answers a PUBLISH with: an MQTT PUBACK of
// packet identifier 0. The floor does not parse what it forwards, so it
// cannot name the identifier; the load counts acknowledgements, it does not
// match them.
var puback = []byte{0x40, 0x02, 0, 0}

// runWorker serves its hops until the client's connection closes. Each hop
// waits as wait says: "poll" in Go's netpoller (the descriptor non-blocking
// and wrapped in an *os.File, every call raw, as forkmq's workers do), or
// "block" / "rawblock" in a blocking system call on a locked OS thread
// (through unix.Syscall6, or unix.RawSyscall6, which holds the P: only one
// such hop per process at GOMAXPROCS=1).
func runWorker(spec, wait string) error {
	hops, err := parseHops(spec)
	if err != nil {
		return err
	}
	serve := func(h hop) error { return serveHop(h, wait) }
	errc := make(chan error, len(hops))
	for _, h := range hops[1:] {
		go func() { errc <- serve(h) }()
	}
	go func() { errc <- serve(hops[0]) }()
	return <-errc
}

// errClosed ends a worker whose client closed its connection.
var errClosed = errors.New("connection closed")

func serveHop(h hop, wait string) error {
	buf := make([]byte, queueMsgSize)
	take, err := taker(h, wait)
	if err != nil {
		return fmt.Errorf("hop %s: %w", h.name, err)
	}
	for {
		n, err := take(buf)
		if errors.Is(err, unix.ECONNRESET) && !h.isQueue() {
			return errClosed // the load closed with a PUBACK unread: the end of a run
		}
		if err != nil {
			return fmt.Errorf("hop %s: %w", h.name, err)
		}
		if n == 0 && !h.isQueue() {
			return errClosed
		}
		for _, a := range h.acts {
			if err := act(a, buf[:n]); err != nil {
				return fmt.Errorf("hop %s: %w", h.name, err)
			}
		}
	}
}

// taker returns the function that waits for and takes the hop's next
// message.
func taker(h hop, wait string) (func([]byte) (int, error), error) {
	q := h.isQueue()
	setBlocking := func(blocking bool) error {
		if q {
			return mqSetBlocking(h.src, blocking)
		}
		return unix.SetNonblock(h.src, !blocking)
	}
	switch wait {
	case "poll":
		if err := setBlocking(false); err != nil {
			return nil, err
		}
		rc, err := os.NewFile(uintptr(h.src), h.name).SyscallConn()
		if err != nil {
			return nil, err
		}
		return func(buf []byte) (int, error) {
			var n int
			var errno unix.Errno
			err := rc.Read(func(fd uintptr) bool {
				n, errno = recv(int(fd), buf, q, true)
				return errno != unix.EAGAIN
			})
			if err == nil && errno != 0 {
				err = errno
			}
			return n, err
		}, nil
	case "block", "rawblock":
		if err := setBlocking(true); err != nil {
			return nil, err
		}
		raw := wait == "rawblock"
		runtime.LockOSThread() // held for the worker's life: the goroutine never ends but with it
		return func(buf []byte) (int, error) {
			n, errno := recv(h.src, buf, q, raw)
			if errno != 0 {
				return n, errno
			}
			return n, nil
		}, nil
	}
	return nil, fmt.Errorf("unknown wait %q (poll, block, rawblock)", wait)
}

func act(a action, msg []byte) error {
	var err error
	switch a {
	case actSend:
		err = mqSendNow(fdQueue, msg)
	case actAckPair:
		_, err = nowait.Write(fdPair, puback)
	case actAckConn:
		_, err = nowait.Write(fdConn, puback)
	case actCopyConn:
		_, err = nowait.Write(fdConn, msg)
	}
	return err
}
