package goengine

import (
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/forkmq/forkmq/internal/options"
	"github.com/forkmq/forkmq/internal/rawmqtt"
)

// The router holds the PUBACK, PUBREC and PUBCOMP answering its client's
// publications until it has read everything the client sent (router.hold).
// These tests prove that they still go in the order the client's packets
// came, that a held one goes once the router's wait is over, and that the
// client's own acknowledgements of what it was sent are never held.

// TestRepliesInOrder: the acknowledgements of a burst go in the order of
// the packets they answer [MQTT-4.6.0-2], with the replies that are never
// held (PINGRESP) in their place among them; a burst longer than holdMax
// is answered whole.
func TestRepliesInOrder(t *testing.T) {
	b := start(t, nil)
	pub := connect(t, b.addr, "orderpub", 30)

	pub.Send(t,
		rawmqtt.Publish{Topic: "order/none", Payload: "1", QoS: 1, ID: 1}.Bytes(),
		rawmqtt.Publish{Topic: "order/none", Payload: "2", QoS: 2, ID: 2}.Bytes(),
		rawmqtt.Pingreq(),
		rawmqtt.Publish{Topic: "order/none", Payload: "3", QoS: 1, ID: 3}.Bytes(),
		rawmqtt.Ack(rawmqtt.HeaderPubrel, 2),
	)
	pub.ExpectAck(t, rawmqtt.HeaderPuback, 1)
	pub.ExpectAck(t, rawmqtt.HeaderPubrec, 2)
	pub.Expect(t, rawmqtt.HeaderPingresp)
	pub.ExpectAck(t, rawmqtt.HeaderPuback, 3)
	pub.ExpectAck(t, rawmqtt.HeaderPubcomp, 2)

	const n = 3*holdMax + 1
	burst := make([][]byte, 0, n)
	for i := range n {
		burst = append(burst, rawmqtt.Publish{Topic: "order/none", Payload: strconv.Itoa(i), QoS: 1, ID: uint16(10 + i)}.Bytes())
	}
	pub.Send(t, burst...)
	for i := range n {
		pub.ExpectAck(t, rawmqtt.HeaderPuback, uint16(10+i))
	}
}

// TestRepliesWaitForTheBurst: a publisher whose router waits on a full
// backlog (back-pressure) gets the PUBACK of what it routed before the wait
// with the rest of its burst, once the subscriber makes room, in order
// [MQTT-4.6.0-2]; nothing is lost.
func TestRepliesWaitForTheBurst(t *testing.T) {
	b := start(t, func(c *options.Options) { c.MaxInflight, c.BacklogMsgs, c.StallTimeout = 1, 1, time.Minute })
	sub := connect(t, b.addr, "burstsub", 30)
	sub.SubscribeGranted(t, 1, "burst/#")
	pub := connect(t, b.addr, "burstpub", 30)

	// bp/1 in flight, bp/2 waiting for the window, bp/3 in the backlog:
	// the next copy for sub makes its router wait.
	for i := range uint16(3) {
		pub.Send(t, rawmqtt.Publish{Topic: "burst/x", Payload: strconv.Itoa(int(i + 1)), QoS: 1, ID: i + 1}.Bytes())
		pub.ExpectAck(t, rawmqtt.HeaderPuback, i+1)
	}
	first := sub.ExpectPlainPublish(t, 1)

	// One write, read in one go: 4 goes nowhere and is acknowledged, 5
	// waits for room, 6 is read after it.
	pub.Send(t,
		rawmqtt.Publish{Topic: "elsewhere", Payload: "4", QoS: 1, ID: 4}.Bytes(),
		rawmqtt.Publish{Topic: "burst/x", Payload: "5", QoS: 1, ID: 5}.Bytes(),
		rawmqtt.Publish{Topic: "elsewhere", Payload: "6", QoS: 1, ID: 6}.Bytes(),
	)
	// The PUBACK of 4 is held while the router waits (the process
	// engine's pair channel holds it the same way).
	pub.ExpectSilence(t, 300*time.Millisecond)

	got := []string{first.Payload}
	sub.Send(t, rawmqtt.Ack(rawmqtt.HeaderPuback, first.ID))
	for len(got) < 4 {
		m := sub.ExpectPlainPublish(t, 1)
		got = append(got, m.Payload)
		sub.Send(t, rawmqtt.Ack(rawmqtt.HeaderPuback, m.ID))
	}
	if want := []string{"1", "2", "3", "5"}; !slices.Equal(got, want) {
		t.Errorf("subscriber got %q, want %q", got, want)
	}
	for id := uint16(4); id <= 6; id++ {
		pub.ExpectAck(t, rawmqtt.HeaderPuback, id)
	}
}

