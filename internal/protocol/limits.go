package protocol

import (
	"errors"
	"fmt"
	"strings"
)

// Limits bound what one client may ask of the broker. A zero field means no
// limit. Both engines apply them through the Connection, so they refuse alike:
// a SUBSCRIBE past a bound gets 0x80 for that filter [MQTT-3.9.3-2], a
// PUBLISH to a topic past a bound closes the connection (MQTT 3.1.1 has no
// other answer to a PUBLISH it will not take).
type Limits struct {
	MaxSubscriptions int // filters one connection may hold
	MaxTopicLength   int // bytes in a topic name or filter
	MaxTopicLevels   int // levels in a topic name or filter
}

// ErrLimit reports a request refused because of a Limits bound.
var ErrLimit = errors.New("limit exceeded")

// SetLimits sets the connection's bounds; call it before Serve.
func (s *Connection) SetLimits(l Limits) { s.limits = l }

// Refused is called, when set, with each request a limit refused (for the
// engine's log line).
func (s *Connection) OnRefused(fn func(what string, err error)) { s.onRefused = fn }

func (s *Connection) checkTopic(kind, t string) error {
	if l := s.limits.MaxTopicLength; l > 0 && len(t) > l {
		return fmt.Errorf("%w: %s of %d bytes (-max-topic-length %d)", ErrLimit, kind, len(t), l)
	}
	if l := s.limits.MaxTopicLevels; l > 0 {
		if n := strings.Count(t, "/") + 1; n > l {
			return fmt.Errorf("%w: %s of %d levels (-max-topic-levels %d)", ErrLimit, kind, n, l)
		}
	}
	return nil
}

// checkSubscription tells whether one more filter may be held.
func (s *Connection) checkSubscription(filter string) error {
	if err := s.checkTopic("topic filter", filter); err != nil {
		return err
	}
	if _, held := s.filters[filter]; held {
		return nil // a replacement takes no new slot
	}
	if l := s.limits.MaxSubscriptions; l > 0 && len(s.filters) >= l {
		return fmt.Errorf("%w: %d subscriptions held (-max-subscriptions %d)", ErrLimit, len(s.filters), l)
	}
	return nil
}

func (s *Connection) refused(what string, err error) {
	if s.onRefused != nil {
		s.onRefused(what, err)
	}
}
