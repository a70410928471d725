package goengine

import (
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/forkmq/forkmq/internal/packet"
	"github.com/forkmq/forkmq/internal/protocol"
)

// message is one application message as routed: built once by the
// publisher's router and shared, never changed, by every subscriber's
// deliverer. Forwarded copies have RETAIN 0 and DUP 0, so topic and payload
// are all there is; the QoS differs per subscriber (see delivery).
type message struct {
	topic   string
	payload []byte // the decoded PUBLISH's own buffer; nobody writes to it
}

// delivery is a message as one subscriber gets it: at min(published,
// granted) QoS [MQTT-3.3.5-1]. Sent by value: routing allocates nothing per
// subscriber.
type delivery struct {
	m   *message
	qos packet.QoS
}

// control is what a client's own router sends its deliverer: a reply to
// write, or (ack) the client's acknowledgement of an outbound QoS 1/2 flow,
// which the deliverer settles.
type control struct {
	p   packet.Packet
	ack bool
}

// client is what a client's router, its deliverer and other clients'
// routers share: the connection and the two channels that are this engine's
// counterpart of the client's POSIX queue.
type client struct {
	name    string // "goroutine.<instance>.<seq>", logged as "queue"
	remote  string
	started time.Time
	conn    *net.TCPConn

	// pubs carries publications from any router (many senders, never
	// closed). ctrl carries the client's own router's replies; the deliverer
	// writes every waiting reply before the next publication, as the process
	// engine's priority 1 does, and the router closes it to ask for an
	// orderly close (flush what came before, then close).
	pubs chan delivery
	ctrl chan control

	stop      chan struct{} // closed by end: the deliverer stops, publishers skip the client
	delivered chan struct{} // closed when the deliverer has returned
	cleaned   chan struct{} // closed when the client is cleaned up and its will published
	endOnce   sync.Once
	why       atomic.Pointer[string] // the first reason recorded
}

func newClient(name string, conn *net.TCPConn, queueLen int) *client {
	return &client{
		name:      name,
		remote:    conn.RemoteAddr().String(),
		started:   time.Now(),
		conn:      conn,
		pubs:      make(chan delivery, queueLen),
		ctrl:      make(chan control, queueLen),
		stop:      make(chan struct{}),
		delivered: make(chan struct{}),
		cleaned:   make(chan struct{}),
	}
}

// setReason records why the client ends, unless a reason is recorded already.
func (c *client) setReason(reason string) { c.why.CompareAndSwap(nil, &reason) }

// reason is why the client ended, in the process engine's words.
func (c *client) reason() string {
	if r := c.why.Load(); r != nil {
		return *r
	}
	return "deliverer: " + reasonOrderly
}

// end closes the client at once: the connection (ending the router's read
// and the deliverer's write) and the stop channel (ending the deliverer's
// wait and every publisher's wait on this client). It may be called by
// anyone, any number of times; the first reason wins.
func (c *client) end(reason string) {
	c.setReason(reason)
	c.endOnce.Do(func() {
		close(c.stop)
		c.conn.Close()
	})
}

func (c *client) stopped() bool {
	select {
	case <-c.stop:
		return true
	default:
		return false
	}
}

// Reasons in the words of the process engine's exit codes, so that a
// "client disconnected" line reads the same from both engines.
const (
	reasonOrderly = "orderly"
	reasonStopped = "stopped"
	reasonSocket  = "socket closed"
	reasonFailure = "failure"
)

var endReasons = map[protocol.End]string{
	protocol.EndDisconnect:     reasonOrderly,
	protocol.EndRefused:        reasonOrderly,
	protocol.EndProtocol:       "protocol error",
	protocol.EndKeepAlive:      "keep-alive timeout",
	protocol.EndConnectTimeout: "connect timeout",
	protocol.EndClosed:         reasonSocket,
	protocol.EndEngine:         reasonFailure,
}
