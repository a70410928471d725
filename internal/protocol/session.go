// Package protocol is the MQTT 3.1.1 session state machine of one client, as
// seen by the process that reads the client's packets (the router).
//
// It knows the rules of the conversation — CONNECT first, no second CONNECT,
// which client identifiers are acceptable, which acknowledgement answers
// which packet — and nothing of how messages move between clients. That is
// the Engine's job: the process engine implements it with POSIX queues and
// topic files, the goroutine engine with channels and an in-memory index. So
// both engines share every protocol rule and differ only in architecture.
package protocol

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/forkmq/forkmq/internal/packet"
)

// Engine moves a session's messages. Every method is called from the
// session's one goroutine.
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

// Close reasons: why a session ended. Every Handle error wraps one of these.
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

// Session is one client's protocol state.
type Session struct {
	eng   Engine
	state state

	clientID     string
	cleanSession bool
	keepAlive    time.Duration
	will         *packet.Will

	// qos2Received holds the packet identifiers of QoS 2 publications
	// received and not yet released by PUBREL [MQTT-4.3.3-2].
	qos2Received map[uint16]struct{}
}

// NewSession returns a session waiting for CONNECT.
func NewSession(eng Engine) *Session {
	return &Session{eng: eng, qos2Received: make(map[uint16]struct{})}
}

// ClientID is the client's identifier, generated when the client sent none.
func (s *Session) ClientID() string { return s.clientID }

// KeepAlive is the keep-alive the client asked for; zero means none.
func (s *Session) KeepAlive() time.Duration { return s.keepAlive }

// Connected reports whether CONNECT was accepted.
func (s *Session) Connected() bool { return s.state == connected }

// Will is the will message of the session, nil if none (or after DISCONNECT).
func (s *Session) Will() *packet.Will { return s.will }

// ReadDeadline is how long the server waits for the next packet: one and a
// half times the keep-alive [MQTT-3.1.2-24]; zero means no limit.
func (s *Session) ReadDeadline() time.Duration { return s.keepAlive * 3 / 2 }

// DecodeError handles a packet that could not be decoded. Before CONNECT some
// errors are answered with a CONNACK code [MQTT-3.1.2-2]; every decode error
// closes the connection [MQTT-4.8.0-1].
func (s *Session) DecodeError(err error) error {
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

// Handle processes one packet from the client. A nil error means the session
// goes on; any error means the connection must close, and wraps one of the
// close reasons above.
func (s *Session) Handle(p packet.Packet) error {
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
		return s.send(&packet.Pubcomp{PacketID: p.PacketID})
	case *packet.Puback, *packet.Pubrec, *packet.Pubcomp:
		// Acknowledgements of server-to-client QoS 1/2 flows; this engine
		// grants QoS 0 only, so there is nothing outstanding to settle.
		return nil
	case *packet.Subscribe:
		return s.subscribe(p)
	case *packet.Unsubscribe:
		for _, f := range p.Filters {
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
		// [MQTT-3.14.4-3] a DISCONNECT discards the will.
		s.will = nil
		s.state = closed
		return ErrDisconnect
	default:
		// CONNACK, SUBACK, UNSUBACK, PINGRESP only flow server to client.
		s.state = closed
		return fmt.Errorf("%w: %s from a client", ErrProtocol, p.Type())
	}
}

func (s *Session) connect(c *packet.Connect) error {
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
	s.cleanSession = c.CleanSession
	s.keepAlive = time.Duration(c.KeepAlive) * time.Second
	s.will = c.Will
	if err := s.send(&packet.Connack{ReturnCode: packet.Accepted}); err != nil {
		return err
	}
	s.state = connected
	return nil
}

func (s *Session) refuse(code packet.ConnackCode, why string) error {
	if err := s.send(&packet.Connack{ReturnCode: code}); err != nil {
		return err
	}
	s.state = closed
	// [MQTT-3.2.2-5] a refusing CONNACK is followed by closing the connection.
	return fmt.Errorf("%w: %s: %s", ErrRefused, code, why)
}

// Refuse answers CONNECT with a non-zero CONNACK code chosen by the engine
// (for example server unavailable when a limit is hit).
func (s *Session) Refuse(code packet.ConnackCode, why string) error { return s.refuse(code, why) }

func (s *Session) publish(p *packet.Publish) error {
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
		if _, dup := s.qos2Received[p.PacketID]; !dup {
			if err := s.route(p); err != nil {
				return err
			}
			s.qos2Received[p.PacketID] = struct{}{}
		}
		return s.send(&packet.Pubrec{PacketID: p.PacketID})
	}
}

func (s *Session) route(p *packet.Publish) error {
	if err := s.eng.Publish(p); err != nil {
		return fmt.Errorf("%w: publish to %q: %w", ErrEngine, p.Topic, err)
	}
	return nil
}

func (s *Session) subscribe(p *packet.Subscribe) error {
	codes := make([]byte, len(p.Subscriptions))
	for i, sub := range p.Subscriptions {
		granted, err := s.eng.Subscribe(sub.Filter, sub.QoS)
		if err != nil {
			// [MQTT-3.9.3-2] 0x80 marks a refused filter.
			codes[i] = packet.SubackFailure
			continue
		}
		codes[i] = byte(granted)
	}
	// [MQTT-3.8.4-1] answer with SUBACK, same identifier [MQTT-3.8.4-2],
	// one return code per filter in order [MQTT-3.8.4-5].
	return s.send(&packet.Suback{PacketID: p.PacketID, ReturnCodes: codes})
}

func (s *Session) send(p packet.Packet) error {
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
