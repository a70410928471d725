package e2e

// The raw client's side of QoS 1 and 2 flows, retained messages and wills:
// packet bytes built by hand, field by field, like rawclient_test.go.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Fixed-header first bytes of the acknowledgements [MQTT-3.4 to 3.7].
const (
	hdrPuback  = 0x40
	hdrPubrec  = 0x50
	hdrPubrel  = 0x62 // flags 0010 are mandatory [MQTT-3.6.1-1]
	hdrPubcomp = 0x70
)

// PUBLISH fixed-header flags [MQTT-3.3.1].
const (
	pubDup    = 0x08
	pubRetain = 0x01
)

// CONNECT flags of the will [MQTT-3.1.2.5 to 3.1.2.7].
const (
	flagWillRetain = 0x20
	willQoSShift   = 3
)

// mqtt311Persistent is a 3.1.1 CONNECT with clean session 0.
func mqtt311Persistent(clientID string) connectFields {
	c := mqtt311(clientID)
	c.flags &^= flagClean
	return c
}

// withWill adds a will with its QoS and retain flag to c.
func withWill(c connectFields, topic, message string, qos byte, retain bool) connectFields {
	c.flags |= flagWill | qos<<willQoSShift
	if retain {
		c.flags |= flagWillRetain
	}
	c.willTopic, c.willMessage = topic, message
	return c
}

func boolByte(b bool) byte {
	if b {
		return 1
	}
	return 0
}

// pub is one PUBLISH, as sent or as received.
type pub struct {
	topic   string
	payload string
	qos     byte
	retain  bool
	dup     bool
	id      uint16 // packet identifier, QoS 1 and 2 only
}

func (m pub) String() string {
	return fmt.Sprintf("PUBLISH %q %q qos=%d retain=%v dup=%v id=%d", abbrev(m.topic), abbrev(m.payload), m.qos, m.retain, m.dup, m.id)
}

func (m pub) bytes() []byte {
	header := byte(hdrPublish) | m.qos<<1
	if m.dup {
		header |= pubDup
	}
	if m.retain {
		header |= pubRetain
	}
	body := [][]byte{str(m.topic)} // topic name
	if m.qos > 0 {
		body = append(body, u16(m.id)) // packet identifier
	}
	return pkt(header, append(body, []byte(m.payload))...) // payload
}

// parsePublish decodes a PUBLISH the broker sent.
func parsePublish(p rawPacket) (pub, error) {
	if p.header&0xF0 != hdrPublish {
		return pub{}, fmt.Errorf("want PUBLISH, got %v", p)
	}
	m := pub{qos: p.header >> 1 & 3, dup: p.header&pubDup != 0, retain: p.header&pubRetain != 0}
	if m.qos == 3 {
		return pub{}, fmt.Errorf("PUBLISH with QoS 3 [MQTT-3.3.1-4]: %v", p)
	}
	body := p.body
	if len(body) < 2 {
		return pub{}, fmt.Errorf("PUBLISH without topic length: %v", p)
	}
	n := int(binary.BigEndian.Uint16(body))
	if 2+n > len(body) {
		return pub{}, fmt.Errorf("PUBLISH topic length %d exceeds its body: %v", n, p)
	}
	m.topic, body = string(body[2:2+n]), body[2+n:]
	if m.qos > 0 {
		if len(body) < 2 {
			return pub{}, fmt.Errorf("QoS %d PUBLISH without packet identifier: %v", m.qos, p)
		}
		if m.id, body = binary.BigEndian.Uint16(body), body[2:]; m.id == 0 {
			return pub{}, fmt.Errorf("PUBLISH with packet identifier 0 [MQTT-2.3.1-1]: %v", p)
		}
	}
	m.payload = string(body)
	return m, nil
}

