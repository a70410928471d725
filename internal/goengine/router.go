package goengine

import (
	"bufio"
	"errors"
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"github.com/forkmq/forkmq/internal/packet"
	"github.com/forkmq/forkmq/internal/protocol"
)

const (
	// replyWait bounds how long the router waits to put a reply on its own
	// client's channel; the deliverer drains it continuously, so waiting
	// this long means the client stopped reading.
	replyWait = 10 * time.Second
	// takeoverWait bounds how long a new connection waits for an earlier
	// one with the same client identifier to end and publish its will.
	takeoverWait = 5 * time.Second
)

// errClientGone is returned by Send when the client was ended meanwhile.
var errClientGone = errors.New("client ended")

// router reads one client's packets and acts on them; it implements
// protocol.Engine with the index and the subscribers' channels. It runs on
// the goroutine the engine started for the client.
type router struct {
	e       *Engine
	c       *client
	log     zerolog.Logger
	session *protocol.Session
	matcher *Matcher[*session]

	sess    *session        // the subscriber this connection serves, from CONNECT on
	id      string          // the client identifier claimed, "" before CONNECT
	will    *packet.Will    // published after an abnormal end [MQTT-3.1.2-8]
	subs    []Sub[*session] // scratch of Publish
	timer   reusedTimer     // reused by every wait on a channel
	dropped uint64
}

func newRouter(e *Engine, c *client) *router {
	r := &router{
		e:       e,
		c:       c,
		log:     e.log.With().Str("role", "router").Int("pid", e.pid).Str("queue", c.name).Logger(),
		matcher: e.index.NewMatcher(),
	}
	r.session = protocol.NewSession(r)
	r.session.SetLimits(protocol.Limits{MaxSubscriptions: e.cfg.MaxSubs, MaxTopicLength: e.cfg.MaxTopicLen, MaxTopicLevels: e.cfg.MaxTopicLevel})
	r.session.SetAuthorizer(e.authorizer)
	r.session.OnRefused(func(what string, err error) {
		r.log.Warn().Err(err).Str("client_id", r.session.ClientID()).Str("request", what).Msg("request refused")
	})
	return r
}

// run is the router's loop: one packet at a time, in the order received,
// until the session ends; then it closes the way the end calls for.
func (r *router) run() {
	end, err := r.session.Serve(r.c.conn, bufio.NewReaderSize(r.c.conn, 64<<10), protocol.ServeConfig{
		MaxPacketSize: r.e.cfg.MaxPacketSize,
		ConnectWait:   r.e.cfg.ConnectWait,
		OnConnect:     r.connected,
		OnPacket: func(p packet.Packet) {
			if r.log.Debug().Enabled() {
				r.log.Debug().Str("client_id", r.session.ClientID()).Str("packet", p.Type().String()).Msg("packet in")
			}
		},
	})
	r.timer.stop()
	r.close(end, err)
}

// connected runs once CONNACK is on its way: a persistent session now
// takes this connection's publications, and its deliverer resends what is
// unsettled and sends what was stored (after CONNACK: ctrl is in order).
func (r *router) connected() {
	if r.sess.persistent {
		r.sess.online.Store(r.c)
		if err := r.control(control{resume: r.sess}); err != nil {
			r.log.Error().Err(err).Msg("resume session")
		}
	}
	r.log.Info().
		Str("client_id", r.session.ClientID()).
		Str("remote", r.c.remote).
		Int("router_pid", r.e.pid).
		Int("deliverer_pid", r.e.pid).
		Dur("keep_alive", r.session.KeepAlive()).
		Bool("persistent", r.sess.persistent).
		Str("session_queue", r.sess.name).
		Msg("client connected")
}

