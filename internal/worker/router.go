package worker

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/rs/zerolog"

	"github.com/forkmq/forkmq/internal/envelope"
	"github.com/forkmq/forkmq/internal/packet"
	"github.com/forkmq/forkmq/internal/protocol"
	"github.com/forkmq/forkmq/internal/queue"
	"github.com/forkmq/forkmq/internal/retain"
	"github.com/forkmq/forkmq/internal/spawn"
	"github.com/forkmq/forkmq/internal/spool"
	"github.com/forkmq/forkmq/internal/state"
	"github.com/forkmq/forkmq/internal/topicdir"
)

// minReplyWait bounds how long the router waits to put something for its
// own client on the pair channel: its deliverer takes it as long as the
// client reads, and ends the connection once the client has stalled
// (package stall), so waiting this long means the deliverer is stuck or gone.
const minReplyWait = 10 * time.Second

// replyWait is how long the router waits to put something for its own
// client on the pair channel.
func (r *router) replyWait() time.Duration { return max(minReplyWait, 2*r.args.StallTimeout) }

// publishWait bounds how long a router waits on a subscriber's full queue.
// A full queue is back-pressure: the subscriber's backlog is full and its
// deliverer takes more as the subscriber reads, so the router waits — as
// long as that takes, a publisher being slowed like TCP would slow it. Once
// the subscriber has stalled for the stall timeout its deliverer applies the
// slow-consumer policy and drains the queue itself; once it is gone the
// supervisor unlinks its queue, which the router notices within queueSlice.
// A queue still full after this long has a deliverer that runs no more
// (stopped by a signal, or hung): only then is the copy dropped.
func publishWait(stallTimeout time.Duration) time.Duration {
	return max(30*time.Second, 10*stallTimeout)
}

// queueSlice is how often a router waiting on a full queue checks that the
// queue still exists. Waiting in the kernel keeps the senders' turns in
// order, so the slice is long enough for many turns.
const queueSlice = 250 * time.Millisecond

// router reads one client's packets and acts on them; it implements
// protocol.Engine (and its optional interfaces) with the topic files, the
// subscribers' queues and the files of the state directory.
type router struct {
	args   spawn.Args
	log    zerolog.Logger
	layout state.Layout
	conn   *net.TCPConn
	in     *bufio.Reader
	spool  *spool.Spool

	// pair is the channel to this client's deliverer (see pair.go).
	// identity is the name subscriptions are recorded under: the
	// connection's queue, or the persistent session's once adopted.
	pair       *net.UnixConn
	holding    bool // the deliverer holds publications until SUBACK
	identity   string
	persistent bool
	hash       string   // the client identifier's hash (state package)
	idLock     *os.File // flock on ids/<hash> while this router serves the client

	topics   *topicdir.Dir
	matcher  *topicdir.Matcher
	retained *retain.Store
	writers  *writerCache

	session *protocol.Session
	buf     []byte // envelope being built
	subs    []topicdir.Subscriber
	dropped uint64
}

func newRouter(args spawn.Args, log zerolog.Logger, conn *net.TCPConn, pair *net.UnixConn, sp *spool.Spool) (*router, error) {
	layout := state.Layout{Root: args.StateDir, Instance: args.Instance}
	topics, err := topicdir.Open(layout.Topics())
	if err != nil {
		return nil, fmt.Errorf("router: %w", err)
	}
	retained, err := retain.Open(layout.Retained())
	if err != nil {
		return nil, fmt.Errorf("router: %w", err)
	}
	r := &router{
		retained: retained,
		args:     args,
		log:      log,
		layout:   layout,
		conn:     conn,
		in:       bufio.NewReaderSize(conn, 64<<10),
		pair:     pair,
		identity: args.Queue,
		spool:    sp,
		topics:   topics,
		matcher:  topics.NewMatcher(),
		writers:  newWriterCache(),
	}
	r.session = protocol.NewSession(r)
	r.session.SetLimits(protocol.Limits{MaxSubscriptions: args.MaxSubs, MaxTopicLength: args.MaxTopicLen, MaxTopicLevels: args.MaxTopicLevel})
	if ac, err := newAccess(args, log); err != nil {
		return nil, fmt.Errorf("router: %w", err)
	} else if ac != nil {
		r.session.SetAuthorizer(ac.current)
	}
	r.session.OnRefused(func(what string, err error) {
		r.log.Warn().Err(err).Str("client_id", r.session.ClientID()).Str("request", what).Msg("request refused")
	})
	return r, nil
}

