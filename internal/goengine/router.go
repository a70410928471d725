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

// Send implements protocol.Engine: a reply travels through the client's
// control channel to the deliverer, ahead of waiting publications.
func (r *router) Send(p packet.Packet) error {
	if r.log.Debug().Enabled() {
		r.log.Debug().Str("client_id", r.session.ClientID()).Str("packet", p.Type().String()).Msg("packet out")
	}
	select {
	case r.c.ctrl <- p:
		return nil
	default:
	}
	select {
	case r.c.ctrl <- p:
		return nil
	case <-r.c.stop:
		return errClientGone
	case <-r.wait(replyWait):
		return fmt.Errorf("client %s: reply channel full for %v", r.c.name, replyWait)
	}
}

// Subscribe implements protocol.Engine. Like the process engine at this
// stage, it grants QoS 0.
func (r *router) Subscribe(filter string, _ packet.QoS) (packet.QoS, error) {
	r.e.index.Subscribe(filter, r.c, packet.AtMostOnce)
	r.filters[filter] = struct{}{}
	return packet.AtMostOnce, nil
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
	// the QoS is min(published, granted) [MQTT-3.3.5-1]; granted is 0 here.
	m := &message{topic: p.Topic, payload: p.Payload}
	for _, s := range r.subs {
		r.deliver(s.Key, m)
	}
	clear(r.subs) // hold no client after it may have gone
	return nil
}

// deliver puts a message on a subscriber's channel. A subscriber whose
// channel stays full for publishWait loses this QoS 0 message rather than
// slowing the publisher; one that has ended is skipped.
func (r *router) deliver(to *client, m *message) {
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
