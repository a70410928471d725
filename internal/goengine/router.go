package goengine

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/rs/zerolog"

	"github.com/forkmq/forkmq/internal/core"
	"github.com/forkmq/forkmq/internal/packet"
	"github.com/forkmq/forkmq/internal/protocol"
)

const (
	// replyWait bounds how long the router waits to put something for its
	// own client on the ctrl channel: the deliverer takes it as long as the
	// client reads, so waiting this long means the client stopped reading.
	replyWait = 10 * time.Second
	// takeoverWait bounds how long a new connection waits for an earlier
	// one with the same client identifier to end and publish its will.
	takeoverWait = 5 * time.Second
	// holdMax is how many acknowledgements of the client's publications
	// the router holds before it sends them anyway (see hold): a bound on
	// what one ctrl item carries, not a delay.
	holdMax = 64
)

// errClientGone is returned by Send when the client was ended meanwhile.
var errClientGone = errors.New("client ended")

// router is the router goroutine of one client: it reads the client's
// packets and runs its protocol.Connection, whose engine is a core.Router
// on this engine's transport — the index in memory, the subscribers'
// channels and mailboxes, the ctrl channel to its own deliverer — which the
// router implements: core.Outlet, core.Own and core.Sessions.
type router struct {
	e     *Engine
	c     *client
	log   zerolog.Logger
	proto *protocol.Connection
	core  *core.Router[*session]

	bridge  *session     // a bridge's router: the bridge's session, which it never offers to
	sess    *session     // the subscriber this connection serves, from CONNECT on
	id      string       // the client identifier claimed, "" before CONNECT
	will    *packet.Will // published after an abnormal end [MQTT-3.1.2-8]
	timer   reusedTimer  // reused by every wait on a channel
	dropped uint64
	held    [][]byte // acknowledgements of the client's publications not yet sent (see hold)
}

func newRouter(e *Engine, c *client) *router {
	r := &router{e: e, c: c, log: e.log.With().Str("role", "router").Str("conn", c.name).Logger()}
	r.core = core.NewRouter[*session](r.log, &memIndex{x: e.index, m: e.index.NewMatcher()}, r, r, r, e.retained)
	r.core.Counts = c.counts.router
	r.proto = protocol.NewConnection(r.core)
	r.proto.SetLimits(protocol.Limits{MaxSubscriptions: e.cfg.MaxSubs, MaxTopicLength: e.cfg.MaxTopicLen, MaxTopicLevels: e.cfg.MaxTopicLevel})
	r.proto.SetAuthorizer(e.authorizer)
	if c.identity != "" {
		r.proto.SetIdentity(c.identity)
	}
	r.proto.OnRefused(func(what string, err error) {
		r.log.Warn().Err(err).Str("client_id", r.proto.ClientID()).Str("request", what).Msg("request refused")
	})
	return r
}

// run is the router's loop: one packet at a time, in the order received,
// until the session ends; then it closes the way the end calls for.
func (r *router) run() {
	end, err := r.proto.Serve(r.c.conn, bufio.NewReaderSize(r.core.Counts.Reader(r.c.conn), 64<<10), protocol.ServeConfig{
		MaxPacketSize: r.e.cfg.MaxPacketSize,
		ConnectWait:   r.e.cfg.ConnectWait,
		Idle:          r.release,
		OnConnect:     r.connected,
		OnPacket: func(p packet.Packet) {
			if r.log.Debug().Enabled() {
				r.log.Debug().Str("client_id", r.proto.ClientID()).Str("packet", p.Type().String()).Msg("packet in")
			}
		},
	})
	r.timer.stop()
	r.close(end, err)
}

// connected logs the connection once CONNACK is on its way.
func (r *router) connected() {
	r.core.Counts.Connected(r.proto.ClientID(), r.c.remote)
	r.log.Info().
		Str("client_id", r.proto.ClientID()).
		Str("remote", r.c.remote).
		Dur("keep_alive", r.proto.KeepAlive()).
		Bool("persistent", r.sess.persistent).
		Str("session", r.sess.name).
		Msg("client connected")
}

