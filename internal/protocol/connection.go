package protocol

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/forkmq/forkmq/internal/packet"
)

// Engine moves a connection's messages. Every method is called from the
// connection's one goroutine.
type Engine interface {
	// Send queues a packet for this client, after every packet sent before.
	Send(p packet.Packet) error
	// Subscribe records a subscription and returns the QoS granted.
	Subscribe(filter string, qos packet.QoS) (packet.QoS, error)
	// Unsubscribe removes a subscription; removing an absent one is not an error.
	Unsubscribe(filter string) error
	// Publish routes an application message to every matching subscriber.
	Publish(p *packet.Publish) error
}

// The engine features below are optional interfaces: an engine that has the
// feature implements the interface and the Connection uses it.

// Connector takes part in accepting CONNECT: it ends an earlier connection
// with the same client identifier [MQTT-3.1.4-2], opens or discards the
// stored session [MQTT-3.1.2-4, -6], and keeps the will. It returns whether a
// stored session was resumed (CONNACK's session present [MQTT-3.2.2-2]); an
// error wrapping a *Refusal is answered with that CONNACK code.
type Connector interface {
	Connect(c *packet.Connect, clientID string) (sessionPresent bool, err error)
}

// Acknowledger receives the client's acknowledgements of server-to-client
// QoS 1 and 2 flows (PUBACK, PUBREC, PUBCOMP), for whatever sends them.
type Acknowledger interface {
	Acknowledge(p packet.Packet) error
}

// Retainer stores retained messages [MQTT-3.3.1-5] and sends the matching
// ones to a new subscription [MQTT-3.3.1-6].
type Retainer interface {
	Retain(p *packet.Publish) error
	SendRetained(filter string, granted packet.QoS) error
}

// WillKeeper forgets the will on DISCONNECT [MQTT-3.1.2-10].
type WillKeeper interface {
	DiscardWill() error
}

// InboundStore remembers, across connections of a persistent session, the
// QoS 2 packet identifiers received and not yet released [MQTT-4.3.3-2].
type InboundStore interface {
	// Received records id and reports whether it was already recorded.
	Received(id uint16) (seen bool, err error)
	Released(id uint16) error
}

// Refusal is an engine's reason to refuse a CONNECT with a CONNACK code.
type Refusal struct {
	Code   packet.ConnackCode
	Reason string
}

func (r *Refusal) Error() string { return r.Code.String() + ": " + r.Reason }

// Close reasons: why a connection ended. Every Handle error wraps one of these.
var (
	ErrDisconnect   = errors.New("client sent DISCONNECT")
	ErrRefused      = errors.New("connection refused with a CONNACK code")
	ErrProtocol     = errors.New("protocol violation")
	ErrEngine       = errors.New("engine failure")
	ErrNotConnected = errors.New("first packet was not CONNECT")
)

type state int

const (
	awaitingConnect state = iota
	connected
	closed
)

// Connection is the MQTT protocol state of one client's network
// connection: what packets it may send next, what it has been granted, its
// will. (The MQTT Session, which may outlive it, is the engine's.)
type Connection struct {
	eng   Engine
	state state

	clientID     string
	cleanSession bool
	keepAlive    time.Duration
	will         *packet.Will

	// qos2Received holds the packet identifiers of QoS 2 publications
	// received and not yet released by PUBREL [MQTT-4.3.3-2].
	qos2Received map[uint16]struct{}

	limits    Limits
	filters   map[string]struct{} // held by this connection, for MaxSubscriptions
	onRefused func(what string, err error)

	authz       func() Authorizer
	username    string
	hasUsername bool
	identity    string // SetIdentity's
}

// NewConnection returns a connection waiting for CONNECT.
func NewConnection(eng Engine) *Connection {
	return &Connection{eng: eng, qos2Received: make(map[uint16]struct{}), filters: make(map[string]struct{})}
}

// ClientID is the client's identifier, generated when the client sent none.
func (s *Connection) ClientID() string { return s.clientID }

// KeepAlive is the keep-alive the client asked for; zero means none.
func (s *Connection) KeepAlive() time.Duration { return s.keepAlive }

// Connected reports whether CONNECT was accepted.
func (s *Connection) Connected() bool { return s.state == connected }

// Will is the will message of the connection, nil if none (or after DISCONNECT).
func (s *Connection) Will() *packet.Will { return s.will }

// ReadDeadline is how long the server waits for the next packet: one and a
// half times the keep-alive [MQTT-3.1.2-24]; zero means no limit.
func (s *Connection) ReadDeadline() time.Duration { return s.keepAlive * 3 / 2 }

