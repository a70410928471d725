package core

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/forkmq/forkmq/internal/packet"
	"github.com/forkmq/forkmq/internal/stall"
)

func newTestDeliverer(window, backlog int) *Deliverer {
	return NewDeliverer(Limits{Window: window, BacklogMsgs: backlog, BacklogBytes: 1 << 20}, stall.NewWatch(time.Hour), zerolog.Nop())
}

func pubItem(topic string, qos packet.QoS) Item {
	return Item{Kind: Publication, QoS: qos, Msg: &Message{Topic: topic, Payload: []byte(topic)}}
}

func reply(p packet.Packet) Item {
	b, _ := packet.Append(nil, p)
	return Item{Kind: Reply, Packet: b}
}

// written decodes what the deliverer's output holds, as "TYPE topic/id".
func written(t *testing.T, d *Deliverer) []string {
	t.Helper()
	var buf bytes.Buffer
	if _, err := d.Output().WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	var out []string
	for buf.Len() > 0 {
		p, err := packet.Read(&buf, 0)
		if err != nil {
			t.Fatalf("output not packets: %v", err)
		}
		switch p := p.(type) {
		case *packet.Publish:
			s := "PUBLISH " + p.Topic
			if p.Dup {
				s += " dup"
			}
			out = append(out, s)
		case *packet.Pubrel:
			out = append(out, "PUBREL "+string(rune('0'+p.PacketID)))
		default:
			out = append(out, p.Type().String())
		}
	}
	return out
}

// TestDelivererOrder: replies first; no publication before Start
// [MQTT-3.2.0-1]; publications the inbox brings while subscriptions are
// made wait for SUBACK; QoS 1/2 messages wait for room in the window, in
// order [MQTT-4.6.0-2].
func TestDelivererOrder(t *testing.T) {
	d := newTestDeliverer(1, 100)
	if d.Started() {
		t.Fatal("started before Start")
	}
	for _, it := range []Item{reply(&packet.Connack{})} {
		if err := d.Control(it); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Start(nil); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		own bool // on the Own channel, else the inbox
		it  Item
	}{
		{true, Item{Kind: Hold}},
		{false, pubItem("held", 0)},
		{true, reply(&packet.Suback{PacketID: 1, ReturnCodes: []byte{1}})},
		{true, Item{Kind: Release}},
		{false, pubItem("q1a", 1)},
		{false, pubItem("q1b", 1)}, // waits: window of 1
		{false, pubItem("q0", 0)},  // QoS 0 does not wait
	}
	for _, s := range steps {
		var err error
		if s.own {
			err = d.Control(s.it)
		} else {
			err = d.Take(s.it)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"CONNACK", "SUBACK", "PUBLISH held", "PUBLISH q1a", "PUBLISH q0"}
	if got := written(t, d); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("wrote %v, want %v", got, want)
	}
	if err := d.Control(Item{Kind: Ack, AckType: packet.TypePuback, AckID: 1}); err != nil {
		t.Fatal(err)
	}
	if got := written(t, d); strings.Join(got, ",") != "PUBLISH q1b" {
		t.Errorf("after PUBACK wrote %v, want the waiting message", got)
	}
}

// TestDelivererAcknowledgements: the acknowledgement rules of the outbound
// flows [MQTT-4.3.2, 4.3.3].
func TestDelivererAcknowledgements(t *testing.T) {
	tests := []struct {
		name  string
		qos   packet.QoS
		acks  []packet.Type
		want  []string // written after the message
		fails bool     // the last acknowledgement breaks the protocol
	}{
		{"QoS 1 settled by PUBACK", 1, []packet.Type{packet.TypePuback}, nil, false},
		{"QoS 2: PUBREC, PUBREL, PUBCOMP", 2, []packet.Type{packet.TypePubrec, packet.TypePubcomp}, []string{"PUBREL 1"}, false},
		{"QoS 2: a repeated PUBREC is answered again", 2, []packet.Type{packet.TypePubrec, packet.TypePubrec}, []string{"PUBREL 1", "PUBREL 1"}, false},
		{"PUBREC for QoS 1", 1, []packet.Type{packet.TypePubrec}, nil, true},
		{"PUBCOMP for QoS 1", 1, []packet.Type{packet.TypePubcomp}, nil, true},
		{"PUBACK for QoS 2", 2, []packet.Type{packet.TypePuback}, nil, true},
		{"PUBCOMP before PUBREL", 2, []packet.Type{packet.TypePubcomp}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newTestDeliverer(10, 100)
			d.Start(nil)
			d.Take(pubItem("m", tt.qos))
			written(t, d)
			var err error
			for _, a := range tt.acks {
				err = d.Control(Item{Kind: Ack, AckType: a, AckID: 1})
			}
			if tt.fails != errors.Is(err, ErrProtocol) {
				t.Fatalf("error %v, want a protocol violation: %v", err, tt.fails)
			}
			if got := written(t, d); strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("wrote %v, want %v", got, tt.want)
			}
		})
	}
	// A PUBREC for an identifier never sent is answered with PUBREL.
	d := newTestDeliverer(10, 100)
	d.Start(nil)
	if err := d.Control(Item{Kind: Ack, AckType: packet.TypePubrec, AckID: 7}); err != nil {
		t.Fatal(err)
	}
	if got := written(t, d); strings.Join(got, ",") != "PUBREL 7" {
		t.Errorf("unknown PUBREC: wrote %v, want PUBREL 7", got)
	}
}

