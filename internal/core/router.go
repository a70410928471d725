package core

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/rs/zerolog"

	"github.com/forkmq/forkmq/internal/packet"
	"github.com/forkmq/forkmq/internal/protocol"
	"github.com/forkmq/forkmq/internal/retain"
	"github.com/forkmq/forkmq/internal/scoreboard"
)

// Target is a subscriber a topic matched, with the highest QoS granted to
// it over its matching filters [MQTT-3.3.5-1]. K is how the engine names
// a subscriber: a queue name (process engine), a session (goroutine engine).
type Target[K comparable] struct {
	Key K
	QoS packet.QoS
}

// Index is the subscriptions, as one client's router edits and reads them.
type Index[K comparable] interface {
	// Subscribe records (or replaces [MQTT-3.8.4-3]) the subscription of
	// key to filter at qos.
	Subscribe(key K, filter string, qos packet.QoS) error
	// Unsubscribe removes key's subscription to filter, if any.
	Unsubscribe(key K, filter string) error
	// Match appends to dst each subscriber whose filters match topic, once,
	// and returns it. A non-nil error reports what could not be read; the
	// result holds every other match.
	Match(topic string, dst []Target[K]) ([]Target[K], error)
}

// Outlet hands copies of a publication to other clients.
type Outlet[K comparable] interface {
	// Offer gives the subscriber to a copy of m at qos. It waits while the
	// subscriber's backlog is full and it makes progress (back-pressure);
	// a stalled subscriber meets the slow-consumer policy instead.
	Offer(to K, m *Message, qos packet.QoS) error
	// Routed says every copy of m has been offered.
	Routed(m *Message)
}

// Own is the channel from a client's router to its own deliverer.
type Own interface {
	// Send puts an Item on the channel: Reply, Ack, Hold, Release, Start,
	// Close.
	Send(it Item) error
	// Publish gives the client itself a copy of a message (one it
	// published, or a will): through its mailbox when persistent and qos >
	// 0, like any subscriber's.
	Publish(m *Message, qos packet.QoS) error
	// Retained gives the client a retained message after SUBACK, its
	// payload read from body (size bytes): RETAIN 1 [MQTT-3.3.1-8].
	Retained(topic string, qos packet.QoS, body io.Reader, size int64) error
}

// Sessions is the engine's store of client identifiers, sessions and wills.
type Sessions[K comparable] interface {
	// Claim takes the client identifier for this connection. If another
	// connection holds it, that one is ended first, and Claim returns once
	// it is cleaned up and its will published [MQTT-3.1.4-2]; a
	// *protocol.Refusal if it does not end in time.
	Claim(clientID string) error
	// Open starts the connection's session: a clean one discards any
	// stored session of the identifier [MQTT-3.1.2-6]; otherwise the
	// stored one is resumed or a new one made [MQTT-3.1.2-4]. It returns
	// the key the client is subscribed under, and whether a stored session
	// was resumed [MQTT-3.2.2-2].
	Open(clientID string, clean bool) (key K, present bool, err error)
	// KeepWill keeps the will until the connection ends [MQTT-3.1.2-8];
	// DropWill discards it (DISCONNECT) [MQTT-3.1.2-10].
	KeepWill(w *packet.Will) error
	DropWill() error
	// Received records a QoS 2 identifier received from the client, and
	// reports whether it was already (a resend before PUBREL); Released
	// forgets it. A persistent session keeps them across connections
	// [MQTT-4.3.3-2].
	Received(id uint16) (seen bool, err error)
	Released(id uint16) error
}

// Router is a client's router: the engine of its protocol.Connection. It
// routes what the client publishes and sends the client's replies, through
// the engine's Index, Outlet, Own and Sessions.
type Router[K comparable] struct {
	log      zerolog.Logger
	index    Index[K]
	outlet   Outlet[K]
	own      Own
	sessions Sessions[K]
	retained *retain.Store
	Counts   *scoreboard.Writer // the publications it receives are counted here (nil: not counted)

	self       K    // the key the client is subscribed under, once connected
	connected  bool // self is set
	persistent bool
	holding    bool // the deliverer holds publications until SUBACK
	targets    []Target[K]
	// pendingOwn is the client's own copy of what it publishes at QoS 1/2,
	// kept until its PUBACK or PUBREC is sent: the acknowledgement comes first.
	pendingOwn *ownCopy
}

// ownCopy is a copy of a publication for the client that published it.
type ownCopy struct {
	m   *Message
	qos packet.QoS
}

