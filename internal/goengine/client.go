package goengine

import (
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/forkmq/forkmq/internal/options"
	"github.com/forkmq/forkmq/internal/packet"
	"github.com/forkmq/forkmq/internal/protocol"
	"github.com/forkmq/forkmq/internal/stall"
)

// message is one application message as routed: built once by the
// publisher's router and shared, never changed, by every subscriber's
// deliverer. Forwarded copies have RETAIN 0 [MQTT-3.3.1-9]; a copy sent
// from the retained store to a new subscription has RETAIN 1
// [MQTT-3.3.1-8]. The QoS differs per subscriber (see delivery), and DUP is
// the deliverer's business (a resend).
type message struct {
	topic   string
	payload []byte // the decoded PUBLISH's own buffer; nobody writes to it
	retain  bool
}

// size is what the message counts against a backlog or a mailbox bound.
func (m *message) size() int64 { return int64(len(m.topic) + len(m.payload)) }

// delivery is a message as one subscriber gets it: at min(published,
// granted) QoS [MQTT-3.3.5-1]. Sent by value: routing allocates nothing per
// subscriber.
type delivery struct {
	m   *message
	qos packet.QoS
}

// control is what a client's own router sends its deliverer: a reply to
// write, (ack) the client's acknowledgement of an outbound QoS 1/2 flow,
// which the deliverer settles, or (resume) the persistent session whose
// stored flows and mailbox the deliverer takes over once CONNACK is out —
// the counterpart of the process engine's adopt and resume envelopes.
type control struct {
	p      packet.Packet
	ack    bool
	resume *session
}

// client is one connection: what its router, its deliverer and other
// clients' routers share. The two channels are this engine's counterpart of
// the client's POSIX queue, and pubs with its byte count is also the
// counterpart of the process engine's intake backlog (see offer).
type client struct {
	name    string // "goroutine.<instance>.<seq>", logged as "queue"
	remote  string
	started time.Time
	conn    *net.TCPConn
	log     zerolog.Logger // the deliverer's; slow-consumer lines are its

	// pubs carries publications from any router (many senders, never
	// closed); it holds at most maxMsgs of them and backlog bytes. ctrl
	// carries the client's own router's replies; the deliverer writes every
	// waiting reply before the next publication, as the process engine's
	// priority 1 does, and the router closes it to ask for an orderly close
	// (flush what came before, then close).
	pubs     chan delivery
	ctrl     chan control
	maxMsgs  int
	maxBytes int64
	backlog  atomic.Int64  // bytes of the publications in pubs
	watch    *stall.Watch  // the deliverer's progress, for the slow-consumer policy
	sock     *stall.Writer // the deliverer's way to the socket
	dropped  atomic.Uint64 // QoS 0 publications dropped past the bound
	slowOnce sync.Once

	stop      chan struct{} // closed by end: the deliverer stops, publishers skip the client
	delivered chan struct{} // closed when the deliverer has returned
	cleaned   chan struct{} // closed when the client is cleaned up and its will published
	endOnce   sync.Once
	why       atomic.Pointer[string] // the first reason recorded
}

// newClient makes a client with cfg's channel sizes and backlog bounds
// (cfg has its defaults set).
func newClient(name string, conn *net.TCPConn, cfg *options.Options, log zerolog.Logger) *client {
	watch := stall.NewWatch(cfg.StallTimeout)
	return &client{
		name:      name,
		remote:    conn.RemoteAddr().String(),
		started:   time.Now(),
		conn:      conn,
		log:       log,
		pubs:      make(chan delivery, cfg.BacklogMsgs),
		ctrl:      make(chan control, replyLen),
		maxMsgs:   cfg.BacklogMsgs,
		maxBytes:  cfg.BacklogBytes,
		watch:     watch,
		sock:      stall.NewWriter(conn, watch),
		stop:      make(chan struct{}),
		delivered: make(chan struct{}),
		cleaned:   make(chan struct{}),
	}
}

// overBytes reports whether a publication of size bytes is past the
// client's backlog bound in bytes (the channel's capacity is the bound in
// messages). An empty backlog takes any one message, however large.
func (c *client) overBytes(size int64) bool {
	b := c.backlog.Load()
	return b > 0 && b+size > c.maxBytes
}

// countDrop counts a QoS 0 publication dropped past the bound, logging the
// first and every thousandth as the process engine's intake does.
func (c *client) countDrop() {
	if n := c.dropped.Add(1); n == 1 || n%1000 == 0 {
		c.log.Warn().Uint64("dropped_total", n).Int("backlog", len(c.pubs)).Int64("backlog_bytes", c.backlog.Load()).
			Msg("slow consumer: QoS 0 message dropped (raise -max-queued-messages / -max-queued-bytes)")
	}
}

// slowConsumer ends a client whose backlog cannot take a QoS 1/2 message.
func (c *client) slowConsumer() {
	c.slowOnce.Do(func() {
		if c.stopped() {
			return
		}
		c.log.Warn().Int("backlog_limit", c.maxMsgs).Int64("backlog_bytes_limit", c.maxBytes).
			Dur("stalled_for", c.watch.Idle()).
			Msg("disconnecting a slow consumer: it stopped reading with its backlog full (see -stall-timeout, -max-queued-messages, -max-queued-bytes)")
		c.end("deliverer: " + reasonSlowConsumer)
	})
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
	reasonOrderly      = "orderly"
	reasonStopped      = "stopped"
	reasonSocket       = "socket closed"
	reasonFailure      = "failure"
	reasonSlowConsumer = "slow consumer"
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