// DecodeError handles a packet that could not be decoded. Before CONNECT some
// errors are answered with a CONNACK code [MQTT-3.1.2-2]; every decode error
// closes the connection [MQTT-4.8.0-1].
func (s *Connection) DecodeError(err error) error {
	if s.state == awaitingConnect {
		if code, ok := packet.ConnackCodeFor(err); ok {
			if sendErr := s.eng.Send(&packet.Connack{ReturnCode: code}); sendErr != nil {
				return fmt.Errorf("%w: %w", ErrEngine, sendErr)
			}
			s.state = closed
			return fmt.Errorf("%w: %s: %w", ErrRefused, code, err)
		}
	}
	s.state = closed
	return fmt.Errorf("%w: %w", ErrProtocol, err)
}

// Handle processes one packet from the client. A nil error means the connection
// goes on; any error means the connection must close, and wraps one of the
// close reasons above.
func (s *Connection) Handle(p packet.Packet) error {
	switch s.state {
	case awaitingConnect:
		c, ok := p.(*packet.Connect)
		if !ok {
			// [MQTT-3.1.0-1] the first packet from the client must be CONNECT.
			s.state = closed
			return fmt.Errorf("%w: %s", ErrNotConnected, p.Type())
		}
		return s.connect(c)
	case closed:
		return fmt.Errorf("%w: packet after close", ErrProtocol)
	}
	switch p := p.(type) {
	case *packet.Connect:
		// [MQTT-3.1.0-2] a second CONNECT is a protocol violation.
		s.state = closed
		return fmt.Errorf("%w: second CONNECT", ErrProtocol)
	case *packet.Publish:
		return s.publish(p)
	case *packet.Pubrel:
		// [MQTT-4.3.3-2] release the identifier and answer PUBCOMP.
		delete(s.qos2Received, p.PacketID)
		if st, ok := s.eng.(InboundStore); ok {
			if err := st.Released(p.PacketID); err != nil {
				return fmt.Errorf("%w: release %d: %w", ErrEngine, p.PacketID, err)
			}
		}
		return s.send(&packet.Pubcomp{PacketID: p.PacketID})
	case *packet.Puback, *packet.Pubrec, *packet.Pubcomp:
		// Acknowledgements of server-to-client QoS 1/2 flows.
		if a, ok := s.eng.(Acknowledger); ok {
			if err := a.Acknowledge(p); err != nil {
				return fmt.Errorf("%w: acknowledge %s: %w", ErrEngine, p.Type(), err)
			}
		}
		return nil
	case *packet.Subscribe:
		return s.subscribe(p)
	case *packet.Unsubscribe:
		for _, f := range p.Filters {
			delete(s.filters, f)
			if err := s.eng.Unsubscribe(f); err != nil {
				return fmt.Errorf("%w: unsubscribe %q: %w", ErrEngine, f, err)
			}
		}
		// [MQTT-3.10.4-4] answer with UNSUBACK carrying the same identifier.
		return s.send(&packet.Unsuback{PacketID: p.PacketID})
	case *packet.Pingreq:
		// [MQTT-3.12.4-1]
		return s.send(&packet.Pingresp{})
	case *packet.Disconnect:
		// [MQTT-3.14.4-3] [MQTT-3.1.2-10] a DISCONNECT discards the will.
		s.will = nil
		s.state = closed
		if w, ok := s.eng.(WillKeeper); ok {
			if err := w.DiscardWill(); err != nil {
				return fmt.Errorf("%w: discard will: %w", ErrEngine, err)
			}
		}
		return ErrDisconnect
	default:
		// CONNACK, SUBACK, UNSUBACK, PINGRESP only flow server to client.
		s.state = closed
		return fmt.Errorf("%w: %s from a client", ErrProtocol, p.Type())
	}
}

func (s *Connection) connect(c *packet.Connect) error {
	id := c.ClientID
	if id == "" {
		if !c.CleanSession {
			// [MQTT-3.1.3-8] no identifier and no clean session: refuse.
			return s.refuse(packet.RefusedIdentifierRejected, "empty client identifier without clean session")
		}
		// [MQTT-3.1.3-6] assign a unique identifier.
		id = generateClientID()
	}
	s.clientID = id
	s.username, s.hasUsername = c.Username, c.UsernameFlag
	if s.identity != "" {
		s.username, s.hasUsername = s.identity, true
	} else if refused, err := s.checkConnect(c, id); refused {
		return err
	}
	s.cleanSession = c.CleanSession
	s.keepAlive = time.Duration(c.KeepAlive) * time.Second
	s.will = c.Will
	present := false
	if cn, ok := s.eng.(Connector); ok {
		var err error
		if present, err = cn.Connect(c, id); err != nil {
			var r *Refusal
			if errors.As(err, &r) {
				return s.refuse(r.Code, r.Reason)
			}
			s.state = closed
			return fmt.Errorf("%w: connect: %w", ErrEngine, err)
		}
	}
	// [MQTT-3.2.2-1] [MQTT-3.2.2-2] [MQTT-3.2.2-3] session present.
	if err := s.send(&packet.Connack{SessionPresent: present && !c.CleanSession, ReturnCode: packet.Accepted}); err != nil {
		return err
	}
	s.state = connected
	return nil
}