// NewRouter returns a router on the engine's parts. own and sessions may be
// nil for a router that only publishes (a will publisher).
func NewRouter[K comparable](log zerolog.Logger, index Index[K], outlet Outlet[K], own Own, sessions Sessions[K], retained *retain.Store) *Router[K] {
	return &Router[K]{log: log, index: index, outlet: outlet, own: own, sessions: sessions, retained: retained}
}

// Self is the key the client is subscribed under, and whether it is
// connected.
func (r *Router[K]) Self() (K, bool) { return r.self, r.connected }

// Persistent reports whether the client's session is persistent.
func (r *Router[K]) Persistent() bool { return r.persistent }

// Send implements protocol.Engine: a reply goes to the deliverer through
// the Own channel, ahead of publications. Right after CONNACK accepting the
// connection the deliverer is told to start: no publication reaches the
// client before CONNACK [MQTT-3.2.0-1]. After SUBACK, what the new
// subscriptions brought meanwhile is released.
func (r *Router[K]) Send(p packet.Packet) error {
	b, err := packet.Append(nil, p)
	if err != nil {
		return fmt.Errorf("encode %s: %w", p.Type(), err)
	}
	if r.log.Debug().Enabled() {
		r.log.Debug().Str("packet", p.Type().String()).Msg("packet out")
	}
	if err := r.own.Send(Item{Kind: Reply, Packet: b}); err != nil {
		return err
	}
	switch p := p.(type) {
	case *packet.Puback, *packet.Pubrec:
		return r.sendOwnCopy()
	case *packet.Connack:
		if p.ReturnCode == packet.Accepted {
			return r.own.Send(Item{Kind: Start})
		}
	case *packet.Suback:
		if r.holding {
			r.holding = false
			return r.own.Send(Item{Kind: Release})
		}
	}
	return nil
}

// Connect implements protocol.Connector: it claims the client identifier,
// opens the session and keeps the will.
func (r *Router[K]) Connect(c *packet.Connect, clientID string) (bool, error) {
	if err := r.sessions.Claim(clientID); err != nil {
		return false, err
	}
	self, present, err := r.sessions.Open(clientID, c.CleanSession)
	if err != nil {
		return false, err
	}
	r.self, r.connected, r.persistent = self, true, !c.CleanSession
	if c.Will != nil {
		if err := r.sessions.KeepWill(c.Will); err != nil {
			return false, fmt.Errorf("keep will: %w", err)
		}
	}
	return present, nil
}

// Subscribe implements protocol.Engine: the subscription is recorded under
// the client's key with the QoS asked for [MQTT-3.8.4-6]. The deliverer
// holds what the subscription brings until SUBACK is out.
func (r *Router[K]) Subscribe(filter string, qos packet.QoS) (packet.QoS, error) {
	if !r.holding {
		if err := r.own.Send(Item{Kind: Hold}); err != nil {
			return 0, err
		}
		r.holding = true
	}
	if err := r.index.Subscribe(r.self, filter, qos); err != nil {
		r.log.Warn().Err(err).Str("filter", filter).Msg("subscribe failed")
		return 0, err
	}
	r.Counts.Inc(scoreboard.Subscribes)
	return qos, nil
}

// Unsubscribe implements protocol.Engine.
func (r *Router[K]) Unsubscribe(filter string) error {
	r.Counts.Inc(scoreboard.Unsubscribes)
	return r.index.Unsubscribe(r.self, filter)
}

// Publish implements protocol.Engine: one copy of the message for each
// matching subscriber, once however many of its filters match, at the
// lower of the published QoS and the highest granted [MQTT-3.3.5-1]. The
// copies carry RETAIN 0 [MQTT-3.3.1-9] and DUP 0 [MQTT-3.3.1-3]. A client
// subscribed to what it publishes at QoS 1/2 gets its PUBACK or PUBREC
// before its own copy.
func (r *Router[K]) Publish(p *packet.Publish) error {
	r.Counts.Inc(scoreboard.MessagesReceived)
	return r.route(p, p.QoS > 0)
}

// route routes a publication; ackFollows says an acknowledgement to the
// client follows, which its own copy waits for.
func (r *Router[K]) route(p *packet.Publish, ackFollows bool) error {
	targets, err := r.index.Match(p.Topic, r.targets[:0])
	if err != nil {
		r.log.Warn().Err(err).Str("topic", p.Topic).Msg("some subscriptions could not be read")
	}
	if len(targets) == 0 {
		return nil
	}
	m := &Message{Topic: p.Topic, Payload: p.Payload, Routed: time.Now()}
	for _, t := range targets {
		qos := min(p.QoS, t.QoS)
		var err error
		if r.own != nil && r.connected && t.Key == r.self {
			if ackFollows {
				r.pendingOwn = &ownCopy{m: m, qos: qos}
				continue
			}
			err = r.own.Publish(m, qos)
		} else {
			err = r.outlet.Offer(t.Key, m, qos)
		}
		if err != nil {
			r.log.Warn().Err(err).Any("to", t.Key).Msg("message not delivered to a subscriber")
		}
	}
	r.outlet.Routed(m)
	clear(targets) // hold no subscriber after it may have gone
	r.targets = targets
	return nil
}