// close ends the connection the way the session's end calls for and logs why.
func (r *router) close(end protocol.End, err error) {
	if r.c.stopped() && (end == protocol.EndClosed || end == protocol.EndEngine) {
		// The deliverer or the shutdown ended the client first; this end
		// is only its echo, and the reason is theirs.
		end = protocol.EndClosed
	}
	ev := r.log.Info()
	switch end {
	case protocol.EndClosed, protocol.EndDisconnect:
		ev = r.log.Debug()
	case protocol.EndEngine:
		ev = r.log.Error()
	}
	ev.Err(err).Str("client_id", r.session.ClientID()).Str("remote", r.c.remote).Str("end", end.String()).Msg("session ended")
	reason := "router: " + endReasons[end]
	if end.Orderly() {
		// The deliverer writes the replies still waiting (a refusing CONNACK
		// [MQTT-3.2.2-5]), then closes the connection; a client that does
		// not read gets the process engine's grace period to take them.
		r.c.setReason(reason)
		r.c.sock.Finish(time.Now().Add(r.e.cfg.StopGrace))
		close(r.c.ctrl)
		return
	}
	// [MQTT-4.8.0-1] anything else closes the connection at once.
	r.c.end(reason)
}

// Connect implements protocol.Connector: it claims the client identifier,
// ending an earlier connection that holds it [MQTT-3.1.4-2] and waiting
// until that one is cleaned up and its will published; then it discards
// (clean session 1 [MQTT-3.1.2-6]) or opens (clean session 0
// [MQTT-3.1.2-4]) the stored session and keeps the will. It reports whether
// a stored session was resumed [MQTT-3.2.2-2].
func (r *router) Connect(c *packet.Connect, clientID string) (bool, error) {
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
			return false, &protocol.Refusal{Code: packet.RefusedServerUnavailable, Reason: "an earlier connection with this client id did not end"}
		}
	}
	r.id = clientID
	r.will = c.Will
	if !c.CleanSession {
		var present bool
		r.sess, present = r.e.openSession(clientID)
		r.sess.attach(true)
		return present, nil
	}
	r.e.discardSession(clientID)
	r.sess = newSession(r.c.name, false)
	r.sess.online.Store(r.c)
	return false, nil
}

// Received implements protocol.InboundStore: the session keeps the QoS 2
// identifiers not yet released, so that a persistent one still routes a
// message resent after a reconnect once [MQTT-4.3.3-2].
func (r *router) Received(id uint16) (bool, error) {
	if _, seen := r.sess.inbound[id]; seen {
		return true, nil
	}
	r.sess.inbound[id] = struct{}{}
	return false, nil
}

// Released implements protocol.InboundStore.
func (r *router) Released(id uint16) error {
	delete(r.sess.inbound, id)
	return nil
}

// DiscardWill implements protocol.WillKeeper [MQTT-3.1.2-10].
func (r *router) DiscardWill() error {
	r.will = nil
	return nil
}

// publishWill routes the will of a connection that ended without
// DISCONNECT [MQTT-3.1.2-8], like a PUBLISH of this client (retained if
// the will says so), and reports whether there was one.
func (r *router) publishWill() bool {
	if r.will == nil {
		return false
	}
	w := r.will
	r.will = nil
	p := &packet.Publish{Topic: w.Topic, QoS: w.QoS, Retain: w.Retain, Payload: w.Payload}
	if p.Retain {
		if err := r.Retain(p); err != nil {
			r.log.Warn().Err(err).Msg("will not retained")
		}
	}
	if err := r.Publish(p); err != nil {
		r.log.Warn().Err(err).Msg("will not published")
	}
	return true
}

// Acknowledge implements protocol.Acknowledger: the client's PUBACK, PUBREC
// and PUBCOMP go to the deliverer, which owns the outbound flows.
func (r *router) Acknowledge(p packet.Packet) error {
	return r.control(control{p: p, ack: true})
}

// Send implements protocol.Engine: a reply travels through the client's
// control channel to the deliverer, ahead of waiting publications.
func (r *router) Send(p packet.Packet) error {
	if r.log.Debug().Enabled() {
		r.log.Debug().Str("client_id", r.session.ClientID()).Str("packet", p.Type().String()).Msg("packet out")
	}
	return r.control(control{p: p})
}

