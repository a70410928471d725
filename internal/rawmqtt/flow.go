package rawmqtt

import (
	"fmt"
	"time"
)

// The two sides of QoS 1 and 2 flows, one step at a time: Publish is the
// sender's, Receive the receiver's.

// Publish sends m and completes the sender's side of its flow before it
// returns: at QoS 1 it waits for PUBACK [MQTT-4.3.2-2]; at QoS 2 for
// PUBREC, sends PUBREL and waits for PUBCOMP [MQTT-4.3.3-2], each carrying
// m's packet identifier. QoS 0 has no flow: Publish sends PINGREQ and
// waits for PINGRESP [MQTT-3.12.4-1], and since the broker handles one
// client's packets in order, m has been routed (and retained) by then. An
// identifier of 0 at QoS 1 or 2 takes NextID. It returns m as sent.
func (c *Conn) Publish(t TB, m Publish) Publish {
	t.Helper()
	if m.QoS > 0 && m.ID == 0 {
		m.ID = c.NextID()
	}
	c.Send(t, m.Bytes())
	switch m.QoS {
	case 0:
		c.Send(t, Pingreq())
		c.Expect(t, HeaderPingresp)
	case 1:
		c.ExpectAck(t, HeaderPuback, m.ID)
	case 2:
		c.ExpectAck(t, HeaderPubrec, m.ID)
		c.Send(t, Ack(HeaderPubrel, m.ID))
		c.ExpectAck(t, HeaderPubcomp, m.ID)
	}
	return m
}

// ReceiverState is a receiving client's part of its session state: the
// QoS 2 messages it has received and not yet seen released, by packet
// identifier. A persistent session keeps it across connections (Resumed).
type ReceiverState struct {
	held map[uint16]Publish
}

// NewReceiverState is the state of a session that holds nothing.
func NewReceiverState() *ReceiverState { return &ReceiverState{held: make(map[uint16]Publish)} }

// ReceiverState returns the connection's receiver state.
func (c *Conn) ReceiverState() *ReceiverState { return c.rx }

// Delivery is one PUBLISH that Receive took. Again marks a QoS 2 message
// whose identifier was held, not yet released: the same message sent
// again, not a new delivery [MQTT-4.3.3-2].
type Delivery struct {
	Publish
	Again bool
}

// Receive reads until the next PUBLISH and acknowledges it: PUBACK at
// QoS 1 [MQTT-4.3.2-2], PUBREC at QoS 2 [MQTT-4.3.3-2]. A PUBREL on the way
// is answered with PUBCOMP. An error is the connection's or a protocol
// error of the broker's; with an error, a Delivery with a Topic was still
// received (its acknowledgement could not be written), and a QoS 2 one is
// held.
func (c *Conn) Receive(timeout time.Duration) (Delivery, error) {
	for {
		p, err := c.Read(timeout)
		if err != nil {
			return Delivery{}, err
		}
		if p.Header == HeaderPubrel {
			if err := c.released(p); err != nil {
				return Delivery{}, err
			}
			continue
		}
		m, err := p.Publish()
		if err != nil {
			return Delivery{}, err
		}
		d := Delivery{Publish: m}
		switch m.QoS {
		case 1:
			return d, c.Write(Ack(HeaderPuback, m.ID))
		case 2:
			if held, ok := c.rx.held[m.ID]; ok {
				if held.Payload != m.Payload || held.Topic != m.Topic {
					return Delivery{}, fmt.Errorf("%v reuses the identifier of %v, which is not released yet [MQTT-2.3.1-2]", m, held)
				}
				d.Again = true
			}
			c.rx.held[m.ID] = m
			return d, c.Write(Ack(HeaderPubrec, m.ID))
		}
		return d, nil
	}
}

// released answers a PUBREL with PUBCOMP [MQTT-4.3.3-2], also for an
// identifier released before (the PUBCOMP may have been lost).
func (c *Conn) released(p Packet) error {
	id, err := p.ID()
	if err != nil {
		return err
	}
	delete(c.rx.held, id)
	return c.Write(Ack(HeaderPubcomp, id))
}

// Next is Receive that ends the test on failure.
func (c *Conn) Next(t TB) Delivery {
	t.Helper()
	d, err := c.Receive(WaitTimeout)
	if err != nil {
		t.Fatalf("want PUBLISH: %v", err)
	}
	return d
}

// Until receives until a delivery on topic with payload arrives and
// returns what came before it.
func (c *Conn) Until(t TB, topic, payload string) []Delivery {
	t.Helper()
	var before []Delivery
	for {
		d := c.Next(t)
		if d.Topic == topic && d.Payload == payload {
			return before
		}
		before = append(before, d)
	}
}

// SelfFence publishes a QoS 0 marker to topic, to which only this client
// is subscribed, and returns what arrived before it: the broker handles
// one client's packets in order, so whatever it sent for earlier ones
// (retained messages after a SUBSCRIBE) and what others published before
// this client sent the marker (and they had their PUBACK) comes first.
func (c *Conn) SelfFence(t TB, topic string) []Delivery {
	t.Helper()
	c.Send(t, Publish{Topic: topic, Payload: "fence"}.Bytes())
	return c.Until(t, topic, "fence")
}

// Ping sends PINGREQ and requires PINGRESP [MQTT-3.12.4-1] as the next
// packet but for PUBRELs, which it answers.
func (c *Conn) Ping(t TB) {
	t.Helper()
	c.Send(t, Pingreq())
	for {
		p, err := c.Read(WaitTimeout)
		switch {
		case err != nil:
			t.Fatalf("want PINGRESP: %v", err)
		case p.Header == HeaderPingresp:
			return
		case p.Header != HeaderPubrel:
			t.Fatalf("want PINGRESP, got %v", p)
		}
		if err := c.released(p); err != nil {
			t.Fatalf("%v", err)
		}
	}
}

// Settle reads until every held QoS 2 message is released (PUBREL
// answered with PUBCOMP) [MQTT-4.3.3-1]; any other packet meanwhile fails
// the test.
func (c *Conn) Settle(t TB) {
	t.Helper()
	for len(c.rx.held) > 0 {
		p, err := c.Read(WaitTimeout)
		if err != nil {
			t.Fatalf("waiting for PUBREL of %d held messages: %v", len(c.rx.held), err)
		}
		if p.Header != HeaderPubrel {
			t.Fatalf("waiting for PUBREL of %d held messages, got %v", len(c.rx.held), p)
		}
		if err := c.released(p); err != nil {
			t.Fatalf("%v", err)
		}
	}
}