// close ends the connection the way the session's end calls for and logs why.
func (r *router) close(end protocol.End, err error) {
	if r.c.stopped() && (end == protocol.EndClosed || end == protocol.EndEngine) {
		// The deliverer or the shutdown ended the client first; this end
		// is only its echo, and the reason is theirs.
		end = protocol.EndClosed
	}
	core.LogEnd(r.log, end, err, r.proto.ClientID(), r.c.remote)
	reason := "router: " + endReasons[end]
	if end.Orderly() {
		// The deliverer writes the replies still waiting (a refusing CONNACK
		// [MQTT-3.2.2-5]), then closes the connection; a client that does
		// not read gets the process engine's grace period to take them.
		r.c.setReason(reason)
		r.c.sock.Finish(time.Now().Add(r.e.cfg.StopGrace))
		if r.core.Close() == nil {
			return
		}
	}
	// [MQTT-4.8.0-1] anything else closes the connection at once.
	r.c.end(reason)
}

// Claim implements core.Sessions: it claims the client identifier, ending
// an earlier connection that holds it [MQTT-3.1.4-2] and waiting until that
// one is cleaned up and its will published.
func (r *router) Claim(clientID string) error {
	deadline := time.Now().Add(takeoverWait)
	for {
		prev := r.e.claim(clientID, r.c)
		if prev == nil {
			break
		}
		r.log.Info().Str("client_id", clientID).Str("previous", prev.name).
			Msg("client id already connected; ending the earlier connection")
		prev.end("router: " + reasonStopped)
		select {
		case <-prev.cleaned:
		case <-r.wait(time.Until(deadline)):
			return &protocol.Refusal{Code: packet.RefusedServerUnavailable, Reason: "an earlier connection with this client id did not end"}
		}
	}
	r.id = clientID
	return nil
}

// Open implements core.Sessions: a clean session discards the stored one
// [MQTT-3.1.2-6]; otherwise the stored one is resumed, or a new one made.
func (r *router) Open(clientID string, clean bool) (*session, bool, error) {
	if clean {
		r.e.discardSession(clientID)
		r.sess = newSession(r.c.name, false)
		r.sess.online.Store(r.c)
		return r.sess, false, nil
	}
	var present bool
	r.sess, present = r.e.openSession(clientID)
	r.sess.mailbox.attach(true)
	return r.sess, present, nil
}

// KeepWill implements core.Sessions.
func (r *router) KeepWill(w *packet.Will) error {
	r.will = w
	return nil
}

// DropWill implements core.Sessions [MQTT-3.1.2-10].
func (r *router) DropWill() error {
	r.will = nil
	return nil
}

// Received implements core.Sessions: the session keeps the QoS 2
// identifiers not yet released, so that a persistent one still routes a
// message resent after a reconnect once [MQTT-4.3.3-2].
func (r *router) Received(id uint16) (bool, error) { return r.sess.qos2Seen(id), nil }

// Released implements core.Sessions.
func (r *router) Released(id uint16) error {
	delete(r.sess.inbound, id)
	return nil
}

// publishWill publishes the will of a connection that ended without
// DISCONNECT [MQTT-3.1.2-8], and reports whether there was one.
func (r *router) publishWill() bool {
	if r.will == nil {
		return false
	}
	w := r.will
	r.will = nil
	if err := r.core.PublishWill(w); err != nil {
		r.log.Warn().Err(err).Msg("will")
	}
	return true
}

// Send implements core.Own: what the router has for its own client goes on
// the ctrl channel. Start attaches the session: a persistent one now takes
// this connection's publications, and its deliverer resends what is
// unsettled and sends what was stored (after CONNACK: ctrl is in order).
func (r *router) Send(it core.Item) error {
	if holds(it) {
		return r.hold(it.Packet)
	}
	o := own{it: it}
	if it.Kind == core.Start {
		r.sess.online.Store(r.c)
		o.mailbox = r.sess.mailbox
	}
	return r.control(o)
}

// Publish implements core.Own: a copy for the client itself — through its
// mailbox when the session is persistent and qos > 0.
func (r *router) Publish(m *core.Message, qos packet.QoS) error {
	it := core.Item{Kind: core.Publication, Msg: m, QoS: qos}
	if qos > 0 && r.sess.persistent {
		r.toMailbox(r.sess, it)
		it = core.Item{Kind: core.Bell}
	}
	return r.control(own{it: it})
}