// nextPublish reads one packet and requires a PUBLISH; it acknowledges
// nothing.
func (rc *rawClient) nextPublish(t testing.TB) pub {
	t.Helper()
	p, err := rc.read(ioTimeout)
	if err != nil {
		t.Fatalf("want PUBLISH: %v", err)
	}
	m, err := parsePublish(p)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// ackBytes is a PUBACK, PUBREC, PUBREL or PUBCOMP.
func ackBytes(header byte, id uint16) []byte { return pkt(header, u16(id)) }

// expectAck reads an acknowledgement of the given type and identifier.
func (rc *rawClient) expectAck(t testing.TB, header byte, id uint16) {
	t.Helper()
	p := rc.expect(t, header)
	if len(p.body) != 2 || binary.BigEndian.Uint16(p.body) != id {
		t.Fatalf("want packet %#02x for identifier %d, got %v", header, id, p)
	}
}

// publisher is a raw client that publishes and completes the sender's side
// of each QoS 1 and 2 flow before it goes on.
type publisher struct {
	*rawClient
	lastID uint16
}

func connectPublisher(t testing.TB, b *broker) *publisher {
	t.Helper()
	return &publisher{rawClient: connectRaw(t, b, mqtt311(newClientID("pub")))}
}

// publish sends one message: QoS 1 waits for PUBACK [MQTT-4.3.2-2]; QoS 2
// waits for PUBREC, sends PUBREL and waits for PUBCOMP [MQTT-4.3.3-2], each
// with the message's packet identifier; QoS 0 waits for the answer to a
// PINGREQ sent after it — the broker handles a client's packets in order,
// so the message has been routed (and retained) by then.
func (p *publisher) publish(t testing.TB, topic, payload string, qos byte, retain bool) {
	t.Helper()
	m := pub{topic: topic, payload: payload, qos: qos, retain: retain}
	if qos > 0 {
		p.lastID++
		m.id = p.lastID
	}
	p.send(t, m.bytes())
	switch qos {
	case 0:
		p.send(t, pingreqBytes)
		p.expect(t, hdrPingresp)
	case 1:
		p.expectAck(t, hdrPuback, m.id)
	case 2:
		p.expectAck(t, hdrPubrec, m.id)
		p.send(t, ackBytes(hdrPubrel, m.id))
		p.expectAck(t, hdrPubcomp, m.id)
	}
}

// publishRounds publishes rounds messages at QoS 1 on prefix+"q1" and as
// many at QoS 2 on prefix+"q2", alternately, the payload the round, and
// returns them as sent.
func (p *publisher) publishRounds(t testing.TB, prefix string, rounds int) []pub {
	t.Helper()
	var sent []pub
	for i := range rounds {
		for qos := byte(1); qos <= 2; qos++ {
			m := pub{topic: fmt.Sprintf("%sq%d", prefix, qos), payload: strconv.Itoa(i), qos: qos}
			p.publish(t, m.topic, m.payload, m.qos, false)
			sent = append(sent, m)
		}
	}
	return sent
}

// receiverState is a receiving client's part of its session state: the
// QoS 2 messages it has received and not yet seen released, by packet
// identifier. A persistent session keeps it across connections.
type receiverState struct {
	held map[uint16]pub
}

func newReceiverState() *receiverState { return &receiverState{held: make(map[uint16]pub)} }

// subscriber is a raw client that plays the receiver's side of QoS 1 and 2
// flows: PUBACK for QoS 1 [MQTT-4.3.2-*], PUBREC for QoS 2 and PUBCOMP for
// PUBREL [MQTT-4.3.3-*].
type subscriber struct {
	*rawClient
	rx    *receiverState
	early []rawPacket // packets the broker sent before CONNACK, handled first
}

// delivery is one PUBLISH a subscriber received. again marks a QoS 2
// message whose identifier was held, not yet released: the same message
// sent again, not a new delivery [MQTT-4.3.3-2].
type delivery struct {
	pub
	again bool
}

// connectSubscriber connects c, expects CONNACK 0 with the given session
// present flag, and plays the receiver with the session state rx (nil: a
// new one). A PUBLISH or PUBREL before CONNACK fails the test
// [MQTT-3.2.0-1], but is kept and handled after it, so that the test can
// tell what else goes wrong.
func connectSubscriber(t testing.TB, b *broker, c connectFields, present bool, rx *receiverState) *subscriber {
	t.Helper()
	if rx == nil {
		rx = newReceiverState()
	}
	s := &subscriber{rawClient: dialRaw(t, b), rx: rx}
	s.send(t, c.bytes())
	for {
		p, err := s.read(ioTimeout)
		if err != nil {
			t.Fatalf("want CONNACK: %v", err)
		}
		if p.header&0xF0 != hdrPublish && p.header != hdrPubrel {
			if len(s.early) > 0 {
				t.Errorf("the broker sent %d packets before CONNACK, the first %v [MQTT-3.2.0-1]", len(s.early), s.early[0])
			}
			if p.header != hdrConnack {
				t.Fatalf("want CONNACK, got %v", p)
			}
			checkConnack(t, p, connAccepted, present)
			return s
		}
		s.early = append(s.early, p)
	}
}

// readPacket reads the next packet: first those that came before CONNACK.
func (s *subscriber) readPacket(timeout time.Duration) (rawPacket, error) {
	if len(s.early) > 0 {
		p := s.early[0]
		s.early = s.early[1:]
		return p, nil
	}
	return s.read(timeout)
}

// watchAt connects a clean-session subscriber to filters at qos.
func watchAt(t testing.TB, b *broker, qos byte, filters ...string) *subscriber {
	t.Helper()
	s := connectSubscriber(t, b, mqtt311(newClientID("watch")), false, nil)
	s.subscribe(t, qos, filters...)
	return s
}

// subscribe subscribes at qos and requires SUBACK to grant it for every
// filter. Nothing may be in flight to the client.
func (s *subscriber) subscribe(t testing.TB, qos byte, filters ...string) {
	t.Helper()
	s.settle(t)
	for i, code := range s.subscribeAt(t, qos, filters...) {
		if code != qos {
			t.Fatalf("SUBACK for %q: %#x, want the QoS asked for, %d", filters[i], code, qos)
		}
	}
}

// unsubscribe sends UNSUBSCRIBE and expects UNSUBACK with its identifier
// [MQTT-3.10.4-4]. Nothing may be in flight to the client.
func (s *subscriber) unsubscribe(t testing.TB, id uint16, filters ...string) {
	t.Helper()
	s.settle(t)
	s.send(t, unsubscribeBytes(id, filters...))
	s.expectAck(t, hdrUnsuback, id)
}

// receive reads until the next PUBLISH and acknowledges it, answering any
// PUBREL on the way; an error is the connection's or a protocol error.
func (s *subscriber) receive(timeout time.Duration) (delivery, error) {
	for {
		p, err := s.readPacket(timeout)
		if err != nil {
			return delivery{}, err
		}
		if p.header == hdrPubrel {
			if err := s.released(p); err != nil {
				return delivery{}, err
			}
			continue
		}
		m, err := parsePublish(p)
		if err != nil {
			return delivery{}, err
		}
		d := delivery{pub: m}
		var ack []byte
		switch m.qos {
		case 1:
			ack = ackBytes(hdrPuback, m.id)
		case 2:
			if held, ok := s.rx.held[m.id]; ok {
				if held.payload != m.payload || held.topic != m.topic {
					return delivery{}, fmt.Errorf("%v reuses the identifier of %v, which is not released yet [MQTT-2.3.1-2]", m, held)
				}
				d.again = true
			}
			s.rx.held[m.id] = m
			ack = ackBytes(hdrPubrec, m.id)
		}
		if ack != nil {
			if err := s.write(ack); err != nil {
				return d, err
			}
		}
		return d, nil
	}
}

// released answers a PUBREL with PUBCOMP [MQTT-4.3.3-2], also for an
// identifier released before (the PUBCOMP may have been lost).
func (s *subscriber) released(p rawPacket) error {
	if len(p.body) != 2 {
		return fmt.Errorf("PUBREL with a body of %d bytes: %v", len(p.body), p)
	}
	id := binary.BigEndian.Uint16(p.body)
	delete(s.rx.held, id)
	return s.write(ackBytes(hdrPubcomp, id))
}

// next is receive that ends the test on failure.
func (s *subscriber) next(t testing.TB) delivery {
	t.Helper()
	d, err := s.receive(ioTimeout)
	if err != nil {
		t.Fatalf("want PUBLISH: %v", err)
	}
	return d
}

// until receives until a delivery on topic with payload arrives and
// returns what came before it.
func (s *subscriber) until(t testing.TB, topic, payload string) []delivery {
	t.Helper()
	var before []delivery
	for {
		d := s.next(t)
		if d.topic == topic && d.payload == payload {
			return before
		}
		before = append(before, d)
	}
}

// selfFence publishes a QoS 0 marker to topic, which only this client is
// subscribed to, and returns what arrived before it: the broker handles one
// client's packets in order, so whatever it sent for earlier ones (retained
// messages after a SUBSCRIBE) and what others published before this client
// sent the marker (and they had their PUBACK) comes first.
func (s *subscriber) selfFence(t testing.TB, topic string) []delivery {
	t.Helper()
	s.send(t, pub{topic: topic, payload: "fence"}.bytes())
	return s.until(t, topic, "fence")
}

// newFenceTopic is a topic for one selfFence.
func newFenceTopic() string { return fmt.Sprintf("fence/self/%d", fenceSeq.Add(1)) }

// retainedFor subscribes a new client to filter at qos and returns the
// messages it gets before a marker of its own: the retained ones
// [MQTT-3.3.1-6]. The client then leaves.
func retainedFor(t testing.TB, b *broker, qos byte, filter string) []delivery {
	t.Helper()
	marker := newFenceTopic()
	s := watchAt(t, b, qos, filter, marker)
	got := s.selfFence(t, marker)
	s.settle(t)
	s.send(t, disconnectBytes)
	return got
}

// checkDeliveries requires got to be want in any order, none of them sent
// again (DUP 0).
func checkDeliveries(t testing.TB, who string, got []delivery, want []pub) {
	t.Helper()
	key := func(m pub) string {
		return fmt.Sprintf("%s %q qos=%d retain=%v dup=%v", m.topic, abbrev(m.payload), m.qos, m.retain, m.dup)
	}
	var g, w []string
	for _, d := range got {
		g = append(g, key(d.pub))
	}
	for _, m := range want {
		w = append(w, key(m))
	}
	slices.Sort(g)
	slices.Sort(w)
	if !slices.Equal(g, w) {
		t.Errorf("%s got\n\t%s\nwant\n\t%s", who, strings.Join(g, "\n\t"), strings.Join(w, "\n\t"))
	}
}

// ping sends PINGREQ and requires PINGRESP [MQTT-3.12.4-1] as the next
// packet but for PUBRELs, which it answers.
func (s *subscriber) ping(t testing.TB) {
	t.Helper()
	s.send(t, pingreqBytes)
	for {
		p, err := s.readPacket(ioTimeout)
		switch {
		case err != nil:
			t.Fatalf("want PINGRESP: %v", err)
		case p.header == hdrPingresp:
			return
		case p.header != hdrPubrel:
			t.Fatalf("want PINGRESP, got %v", p)
		}
		if err := s.released(p); err != nil {
			t.Fatal(err)
		}
	}
}

// settle reads until every held QoS 2 message is released (PUBREL answered
// with PUBCOMP) [MQTT-4.3.3-1]; any PUBLISH meanwhile fails the test.
func (s *subscriber) settle(t testing.TB) {
	t.Helper()
	for len(s.rx.held) > 0 {
		p, err := s.readPacket(ioTimeout)
		if err != nil {
			t.Fatalf("waiting for PUBREL of %d held messages: %v", len(s.rx.held), err)
		}
		if p.header != hdrPubrel {
			t.Fatalf("waiting for PUBREL of %d held messages, got %v", len(s.rx.held), p)
		}
		if err := s.released(p); err != nil {
			t.Fatal(err)
		}
	}
}

// expectSilence requires no packet to arrive within d.
func (rc *rawClient) expectSilence(t testing.TB, d time.Duration) {
	t.Helper()
	p, err := rc.read(d)
	switch {
	case err == nil:
		t.Fatalf("want nothing for %v, got %v", d, p)
	case isClosed(err):
		t.Fatalf("want nothing for %v, the connection closed: %v", d, err)
	}
	var nerr interface{ Timeout() bool }
	if !errors.As(err, &nerr) || !nerr.Timeout() {
		t.Fatalf("want nothing for %v: %v", d, err)
	}
}

// payloadsOf lists the payloads of deliveries.
func payloadsOf(ds []delivery) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.payload
	}
	return out
}