// sendOwnCopy sends the client its own copy of what it just published, now
// that the acknowledgement is out.
func (r *Router[K]) sendOwnCopy() error {
	c := r.pendingOwn
	if c == nil {
		return nil
	}
	r.pendingOwn = nil
	return r.own.Publish(c.m, c.qos)
}

// Acknowledge implements protocol.Acknowledger: the deliverer owns the
// flows of what the client was sent, so its PUBACK, PUBREC and PUBCOMP go
// there.
func (r *Router[K]) Acknowledge(p packet.Packet) error {
	it := Item{Kind: Ack, AckType: p.Type()}
	switch p := p.(type) {
	case *packet.Puback:
		it.AckID = p.PacketID
	case *packet.Pubrec:
		it.AckID = p.PacketID
	case *packet.Pubcomp:
		it.AckID = p.PacketID
	default:
		return fmt.Errorf("not an acknowledgement: %s", p.Type())
	}
	return r.own.Send(it)
}

// Retain implements protocol.Retainer: the message replaces the topic's
// retained one [MQTT-3.3.1-5]; an empty payload removes it [MQTT-3.3.1-10,
// -11].
func (r *Router[K]) Retain(p *packet.Publish) error {
	return r.retained.Set(retain.Message{Topic: p.Topic, QoS: byte(p.QoS), Payload: p.Payload})
}

// SendRetained implements protocol.Retainer: every retained message
// matching a new subscription goes to the client with RETAIN 1
// [MQTT-3.3.1-8], at the lower of its stored and the granted QoS.
func (r *Router[K]) SendRetained(filter string, granted packet.QoS) error {
	return r.retained.Match(filter, func(m retain.Message) error {
		body, size := m.Open()
		defer body.Close()
		return r.own.Retained(m.Topic, min(packet.QoS(m.QoS), granted), body, size)
	})
}

// DiscardWill implements protocol.WillKeeper.
func (r *Router[K]) DiscardWill() error { return r.sessions.DropWill() }

// Received implements protocol.InboundStore.
func (r *Router[K]) Received(id uint16) (bool, error) { return r.sessions.Received(id) }

// Released implements protocol.InboundStore.
func (r *Router[K]) Released(id uint16) error { return r.sessions.Released(id) }

// PublishWill publishes a will like a PUBLISH of its client, retained if it
// says so [MQTT-3.1.2-8, -17]: for a connection that ended without
// DISCONNECT.
func (r *Router[K]) PublishWill(w *packet.Will) error {
	p := &packet.Publish{Topic: w.Topic, QoS: w.QoS, Retain: w.Retain, Payload: w.Payload}
	var errs []error
	if p.Retain {
		if err := r.Retain(p); err != nil {
			errs = append(errs, fmt.Errorf("retain will: %w", err))
		}
	}
	if err := r.route(p, false); err != nil {
		errs = append(errs, fmt.Errorf("publish will: %w", err))
	}
	return errors.Join(errs...)
}

// Every optional interface of protocol's engine is implemented.
var (
	_ protocol.Engine       = (*Router[string])(nil)
	_ protocol.Connector    = (*Router[string])(nil)
	_ protocol.Acknowledger = (*Router[string])(nil)
	_ protocol.Retainer     = (*Router[string])(nil)
	_ protocol.WillKeeper   = (*Router[string])(nil)
	_ protocol.InboundStore = (*Router[string])(nil)
)

// Close asks the deliverer to write what is left and close the connection:
// the end of a connection in order (after DISCONNECT, or a refusing
// CONNACK [MQTT-3.2.2-5]).
func (r *Router[K]) Close() error { return r.own.Send(Item{Kind: Close}) }

// LogEnd logs why a client's connection ended, once, as both engines do:
// a close by the client or a DISCONNECT at debug level, an engine failure
// as an error, the rest (protocol errors, timeouts, refusals) as info.
func LogEnd(log zerolog.Logger, end protocol.End, err error, clientID, remote string) {
	ev := log.Info()
	switch end {
	case protocol.EndClosed, protocol.EndDisconnect:
		ev = log.Debug()
	case protocol.EndEngine:
		ev = log.Error()
	}
	ev.Err(err).Str("client_id", clientID).Str("remote", remote).Str("end", end.String()).Msg("session ended")
}