// TestDelivererBacklog: the backlog takes -max-queued-messages, counting
// what waits for the window; a stalled client's QoS 0 is dropped and a QoS
// 1 message ends it.
func TestDelivererBacklog(t *testing.T) {
	d := newTestDeliverer(1, 3)
	d.Start(nil)
	for _, topic := range []string{"a", "b", "c"} {
		if !d.Room(0, 0) {
			t.Fatalf("no room before %s", topic)
		}
		d.Take(pubItem(topic, 1)) // a in flight, b and c wait; all unwritten
	}
	if d.Room(0, 0) {
		t.Fatal("room past -max-queued-messages 3")
	}
	if err := d.Refuse(pubItem("d", 0)); err != nil {
		t.Errorf("a stalled client's QoS 0: %v, want dropped", err)
	}
	if err := d.Refuse(pubItem("e", 1)); !errors.Is(err, ErrSlowConsumer) {
		t.Errorf("a stalled client's QoS 1: %v, want ErrSlowConsumer", err)
	}
}

// fakeMailbox is a persistent session's mailbox in a test.
type fakeMailbox struct {
	unsettled []Unsettled
	fresh     []Item
	log       []string
}

func (m *fakeMailbox) Unsettled() ([]Unsettled, error) { return m.unsettled, nil }
func (m *fakeMailbox) Rang(string)                     {}
func (m *fakeMailbox) Rung() int                       { return 0 }
func (m *fakeMailbox) Next(n int) ([]Item, error) {
	n = min(n, len(m.fresh))
	out := m.fresh[:n]
	m.fresh = m.fresh[n:]
	return out, nil
}
func (m *fakeMailbox) Sent(e string, id uint16) error {
	m.log = append(m.log, "sent "+e)
	return nil
}
func (m *fakeMailbox) Released(e string, id uint16) error {
	m.log = append(m.log, "released "+e)
	return nil
}
func (m *fakeMailbox) Settled(e string, id uint16, rel bool) error {
	m.log = append(m.log, "settled "+e)
	return nil
}

// TestDelivererResume: a resumed session resends its unsettled messages
// with DUP and their identifiers, PUBREL for the released ones
// [MQTT-4.4.0-1], then what it stored, as the window allows.
func TestDelivererResume(t *testing.T) {
	mb := &fakeMailbox{
		unsettled: []Unsettled{
			{Item: Item{Kind: Publication, QoS: 2, Entry: "e1"}, ID: 1, Released: true},
			{Item: withEntry(pubItem("e2", 1), "e2"), ID: 2},
		},
		fresh: []Item{withEntry(pubItem("e3", 1), "e3"), withEntry(pubItem("e4", 1), "e4")},
	}
	d := newTestDeliverer(3, 100)
	if err := d.Start(mb); err != nil {
		t.Fatal(err)
	}
	want := []string{"PUBREL 1", "PUBLISH e2 dup", "PUBLISH e3"}
	if got := written(t, d); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("wrote %v, want %v", got, want)
	}
	d.Control(Item{Kind: Ack, AckType: packet.TypePubcomp, AckID: 1})
	if got := written(t, d); strings.Join(got, ",") != "PUBLISH e4" {
		t.Errorf("after PUBCOMP wrote %v, want the next stored message", got)
	}
	if got := strings.Join(mb.log, ","); got != "sent e3,settled e1,sent e4" {
		t.Errorf("mailbox records %s", got)
	}
}

func withEntry(it Item, e string) Item {
	it.Entry = e
	return it
}