func (s *Connection) refuse(code packet.ConnackCode, why string) error {
	if err := s.send(&packet.Connack{ReturnCode: code}); err != nil {
		return err
	}
	s.state = closed
	// [MQTT-3.2.2-5] a refusing CONNACK is followed by closing the connection.
	return fmt.Errorf("%w: %s: %s", ErrRefused, code, why)
}

func (s *Connection) publish(p *packet.Publish) error {
	if err := s.checkTopic("topic name", p.Topic); err != nil {
		s.refused("PUBLISH", err)
		s.state = closed
		return fmt.Errorf("%w: %w", ErrProtocol, err)
	}
	switch p.QoS {
	case packet.AtMostOnce:
		return s.route(p)
	case packet.AtLeastOnce:
		if err := s.route(p); err != nil {
			return err
		}
		// [MQTT-4.3.2-2] acknowledge with PUBACK after taking ownership.
		return s.send(&packet.Puback{PacketID: p.PacketID})
	default:
		// [MQTT-4.3.3-2] route once per packet identifier until PUBREL.
		seen, err := s.receivedQoS2(p.PacketID)
		if err != nil {
			return err
		}
		if !seen {
			if err := s.route(p); err != nil {
				return err
			}
		}
		return s.send(&packet.Pubrec{PacketID: p.PacketID})
	}
}

// receivedQoS2 records a QoS 2 packet identifier and reports whether it was
// already held: by this connection (its own set), or, through the
// engine's InboundStore, by an earlier connection of a persistent session.
func (s *Connection) receivedQoS2(id uint16) (bool, error) {
	if _, seen := s.qos2Received[id]; seen {
		return true, nil
	}
	if st, ok := s.eng.(InboundStore); ok {
		seen, err := st.Received(id)
		if err != nil {
			return false, fmt.Errorf("%w: record QoS 2 id %d: %w", ErrEngine, id, err)
		}
		if seen {
			return true, nil
		}
	}
	s.qos2Received[id] = struct{}{}
	return false, nil
}

func (s *Connection) route(p *packet.Publish) error {
	if !s.mayPublish(p.Topic) {
		s.refused("PUBLISH "+p.Topic, ErrNotAuthorized)
		return nil
	}
	if p.Retain {
		if r, ok := s.eng.(Retainer); ok {
			if err := r.Retain(p); err != nil {
				return fmt.Errorf("%w: retain %q: %w", ErrEngine, p.Topic, err)
			}
		}
	}
	if err := s.eng.Publish(p); err != nil {
		return fmt.Errorf("%w: publish to %q: %w", ErrEngine, p.Topic, err)
	}
	return nil
}

func (s *Connection) subscribe(p *packet.Subscribe) error {
	codes := make([]byte, len(p.Subscriptions))
	for i, sub := range p.Subscriptions {
		if err := s.checkSubscription(sub.Filter); err != nil {
			s.refused("SUBSCRIBE "+sub.Filter, err)
			codes[i] = packet.SubackFailure
			continue
		}
		if !s.maySubscribe(sub.Filter) {
			s.refused("SUBSCRIBE "+sub.Filter, ErrNotAuthorized)
			codes[i] = packet.SubackFailure
			continue
		}
		granted, err := s.eng.Subscribe(sub.Filter, sub.QoS)
		if err != nil {
			// [MQTT-3.9.3-2] 0x80 marks a refused filter.
			codes[i] = packet.SubackFailure
			continue
		}
		s.filters[sub.Filter] = struct{}{}
		codes[i] = byte(granted)
	}
	// [MQTT-3.8.4-1] answer with SUBACK, same identifier [MQTT-3.8.4-2],
	// one return code per filter in order [MQTT-3.8.4-5].
	if err := s.send(&packet.Suback{PacketID: p.PacketID, ReturnCodes: codes}); err != nil {
		return err
	}
	// [MQTT-3.3.1-6] [MQTT-3.8.4-3] retained messages follow, for a new
	// subscription and for a replaced one alike.
	if r, ok := s.eng.(Retainer); ok {
		for i, sub := range p.Subscriptions {
			if codes[i] == packet.SubackFailure {
				continue
			}
			if err := r.SendRetained(sub.Filter, packet.QoS(codes[i])); err != nil {
				return fmt.Errorf("%w: retained for %q: %w", ErrEngine, sub.Filter, err)
			}
		}
	}
	return nil
}

func (s *Connection) send(p packet.Packet) error {
	if err := s.eng.Send(p); err != nil {
		return fmt.Errorf("%w: send %s: %w", ErrEngine, p.Type(), err)
	}
	return nil
}

func generateClientID() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on Linux
	return "forkmq-" + hex.EncodeToString(b[:])
}