// run is the router's loop: one packet at a time, in the order received.
func (r *router) run() spawn.ExitCode {
	end, err := r.session.Serve(r.conn, r.in, protocol.ServeConfig{
		MaxPacketSize: r.args.MaxPacketSize,
		ConnectWait:   r.args.ConnectWait,
		OnConnect:     r.connected,
		OnPacket: func(p packet.Packet) {
			if r.log.Debug().Enabled() {
				r.log.Debug().Str("client_id", r.session.ClientID()).Str("packet", p.Type().String()).Msg("packet in")
			}
		},
	})
	return r.close(end, err)
}

// connected logs the connection once CONNACK is on its way.
func (r *router) connected() {
	r.log.Info().
		Str("client_id", r.session.ClientID()).
		Str("remote", r.args.Remote).
		Int("router_pid", os.Getpid()).
		Int("deliverer_pid", r.args.Partner).
		Dur("keep_alive", r.session.KeepAlive()).
		Bool("persistent", r.persistent).
		Str("session_queue", r.identity).
		Msg("client connected")
}

// exitFor maps why the session ended to the router's exit code.
var exitFor = map[protocol.End]spawn.ExitCode{
	protocol.EndDisconnect:     spawn.ExitOrderly,
	protocol.EndRefused:        spawn.ExitOrderly,
	protocol.EndProtocol:       spawn.ExitProtocol,
	protocol.EndKeepAlive:      spawn.ExitKeepAlive,
	protocol.EndConnectTimeout: spawn.ExitConnectWait,
	protocol.EndClosed:         spawn.ExitSocketClosed,
	protocol.EndEngine:         spawn.ExitFailure,
}

// close ends the connection the way the session's end calls for, logs why,
// and returns the exit code that tells the supervisor.
func (r *router) close(end protocol.End, err error) spawn.ExitCode {
	defer r.releaseClientID()
	ev := r.log.Info()
	switch end {
	case protocol.EndClosed, protocol.EndDisconnect:
		ev = r.log.Debug()
	case protocol.EndEngine:
		ev = r.log.Error()
	}
	ev.Err(err).Str("client_id", r.session.ClientID()).Str("remote", r.args.Remote).Str("end", end.String()).Msg("session ended")
	if end.Orderly() {
		// The deliverer writes what is queued (a refusing CONNACK
		// [MQTT-3.2.2-5]), then closes the connection.
		if sendErr := r.toPair(envelope.Close); sendErr == nil {
			return spawn.ExitOrderly
		}
		shutdown(r.conn, r.log)
		return spawn.ExitFailure
	}
	// [MQTT-4.8.0-1] anything else closes the connection at once.
	shutdown(r.conn, r.log)
	return exitFor[end]
}

// Send implements protocol.Engine: a reply travels through the pair
// channel, ahead of queued publications, to the deliverer. Once CONNACK
// accepting the connection is on its way, the deliverer is told which queue
// to read: only then may anything but a reply reach the client
// [MQTT-3.2.0-1].
func (r *router) Send(p packet.Packet) error {
	b, err := packet.Append(append(r.buf[:0], byte(envelope.KindPacket)), p)
	if err != nil {
		return fmt.Errorf("encode %s: %w", p.Type(), err)
	}
	r.buf = b
	if r.log.Debug().Enabled() {
		r.log.Debug().Str("client_id", r.session.ClientID()).Str("packet", p.Type().String()).Msg("packet out")
	}
	if err := r.toPair(b); err != nil {
		return err
	}
	switch p := p.(type) {
	case *packet.Connack:
		if p.ReturnCode == packet.Accepted {
			return r.startDelivery()
		}
	case *packet.Suback:
		if r.holding {
			r.holding = false
			return r.toPair(envelope.Release)
		}
	}
	return nil
}

// Subscribe implements protocol.Engine: the subscription is recorded in the
// filter's topic file under this client's identity, with the QoS granted
// (the QoS asked for [MQTT-3.8.4-6]).
func (r *router) Subscribe(filter string, qos packet.QoS) (packet.QoS, error) {
	// Publications the new subscription brings wait in the deliverer until
	// SUBACK is out (see Send).
	if !r.holding {
		if err := r.toPair(envelope.Hold); err != nil {
			return 0, err
		}
		r.holding = true
	}
	if _, err := r.topics.Subscribe(r.identity, filter, byte(qos)); err != nil {
		r.log.Warn().Err(err).Str("filter", filter).Msg("subscribe failed")
		return 0, err
	}
	return qos, nil
}

