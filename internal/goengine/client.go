package goengine

import (
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/forkmq/forkmq/internal/core"
	"github.com/forkmq/forkmq/internal/listener"
	"github.com/forkmq/forkmq/internal/options"
	"github.com/forkmq/forkmq/internal/protocol"
	"github.com/forkmq/forkmq/internal/scoreboard"
	"github.com/forkmq/forkmq/internal/stall"
)

// own is what a client's router sends its deliverer on the ctrl channel:
// a core.Item, and with Start the persistent session's mailbox to attach
// (nil for a clean session) — the counterpart of the process engine's
// pair channel and its adopt envelope. Or, instead of an Item, a batch of
// acknowledgements of the client's publications (replies, see
// router.hold), written in order.
type own struct {
	it      core.Item
	mailbox *mailbox
	replies [][]byte
}

// client is one connection: what its router, its deliverer and other
// clients' routers share. pubs is this engine's counterpart of the client's
// POSIX queue, ctrl of its pair channel.
type client struct {
	name    string // "goroutine.<instance>.<seq>", logged as "queue"
	remote  string
	started time.Time
	conn    net.Conn // a TCP socket, or a socketpair's end for a TLS or WebSocket session
	// identity is the user name the client's TLS certificate vouches for
	// (use_identity_as_username), "" if none.
	identity string
	log      zerolog.Logger // the deliverer's; slow-consumer lines are its

	// pubs carries publications from any router (many senders, never
	// closed); it holds at most maxMsgs of them and maxBytes of topic and
	// payload, beyond which routers wait (back-pressure, see offer).
	pubs     chan core.Item
	ctrl     chan own
	maxBytes int64
	backlog  atomic.Int64  // bytes of the publications in pubs
	watch    *stall.Watch  // the deliverer's progress and stall verdict
	drops    atomic.Uint64 // QoS 0 publications dropped as a stalled client's
	sock     *stall.Writer // the deliverer's way to the socket
	slowOnce sync.Once

	stop      chan struct{} // closed by end: the deliverer stops, publishers skip the client
	delivered chan struct{} // closed when the deliverer has returned
	cleaned   chan struct{} // closed when the client is cleaned up and its will published
	endOnce   sync.Once
	why       atomic.Pointer[string] // the first reason recorded
	counts    pairCounts             // its goroutines' scoreboard slots (operate.go)
}

// newClient makes a client with cfg's channel sizes and backlog bounds
// whose deliverer logs to log.
func newClient(name string, conn net.Conn, cfg *options.Options, log zerolog.Logger) *client {
	watch := stall.NewWatch(cfg.StallTimeout)
	identity := ""
	if lc, ok := conn.(*listener.Conn); ok {
		identity = lc.Identity()
	}
	return &client{
		name:      name,
		remote:    conn.RemoteAddr().String(),
		started:   time.Now(),
		conn:      conn,
		identity:  identity,
		log:       log,
		pubs:      make(chan core.Item, cfg.BacklogMsgs),
		ctrl:      make(chan own, replyLen),
		maxBytes:  cfg.BacklogBytes,
		watch:     watch,
		sock:      stall.NewWriter(socketOf(conn), watch),
		stop:      make(chan struct{}),
		delivered: make(chan struct{}),
		cleaned:   make(chan struct{}),
	}
}

// socketOf is the socket under conn, which the deliverer writes to: a
// *listener.Conn only wraps it (its writes are the socket's), and hides
// the writev(2) that net.Buffers finds on the socket itself.
func socketOf(conn net.Conn) net.Conn {
	if lc, ok := conn.(*listener.Conn); ok {
		return lc.Conn
	}
	return conn
}

// overBytes reports whether a publication of size bytes is past the
// client's bound in bytes (the channel's capacity is the bound in
// messages). An empty backlog takes any one message, however large.
func (c *client) overBytes(size int64) bool {
	b := c.backlog.Load()
	return b > 0 && b+size > c.maxBytes
}

// dropped counts a QoS 0 publication dropped for a stalled client.
func (c *client) dropped() {
	c.counts.deliverer.Inc(scoreboard.PublishDropped)
	core.LogDropped(c.log, c.drops.Add(1), len(c.pubs), c.backlog.Load())
}

// slowConsumer ends a stalled client a QoS 1/2 message could not reach.
func (c *client) slowConsumer(backlogLimit int) {
	c.slowOnce.Do(func() {
		if c.stopped() {
			return
		}
		c.log.Warn().Int("backlog_limit", backlogLimit).Int64("backlog_bytes_limit", c.maxBytes).
			Dur("stalled_for", c.watch.Idle()).
			Msg("disconnecting a slow consumer: it stopped reading with its backlog full (see -stall-timeout, -max-queued-messages, -max-queued-bytes)")
		c.end("deliverer: " + reasonSlowConsumer)
	})
}

// setReason records why the client ends, unless a reason is recorded already.
func (c *client) setReason(reason string) { c.why.CompareAndSwap(nil, &reason) }

// reason is why the client ended: the first reason recorded.
func (c *client) reason() string {
	if r := c.why.Load(); r != nil {
		return *r
	}
	return "deliverer: " + reasonOrderly
}

// end stops the client: it records the reason, closes the socket (both
// directions, for router and deliverer at once) and tells everyone.
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

// Why a client ended, as the "client disconnected" line says it.
const (
	reasonOrderly      = "orderly"
	reasonStopped      = "stopped"
	reasonSocket       = "socket closed"
	reasonFailure      = "failure"
	reasonSlowConsumer = "slow consumer"
	reasonProtocol     = "protocol error"
)

// endReasons maps why the router's session ended to the reason.
var endReasons = map[protocol.End]string{
	protocol.EndDisconnect:     reasonOrderly,
	protocol.EndRefused:        reasonOrderly,
	protocol.EndProtocol:       reasonProtocol,
	protocol.EndKeepAlive:      "keep-alive timeout",
	protocol.EndConnectTimeout: "connect timeout",
	protocol.EndClosed:         reasonSocket,
	protocol.EndEngine:         reasonFailure,
}