// Retained implements core.Own: the payload is read into memory, as every
// payload of this engine is.
func (r *router) Retained(topic string, qos packet.QoS, body io.Reader, size int64) error {
	payload := make([]byte, size)
	if _, err := io.ReadFull(body, payload); err != nil {
		return fmt.Errorf("read retained %q: %w", topic, err)
	}
	return r.Publish(&core.Message{Topic: topic, Payload: payload, Retain: true}, qos)
}

// control sends o on the ctrl channel, after the acknowledgements held.
func (r *router) control(o own) error {
	if err := r.release(); err != nil {
		return err
	}
	return r.put(o)
}

// holds reports whether a reply acknowledges one of the client's
// publications (PUBACK, PUBREC, or PUBCOMP after its PUBREL): one that may
// wait for the rest of what the client sent in the same burst.
func holds(it core.Item) bool {
	if it.Kind != core.Reply || len(it.Packet) == 0 {
		return false
	}
	switch packet.Type(it.Packet[0] >> 4) {
	case packet.TypePuback, packet.TypePubrec, packet.TypePubcomp:
		return true
	}
	return false
}

// hold keeps an acknowledgement of the client's publication until the
// router has read everything the client sent so far (Serve's Idle, before
// a read that would wait), until anything else goes to the deliverer, or
// until holdMax are held; then they go as one ctrl item (release).
//
// Why: 100 publishers to one subscriber keep its backlog full, so each
// publisher's router waits (back-pressure) after routing each PUBLISH,
// and its deliverer, woken by that PUBLISH's PUBACK, wrote it alone:
// 115k writes for 117k PUBACKs in a benchmark run, 18 s of CPU per
// million deliveries against 4 for one publisher. Held, they go one write
// per burst the client sent (13k writes for 647k), as the process
// engine's pair channel batches them until its router is about to wait
// for its client. A held PUBACK is late by at most the time the router
// takes to route what the client had already sent after that PUBLISH.
// The client's own PUBACKs of what it was sent are never held: they free
// room in its window, which two routers waiting on each other's
// back-pressure would otherwise each keep from the other.
func (r *router) hold(reply []byte) error {
	r.held = append(r.held, reply)
	if len(r.held) < holdMax {
		return nil
	}
	return r.release()
}

// release sends the acknowledgements held, in order, as one ctrl item.
func (r *router) release() error {
	if len(r.held) == 0 {
		return nil
	}
	o := own{replies: slices.Clone(r.held)}
	clear(r.held)
	r.held = r.held[:0]
	return r.put(o)
}

// put waits for room on the ctrl channel, at most replyWait.
func (r *router) put(o own) error {
	select {
	case r.c.ctrl <- o:
		return nil
	default:
	}
	select {
	case r.c.ctrl <- o:
		return nil
	case <-r.c.stop:
		return errClientGone
	case <-r.wait(replyWait):
		return fmt.Errorf("client %s: reply channel full for %v", r.c.name, replyWait)
	}
}

// Offer implements core.Outlet: a QoS 1/2 copy for a persistent session to
// its mailbox, anything else to the connection serving the session, if any
// (a QoS 0 copy for an offline session is dropped).
func (r *router) Offer(to *session, m *core.Message, qos packet.QoS) error {
	if to.forward != nil { // a bridge's
		if to != r.bridge { // never back over the bridge it came in by
			to.forward(m, qos)
		}
		return nil
	}
	it := core.Item{Kind: core.Publication, Msg: m, QoS: qos}
	if qos > 0 && to.persistent {
		r.toMailbox(to, it)
		return nil
	}
	if c := to.online.Load(); c != nil {
		r.offer(c, it)
	}
	return nil
}

// Routed implements core.Outlet: nothing to let go, payloads are shared.
func (r *router) Routed(*core.Message) {}

// toMailbox stores a QoS 1/2 copy for a persistent session, online or not.
// While a connection serves the session and its client makes progress, a
// full mailbox is back-pressure: the router waits for an entry to be
// settled, as it waits on any subscriber's full backlog (offer). An offline
// session, or one whose client has stalled, loses the copy, with a log line.
func (r *router) toMailbox(to *session, it core.Item) {
	maxMsgs, maxBytes := r.e.cfg.SessionMsgs, r.e.cfg.SessionBytes
	for {
		ok, n, size := to.mailbox.store(it, maxMsgs, r.e.cfg.MaxInflight, maxBytes)
		if ok {
			return
		}
		c := to.online.Load()
		if c == nil || c.stopped() || c.watch.Stalled() {
			r.dropMailbox(to, n, size, maxMsgs, maxBytes)
			return
		}
		select {
		case <-to.mailbox.room:
		case <-c.stop:
		case <-c.watch.Verdict():
		}
	}
}