// Unsubscribe implements protocol.Engine.
func (r *router) Unsubscribe(filter string) error {
	_, err := r.topics.Unsubscribe(r.identity, filter)
	return err
}

// Publish implements protocol.Engine: find the matching subscribers in the
// topic files and put the message on each one's queue, once per queue.
func (r *router) Publish(p *packet.Publish) error {
	subs, err := r.matcher.Match(p.Topic, r.subs[:0])
	if err != nil {
		r.log.Warn().Err(err).Str("topic", p.Topic).Msg("some topic files could not be read")
	}
	r.subs = subs
	if len(subs) == 0 {
		return nil
	}
	// Forwarded copies carry RETAIN 0 [MQTT-3.3.1-9] and DUP 0 [MQTT-3.3.1-3];
	// each at min(published, granted) QoS [MQTT-3.3.5-1].
	msg := r.outgoing(p.Topic, p.Payload, false)
	defer msg.release()
	for _, s := range subs {
		qos := min(p.QoS, packet.QoS(s.QoS))
		if err := r.route(s.Queue, msg, qos); err != nil && !errors.Is(err, queue.ErrFull) && !errors.Is(err, queue.ErrTimeout) {
			r.log.Warn().Err(err).Str("to", s.Queue).Msg("message not delivered to a subscriber")
		}
	}
	return nil
}

// outgoing is one message being routed: its envelope and spool file are
// made once per QoS it is sent at, and shared by every subscriber.
type outgoing struct {
	topic   string
	payload []byte
	size    int // of the payload, which may be only in a spool item
	retain  bool
	raw     []byte // a ready envelope (replies), instead of topic and payload
	env     [3][]byte
	item    [3]*spool.Item
}

func (r *router) outgoing(topic string, payload []byte, retain bool) *outgoing {
	return &outgoing{topic: topic, payload: payload, size: len(payload), retain: retain}
}

// fits reports whether the message fits in one queue message of limit bytes.
func (m *outgoing) fits(limit int) bool {
	if m.raw != nil {
		return len(m.raw) <= limit
	}
	return 1+envelope.PublicationSize(len(m.topic), m.size) <= limit
}

func newOutgoing(raw []byte) *outgoing { return &outgoing{raw: raw} }

func (m *outgoing) envelope(qos packet.QoS) []byte {
	if m.raw != nil {
		return m.raw
	}
	if m.env[qos] == nil {
		m.env[qos] = envelope.AppendPublish(nil, byte(qos)<<1|boolBit(m.retain), m.topic, m.payload)
	}
	return m.env[qos]
}

func (m *outgoing) spooled(sp *spool.Spool, qos packet.QoS) (*spool.Item, error) {
	if m.item[qos] == nil {
		it, err := sp.Write(m.envelope(qos))
		if err != nil {
			return nil, err
		}
		m.item[qos] = it
	}
	return m.item[qos], nil
}

func (m *outgoing) release() {
	for _, it := range m.item {
		if it != nil {
			it.Release()
		}
	}
}

// route puts one message on one subscriber's queue. A persistent session
// gets QoS 1 and 2 messages in its mailbox (a spool folder kept until the
// client acknowledges), so they survive its deliverer, its connection and
// the broker; the queue then carries only a doorbell. Everything else
// travels in the queue itself, or as a spool file when too large.
func (r *router) route(to string, m *outgoing, qos packet.QoS) error {
	if qos > 0 && state.IsSessionQueue(to) {
		return r.toMailbox(to, m, qos)
	}
	wait := publishWait(r.args.StallTimeout)
	if state.IsSessionQueue(to) {
		wait = 0 // possibly offline: never wait
	}
	limit := r.args.QueueMsgSize
	if to == r.identity {
		limit = pairMax // to this client itself: through the pair channel
	}
	if m.fits(limit) {
		return r.deliver(to, m.envelope(qos), wait)
	}
	item, err := m.spooled(r.spool, qos)
	if err != nil {
		return err
	}
	if err := item.LinkTo(to); err != nil {
		return err
	}
	if err := r.deliver(to, envelope.AppendSpooled(nil, item.Name()), wait); err != nil {
		item.Unlink(to)
		return err
	}
	return nil
}

