package worker

import (
	"bufio"
	"io"
)

// routerInSize is the router's read buffer: a whole packet of most sizes
// is read in one call.
const routerInSize = 64 << 10

// buffers are the large buffers a client's workers need — the router's
// read buffer for the socket, the deliverer's for one pair message and for
// one queue message — kept for the worker's life and lent to each client
// it serves in turn. Made anew they cost the zeroing of 128 KiB per
// connection (8 % of a connect's CPU, perf record of the connect
// scenario), and the queue message's a few KiB more with its page faults;
// kept, none.
//
// Nothing of one client is readable by the next, because neither buffer is
// read past what was written into it for the client now served:
//   - in is a bufio.Reader, reset for each client (Reset keeps the buffer
//     and empties it: its read and write offsets are both zero), and a
//     bufio.Reader returns only bytes between those offsets, which its
//     fill advances only over what the underlying reader wrote;
//   - pair is filled by recv, and the deliverer decodes pair[:n] with n
//     what that recv returned (deliverer.readPair); queue likewise by
//     mq_timedreceive (deliverer.receive).
//
// A worker serves one client at a time, in one role, so one set is enough.
type buffers struct {
	in    *bufio.Reader
	pair  []byte
	queue []byte
}

// routerIn returns the router's read buffer, reading from r, empty.
func (b *buffers) routerIn(r io.Reader) *bufio.Reader {
	if b.in == nil {
		b.in = bufio.NewReaderSize(r, routerInSize)
		return b.in
	}
	b.in.Reset(r)
	return b.in
}

// routerDone lets the read buffer drop the client's reader, so the
// socket's reader and what it refers to are not kept alive while the
// worker waits in the pool.
func (b *buffers) routerDone() {
	if b.in != nil {
		b.in.Reset(nil)
	}
}

// queueIn returns the deliverer's buffer for one queue message, of size
// bytes (the queues' message size). A deliverer that needs a larger one
// (a persistent session's queue made larger) makes its own, for its client.
func (b *buffers) queueIn(size int) []byte {
	if len(b.queue) != size {
		b.queue = make([]byte, size)
	}
	return b.queue
}

// pairIn returns the deliverer's buffer for one pair message (a batch of
// up to pairMax bytes, and one more to see a datagram that was cut).
func (b *buffers) pairIn() []byte {
	if b.pair == nil {
		b.pair = make([]byte, pairMax+1)
	}
	return b.pair
}