func (r *router) control(ctl control) error {
	select {
	case r.c.ctrl <- ctl:
		return nil
	default:
	}
	select {
	case r.c.ctrl <- ctl:
		return nil
	case <-r.c.stop:
		return errClientGone
	case <-r.wait(replyWait):
		return fmt.Errorf("client %s: reply channel full for %v", r.c.name, replyWait)
	}
}

// Subscribe implements protocol.Engine: it grants the QoS asked for
// [MQTT-3.8.4-6].
func (r *router) Subscribe(filter string, qos packet.QoS) (packet.QoS, error) {
	r.e.index.Subscribe(filter, r.sess, qos)
	r.sess.addFilter(filter)
	return qos, nil
}

// Unsubscribe implements protocol.Engine.
func (r *router) Unsubscribe(filter string) error {
	r.e.index.Unsubscribe(filter, r.sess)
	r.sess.removeFilter(filter)
	return nil
}

// Publish implements protocol.Engine: find the matching subscribers in the
// index and route one shared message to each, once per subscriber.
func (r *router) Publish(p *packet.Publish) error {
	r.subs = r.matcher.Match(p.Topic, r.subs[:0])
	if len(r.subs) == 0 {
		return nil
	}
	// Forwarded copies carry RETAIN 0 [MQTT-3.3.1-9] and DUP 0 [MQTT-3.3.1-3];
	// each at min(published, granted) QoS [MQTT-3.3.5-1].
	m := &message{topic: p.Topic, payload: p.Payload}
	for _, s := range r.subs {
		r.route(s.Key, delivery{m: m, qos: min(p.QoS, s.QoS)})
	}
	clear(r.subs) // hold no session after it may have gone
	return nil
}

// route gives one copy to a subscriber: a QoS 1/2 copy for a persistent
// session to its mailbox, anything else to the connection serving the
// session, if any (a QoS 0 copy for an offline session is dropped).
func (r *router) route(to *session, dv delivery) {
	if dv.qos > 0 && to.persistent {
		r.toMailbox(to, dv)
		return
	}
	if c := to.online.Load(); c != nil {
		r.offer(c, dv)
	}
}

// toMailbox stores a QoS 1/2 copy for a persistent session, online or not.
// A session whose mailbox is full loses the copy, with a log line.
func (r *router) toMailbox(to *session, dv delivery) {
	maxMsgs, maxBytes := r.e.cfg.SessionMsgs, r.e.cfg.SessionBytes
	if ok, n, size := to.store(dv, maxMsgs, r.e.cfg.MaxInflight, maxBytes); !ok {
		r.dropped++
		r.log.Warn().Str("to", to.name).Int("messages", n).Int64("bytes", size).Int("max_messages", maxMsgs).
			Int64("max_bytes", maxBytes).Uint64("dropped_total", r.dropped).
			Msg("persistent session mailbox full: message dropped (raise -session-max-messages / -session-max-bytes)")
	}
}

// offer puts a copy on a connection's channel. A full backlog (the channel
// holds -max-queued-messages, the bytes are bounded by -max-queued-bytes)
// makes the router wait, however long, while the subscriber makes progress:
// back-pressure on this publisher (package stall). Once the subscriber has
// stalled, the slow-consumer policy applies to it alone: a QoS 0 copy is
// dropped and counted, a QoS 1/2 copy ends it. A client that has ended is
// skipped.
func (r *router) offer(to *client, dv delivery) {
	size := dv.m.size()
	for {
		room, verdict := to.watch.Room(), to.watch.Verdict()
		if !to.overBytes(size) {
			to.backlog.Add(size)
			select {
			case to.pubs <- dv:
				return
			default:
			}
			to.backlog.Add(-size)
		}
		if to.watch.Stalled() {
			if dv.qos == packet.AtMostOnce {
				to.countDrop()
			} else {
				to.slowConsumer()
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
		case to.pubs <- dv:
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
