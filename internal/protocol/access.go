package protocol

import (
	"errors"

	"github.com/forkmq/forkmq/internal/packet"
)

// Authorizer decides who may connect and what they may publish and
// subscribe to (package auth implements it from mosquitto's files). Both
// engines pass theirs to the Connection, so they refuse alike:
//
//   - a refused CONNECT gets CONNACK 4 (bad user name or password) or 5
//     (not authorized) [MQTT-3.2.2-5];
//   - a refused subscription gets 0x80 in SUBACK [MQTT-3.9.3-2];
//   - a refused PUBLISH is dropped silently (acknowledged as usual at QoS 1
//     and 2, as MQTT 3.1.1 has no way to say no) and reported through
//     OnRefused.
type Authorizer interface {
	Connect(clientID, username string, hasUsername bool, password []byte, hasPassword bool) (ok bool, code byte)
	CanPublish(clientID, username string, anonymous bool, topic string) bool
	CanSubscribe(clientID, username string, anonymous bool, filter string) bool
}

// ErrNotAuthorized reports a request refused by the Authorizer.
var ErrNotAuthorized = errors.New("not authorized")

// SetAuthorizer makes the connection ask current() — called at every decision,
// so an engine can swap in a reloaded one (SIGHUP) — before accepting a
// CONNECT, a subscription or a publication. Without it everything is allowed.
func (s *Connection) SetAuthorizer(current func() Authorizer) { s.authz = current }

// SetIdentity gives the client a user name its TLS certificate vouches
// for (mosquitto's use_identity_as_username): the user name its CONNECT
// gives is replaced by it, and no password is checked — the certificate,
// verified during the TLS handshake, is the credential. The ACL applies to
// it as to any user name.
func (s *Connection) SetIdentity(name string) { s.identity = name }

// Username is the user name the client connected with ("" if none).
func (s *Connection) Username() string { return s.username }

func (s *Connection) authorizer() Authorizer {
	if s.authz == nil {
		return nil
	}
	return s.authz()
}

// checkConnect asks the authorizer about a CONNECT; a non-nil error is the
// refusal already sent.
func (s *Connection) checkConnect(c *packet.Connect, id string) (refused bool, err error) {
	a := s.authorizer()
	if a == nil {
		return false, nil
	}
	ok, code := a.Connect(id, c.Username, c.UsernameFlag, c.Password, c.PasswordFlag)
	if ok {
		return false, nil
	}
	return true, s.refuse(packet.ConnackCode(code), "not authorized")
}

func (s *Connection) mayPublish(topic string) bool {
	a := s.authorizer()
	return a == nil || a.CanPublish(s.clientID, s.username, !s.hasUsername, topic)
}

func (s *Connection) maySubscribe(filter string) bool {
	a := s.authorizer()
	return a == nil || a.CanSubscribe(s.clientID, s.username, !s.hasUsername, filter)
}