// dropMailbox counts and logs a copy a persistent session's full mailbox
// lost.
func (r *router) dropMailbox(to *session, n int, size int64, maxMsgs int, maxBytes int64) {
	r.dropped++
	r.log.Warn().Str("to", to.name).Int("messages", n).Int64("bytes", size).Int("max_messages", maxMsgs).
		Int64("max_bytes", maxBytes).Uint64("dropped_total", r.dropped).
		Msg("persistent session mailbox full: message dropped (raise -session-max-messages / -session-max-bytes)")
}

// offer puts a copy on a connection's channel. A full backlog (the channel
// holds -max-queued-messages, the bytes are bounded by -max-queued-bytes)
// makes the router wait, however long, while the subscriber makes progress:
// back-pressure on this publisher (package stall). Once the subscriber has
// stalled, the slow-consumer policy applies to it alone: a QoS 0 copy is
// dropped and counted, a QoS 1/2 copy ends it. A client that has ended is
// skipped.
func (r *router) offer(to *client, it core.Item) {
	size := it.Msg.Weight()
	for {
		room, verdict := to.watch.Room(), to.watch.Verdict()
		if !to.overBytes(size) {
			to.backlog.Add(size)
			select {
			case to.pubs <- it:
				return
			default:
			}
			to.backlog.Add(-size)
		}
		if to.watch.Stalled() {
			if it.QoS == packet.AtMostOnce {
				to.dropped()
			} else {
				to.slowConsumer(cap(to.pubs))
			}
			return
		}
		if to.overBytes(size) {
			// Wait for the deliverer to take something, or its verdict.
			select {
			case <-room:
			case <-to.stop:
				return
			}
			continue
		}
		// Wait for a place in the channel: routers waiting on one client
		// take turns, a channel hands its free places out in order. Only
		// the stall verdict or the client's end interrupts the wait.
		to.backlog.Add(size)
		select {
		case to.pubs <- it:
			return
		case <-verdict:
			to.backlog.Add(-size)
		case <-to.stop:
			to.backlog.Add(-size)
			return
		}
	}
}

// wait arms the router's one timer.
func (r *router) wait(d time.Duration) <-chan time.Time { return r.timer.after(d) }

// reusedTimer is one timer armed again and again. Since Go 1.23 a Reset
// timer never delivers a stale value, so it is reused without draining.
type reusedTimer struct{ t *time.Timer }

// after arms the timer for d and returns its channel.
func (rt *reusedTimer) after(d time.Duration) <-chan time.Time {
	if rt.t == nil {
		rt.t = time.NewTimer(d)
	} else {
		rt.t.Reset(d)
	}
	return rt.t.C
}

// stop stops the timer, if it was ever armed.
func (rt *reusedTimer) stop() {
	if rt.t != nil {
		rt.t.Stop()
	}
}

// memIndex is the goroutine engine's core.Index: the in-memory trie.
type memIndex struct {
	x    *Index[*session]
	m    *Matcher[*session]
	subs []Sub[*session] // scratch for Match
}

// Subscribe implements core.Index.
func (i *memIndex) Subscribe(s *session, filter string, qos packet.QoS) error {
	i.x.Subscribe(filter, s, qos)
	s.addFilter(filter)
	return nil
}

// Unsubscribe implements core.Index.
func (i *memIndex) Unsubscribe(s *session, filter string) error {
	i.x.Unsubscribe(filter, s)
	s.removeFilter(filter)
	return nil
}

// Match implements core.Index.
func (i *memIndex) Match(topic string, dst []core.Target[*session]) ([]core.Target[*session], error) {
	i.subs = i.m.Match(topic, i.subs[:0])
	for _, s := range i.subs {
		dst = append(dst, core.Target[*session]{Key: s.Key, QoS: s.QoS})
	}
	clear(i.subs) // hold no session after it may have gone
	return dst, nil
}
