package worker

import (
	"fmt"
	"io"

	"github.com/forkmq/forkmq/internal/envelope"
	"github.com/forkmq/forkmq/internal/packet"
	"github.com/forkmq/forkmq/internal/retain"
	"github.com/forkmq/forkmq/internal/state"
)

// Retain implements protocol.Retainer: the message replaces the topic's
// retained one [MQTT-3.3.1-5], and an empty payload removes it
// [MQTT-3.3.1-10, -11].
func (r *router) Retain(p *packet.Publish) error {
	return r.retained.Set(retain.Message{Topic: p.Topic, QoS: byte(p.QoS), Payload: p.Payload})
}

// SendRetained implements protocol.Retainer: every retained message matching
// a new subscription goes to this client with RETAIN set [MQTT-3.3.1-8], at
// min(stored, granted) QoS. Large payloads stream from the store to the
// spool without passing through memory.
func (r *router) SendRetained(filter string, granted packet.QoS) error {
	return r.retained.Match(filter, func(m retain.Message) error {
		qos := min(packet.QoS(m.QoS), granted)
		body, size := m.Open()
		defer body.Close()
		out := r.outgoing(m.Topic, nil, true)
		out.size = int(size)
		defer out.release()
		mailbox := qos > 0 && state.IsSessionQueue(r.identity)
		if out.fits(r.args.QueueMsgSize) && !mailbox {
			payload, err := io.ReadAll(body)
			if err != nil {
				return fmt.Errorf("read retained %q: %w", m.Topic, err)
			}
			out.payload = payload
		} else {
			head := envelope.AppendPublish(nil, byte(qos)<<1|1, m.Topic, nil)
			item, err := r.spool.WriteFrom(head, body)
			if err != nil {
				return err
			}
			out.item[qos] = item
		}
		return r.route(r.identity, out, qos)
	})
}