// TestClientAcksNotHeld: a client's PUBACK of what it was sent frees room
// in its window, so its router never holds it, not even while it waits on
// another client's full backlog. Two clients that publish to each other,
// each acknowledging what it got and publishing once more in one write,
// would otherwise each hold the acknowledgement the other's wait needs.
func TestClientAcksNotHeld(t *testing.T) {
	b := start(t, func(c *options.Options) { c.MaxInflight, c.BacklogMsgs, c.StallTimeout = 1, 1, time.Minute })
	a := connect(t, b.addr, "crossa", 30)
	a.SubscribeGranted(t, 1, "to/a")
	c := connect(t, b.addr, "crossc", 30)
	c.SubscribeGranted(t, 1, "to/c")

	// Each fills the other's window and backlog: one in flight, one
	// waiting for the window, one in the backlog.
	fill := func(from *rawmqtt.Conn, topic, prefix string) {
		t.Helper()
		for i := range uint16(3) {
			from.Send(t, rawmqtt.Publish{Topic: topic, Payload: prefix + strconv.Itoa(int(i+1)), QoS: 1, ID: i + 1}.Bytes())
			from.ExpectAck(t, rawmqtt.HeaderPuback, i+1)
		}
	}
	fill(a, "to/c", "a")
	toC := c.ExpectPlainPublish(t, 1)
	fill(c, "to/a", "c")
	toA := a.ExpectPlainPublish(t, 1)

	a.Send(t, rawmqtt.Ack(rawmqtt.HeaderPuback, toA.ID), rawmqtt.Publish{Topic: "to/c", Payload: "a4", QoS: 1, ID: 4}.Bytes())
	c.Send(t, rawmqtt.Ack(rawmqtt.HeaderPuback, toC.ID), rawmqtt.Publish{Topic: "to/a", Payload: "c4", QoS: 1, ID: 4}.Bytes())

	if got, want := collect(t, a, toA.Payload, 4), []string{"c1", "c2", "c3", "c4"}; !slices.Equal(got, want) {
		t.Errorf("a got %q, want %q", got, want)
	}
	if got, want := collect(t, c, toC.Payload, 4), []string{"a1", "a2", "a3", "a4"}; !slices.Equal(got, want) {
		t.Errorf("c got %q, want %q", got, want)
	}
}

// collect reads what c is sent until it has had a PUBACK and want QoS 1
// publications (first already read), acknowledging each; it returns their
// payloads in order.
func collect(t *testing.T, c *rawmqtt.Conn, first string, want int) []string {
	t.Helper()
	got := []string{first}
	acked := false
	for len(got) < want || !acked {
		p := c.ExpectPacket(t)
		switch {
		case p.Header == rawmqtt.HeaderPuback:
			acked = true
		case p.Header>>4 == rawmqtt.TypePublish:
			m, err := p.Publish()
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, m.Payload)
			c.Send(t, rawmqtt.Ack(rawmqtt.HeaderPuback, m.ID))
		default:
			t.Fatalf("unexpected packet % x", p.Header)
		}
	}
	return got
}

// TestInflightWindow: with -max-inflight 3 or 4, a burst of 10 QoS 1
// messages reaches a subscriber that acknowledges lazily — one PUBACK, and
// the next only after the next message came — a window at a time, each
// PUBACK letting exactly one more go [MQTT-4.6.0-2], in order, none lost.
func TestInflightWindow(t *testing.T) {
	const n = 10
	for _, inflight := range []int{3, 4} {
		t.Run(strconv.Itoa(inflight), func(t *testing.T) {
			b := start(t, func(c *options.Options) { c.MaxInflight = inflight })
			sub := connect(t, b.addr, "lazysub", 30)
			sub.SubscribeGranted(t, 1, "lazy/#")
			pub := connect(t, b.addr, "lazypub", 30)
			burst := make([][]byte, 0, n)
			for i := range n {
				burst = append(burst, rawmqtt.Publish{Topic: "lazy/x", Payload: strconv.Itoa(i), QoS: 1, ID: uint16(i + 1)}.Bytes())
			}
			pub.Send(t, burst...)
			for i := range n {
				pub.ExpectAck(t, rawmqtt.HeaderPuback, uint16(i+1))
			}

			var got []rawmqtt.Publish
			receive := func(want int) {
				t.Helper()
				for range want {
					got = append(got, sub.ExpectPlainPublish(t, 1))
				}
				sub.ExpectSilence(t, 200*time.Millisecond)
			}
			receive(inflight)
			sub.Send(t, rawmqtt.Ack(rawmqtt.HeaderPuback, got[0].ID))
			receive(1)
			for i := 1; len(got) < n; i++ {
				sub.Send(t, rawmqtt.Ack(rawmqtt.HeaderPuback, got[i].ID))
				got = append(got, sub.ExpectPlainPublish(t, 1))
			}
			var order string
			for _, m := range got {
				order += m.Payload
			}
			if order != "0123456789" {
				t.Errorf("messages arrived as %q, want 0123456789", order)
			}
		})
	}
}
