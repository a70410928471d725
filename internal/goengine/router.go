package goengine

import (
	"bufio"
	"errors"
	"fmt"
	"maps"
	"slices"
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
	// publishWait bounds how long a publisher waits on one subscriber's
	// full channel before the QoS 0 message is dropped for that subscriber.
	publishWait = 200 * time.Millisecond
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
	matcher *Matcher[*client]

	filters map[string]struct{} // this client's subscriptions, removed at the end
	id      string              // the client identifier claimed, "" before CONNECT
	will    *packet.Will        // published after an abnormal end [MQTT-3.1.2-8]
	subs    []Sub[*client]      // scratch of Publish
	timer   *time.Timer         // reused by every wait on a channel
	dropped uint64
}

func newRouter(e *Engine, c *client) *router {
	r := &router{
		e:       e,
		c:       c,
		log:     e.log.With().Str("role", "router").Int("pid", e.pid).Str("queue", c.name).Logger(),
		matcher: e.index.NewMatcher(),
		filters: make(map[string]struct{}),
	}
	r.session = protocol.NewSession(r)
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
	if r.timer != nil {
		r.timer.Stop()
	}
	r.close(end, err)
}

func (r *router) connected() {
	r.log.Info().
		Str("client_id", r.session.ClientID()).
		Str("remote", r.c.remote).
		Int("router_pid", r.e.pid).
		Int("deliverer_pid", r.e.pid).
		Dur("keep_alive", r.session.KeepAlive()).
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
		r.c.conn.SetWriteDeadline(time.Now().Add(r.e.cfg.StopGrace))
		close(r.c.ctrl)
		return
	}
	// [MQTT-4.8.0-1] anything else closes the connection at once.
	r.c.end(reason)
}

// filterList is the client's subscriptions, for the cleanup.
func (r *router) filterList() []string { return slices.Collect(maps.Keys(r.filters)) }

// Connect implements protocol.Connector: it claims the client identifier,
// ending an earlier connection that holds it [MQTT-3.1.4-2] and waiting
// until that one is cleaned up and its will published, and keeps the will.
// Sessions are not stored across connections (see the package doc), so no
// session is ever present.
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
	return false, nil
}

// DiscardWill implements protocol.WillKeeper [MQTT-3.1.2-10].
func (r *router) DiscardWill() error {
	r.will = nil
	return nil
}

// publishWill routes the will of a connection that ended without
// DISCONNECT [MQTT-3.1.2-8], like a PUBLISH of this client.
func (r *router) publishWill() {
	if r.will == nil {
		return
	}
	w := r.will
	r.will = nil
	if err := r.Publish(&packet.Publish{Topic: w.Topic, QoS: w.QoS, Payload: w.Payload}); err != nil {
		r.log.Warn().Err(err).Msg("will not published")
	}
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
	r.e.index.Subscribe(filter, r.c, qos)
	r.filters[filter] = struct{}{}
	return qos, nil
}

// Unsubscribe implements protocol.Engine.
func (r *router) Unsubscribe(filter string) error {
	r.e.index.Unsubscribe(filter, r.c)
	delete(r.filters, filter)
	return nil
}

// Publish implements protocol.Engine: find the matching subscribers in the
// index and put one shared message on each one's channel, once per client.
func (r *router) Publish(p *packet.Publish) error {
	r.subs = r.matcher.Match(p.Topic, r.subs[:0])
	if len(r.subs) == 0 {
		return nil
	}
	// Forwarded copies carry RETAIN 0 [MQTT-3.3.1-9] and DUP 0 [MQTT-3.3.1-3];
	// each at min(published, granted) QoS [MQTT-3.3.5-1].
	m := &message{topic: p.Topic, payload: p.Payload}
	for _, s := range r.subs {
		r.deliver(s.Key, delivery{m: m, qos: min(p.QoS, s.QoS)})
	}
	clear(r.subs) // hold no client after it may have gone
	return nil
}

// deliver puts a message on a subscriber's channel. A subscriber whose
// channel stays full for publishWait loses this message rather than slowing
// the publisher (as in the process engine, whatever its QoS: only stored
// sessions keep QoS 1/2 messages there); one that has ended is skipped.
func (r *router) deliver(to *client, m delivery) {
	select {
	case to.pubs <- m:
		return
	default:
	}
	select {
	case to.pubs <- m:
	case <-to.stop:
	case <-r.wait(publishWait):
		r.dropped++
		r.log.Warn().Str("to", to.name).Uint64("dropped_total", r.dropped).Msg("QoS 0 message dropped for a subscriber")
	}
}

// wait arms the router's one timer. Since Go 1.23 a Reset timer never
// delivers a stale value, so the timer is reused without draining.
func (r *router) wait(d time.Duration) <-chan time.Time {
	if r.timer == nil {
		r.timer = time.NewTimer(d)
	} else {
		r.timer.Reset(d)
	}
	return r.timer.C
}
