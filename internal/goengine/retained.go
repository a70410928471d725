package goengine

import (
	"fmt"
	"io"

	"github.com/forkmq/forkmq/internal/packet"
	"github.com/forkmq/forkmq/internal/retain"
)

// Retain implements protocol.Retainer with the process engine's store, in
// the same directory (<state-dir>/retained), so retained messages survive
// a restart and either engine finds the other's: the message replaces the
// topic's retained one [MQTT-3.3.1-5], and an empty payload removes it
// [MQTT-3.3.1-10, -11].
func (r *router) Retain(p *packet.Publish) error {
	return r.e.retained.Set(retain.Message{Topic: p.Topic, QoS: byte(p.QoS), Payload: p.Payload})
}

// SendRetained implements protocol.Retainer: every retained message matching
// a new subscription goes to this client with RETAIN set [MQTT-3.3.1-8], at
// min(stored, granted) QoS, routed like any copy to this client (so a
// persistent session's QoS 1/2 copies go through its mailbox). The payload
// is read into memory, as every payload of this engine is.
func (r *router) SendRetained(filter string, granted packet.QoS) error {
	return r.e.retained.Match(filter, func(m retain.Message) error {
		body, size := m.Open()
		defer body.Close()
		payload := make([]byte, size)
		if _, err := io.ReadFull(body, payload); err != nil {
			return fmt.Errorf("read retained %q: %w", m.Topic, err)
		}
		out := &message{topic: m.Topic, payload: payload, retain: true}
		r.route(r.sess, delivery{m: out, qos: min(packet.QoS(m.QoS), granted)})
		return nil
	})
}