// toMailbox stores a QoS 1/2 message for a persistent session and rings its
// doorbell. A session whose mailbox is full loses the message, with a log
// line; an offline one (no queue reader) keeps it for its next connection.
func (r *router) toMailbox(to string, m *outgoing, qos packet.QoS) error {
	item, err := m.spooled(r.spool, qos)
	if err != nil {
		return err
	}
	if err := item.LinkTo(to); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil // the session was discarded meanwhile
		}
		return err
	}
	// Ring the doorbell. The mailbox's bounds are checked only when the
	// session looks behind — no queue (offline, unlinked), a full queue, or
	// messages already waiting in it — so a keeping-up subscriber costs no
	// directory scan per message.
	doorbell := envelope.AppendNamed(nil, envelope.KindMailbox, item.Name())
	if to == r.identity {
		return r.toPair(doorbell) // this client's own: through the pair channel
	}
	behind := true
	_ = r.sendTo(to, func(q *queue.Queue) error {
		if err := q.Send(doorbell, envelope.PrioPublish, time.Now().Add(-time.Second)); err != nil {
			// No room: mark the mailbox for a rescan by its deliverer.
			if f, err := os.OpenFile(filepath.Join(r.spool.QueueDir(to), mailboxMissed), os.O_CREATE|os.O_WRONLY, 0o600); err == nil {
				f.Close()
			}
		} else if attr, err := q.Attr(); err == nil && attr.CurMsgs <= 1 {
			behind = false
		}
		return nil
	})
	if !behind {
		return nil
	}
	if n, size := mailboxUsage(r.spool.QueueDir(to)); n > r.args.SessionMsgs || size > r.args.SessionBytes {
		item.Unlink(to)
		r.dropped++
		r.log.Warn().Str("to", to).Int("messages", n).Int64("bytes", size).Int("max_messages", r.args.SessionMsgs).
			Int64("max_bytes", r.args.SessionBytes).Uint64("dropped_total", r.dropped).
			Msg("persistent session mailbox full: message dropped (raise -session-max-messages / -session-max-bytes)")
	}
	return nil
}

// deliver puts one envelope on a subscriber's queue (on the pair channel
// when the subscriber is this client), waiting for room at most wait.
func (r *router) deliver(name string, env []byte, wait time.Duration) error {
	if name == r.identity {
		return r.toPair(env)
	}
	err := r.sendTo(name, func(q *queue.Queue) error { return r.sendWaiting(q, name, env, wait) })
	if errors.Is(err, queue.ErrNotExist) {
		r.writers.forget(name)
		return nil // an offline or departed subscriber
	}
	if err != nil {
		r.dropped++
		if !state.IsSessionQueue(name) {
			r.log.Error().Err(err).Str("to", name).Uint64("dropped_total", r.dropped).Dur("waited", wait).
				Msg("message dropped: the subscriber's queue stayed full, nothing is draining it")
			r.writers.forget(name)
		}
		return err
	}
	return nil
}

// sendWaiting puts an envelope on a queue, waiting for room in the kernel
// (senders take turns in order) at most wait, in slices: between them it
// checks that the queue still exists, and gives up with queue.ErrNotExist
// when it does not (its client is gone).
func (r *router) sendWaiting(q *queue.Queue, name string, env []byte, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	if wait <= 0 {
		deadline = time.Now().Add(-time.Second) // never wait
	}
	for {
		slice := time.Now().Add(queueSlice)
		if slice.After(deadline) {
			slice = deadline
		}
		err := q.Send(env, envelope.PrioPublish, slice)
		if !errors.Is(err, queue.ErrTimeout) || !time.Now().Before(deadline) {
			if err != nil {
				return fmt.Errorf("send to queue %s: %w", name, err)
			}
			return nil
		}
		if !queue.Exists(name) {
			return fmt.Errorf("send to queue %s: %w", name, queue.ErrNotExist)
		}
	}
}

// sendTo puts an envelope on the named queue: a session queue (opened for
// this send: a session discarded and started again gets a new queue under
// the same name, which a cached descriptor would miss), or a connection
// queue through the writer cache.
func (r *router) sendTo(name string, send func(*queue.Queue) error) error {
	if state.IsSessionQueue(name) {
		q, err := queue.OpenWriter(name)
		if err != nil {
			return err
		}
		defer q.Close()
		return send(q)
	}
	return r.writers.use(name, send)
}
