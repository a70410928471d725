package e2e

// Scenario helpers over internal/rawmqtt, the raw client whose packet
// bytes are built field by field, independent of the broker's codec, so
// that a codec bug cannot hide itself (the way mosquitto's broker tests do
// it). The client and its expectations live there; what is here names the
// suite's clients and fences.

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/forkmq/forkmq/internal/rawmqtt"
)

// watch connects a raw client subscribed to filters at QoS 0.
func watch(t testing.TB, b *broker, filters ...string) *rawmqtt.Conn {
	t.Helper()
	rc := rawmqtt.Connected(t, b.Addr, rawmqtt.MQTT311(newClientID("watch")))
	rc.SubscribeCodes(t, 0, filters...)
	return rc
}

// watchAt connects a clean-session subscriber to filters, each granted
// qos.
func watchAt(t testing.TB, b *broker, qos byte, filters ...string) *rawmqtt.Conn {
	t.Helper()
	s := rawmqtt.Connected(t, b.Addr, rawmqtt.MQTT311(newClientID("watch")))
	s.SubscribeGranted(t, qos, filters...)
	return s
}

// connectWithWill connects a raw client that has a QoS 0 will, not
// retained.
func connectWithWill(t testing.TB, b *broker, topic, message string) (*rawmqtt.Conn, rawmqtt.Connect) {
	t.Helper()
	c := rawmqtt.MQTT311(newClientID("will")).WithWill(topic, message, 0, false)
	return rawmqtt.Connected(t, b.Addr, c), c
}

// connectPublisher connects a raw client that publishes.
func connectPublisher(t testing.TB, b *broker) *rawmqtt.Conn {
	t.Helper()
	return rawmqtt.Connected(t, b.Addr, rawmqtt.MQTT311(newClientID("pub")))
}

// publishRounds publishes rounds messages at QoS 1 on prefix+"q1" and as
// many at QoS 2 on prefix+"q2", alternately, the payload the round, each
// flow completed, and returns them as sent.
func publishRounds(t testing.TB, p *rawmqtt.Conn, prefix string, rounds int) []rawmqtt.Publish {
	t.Helper()
	var sent []rawmqtt.Publish
	for i := range rounds {
		for qos := byte(1); qos <= 2; qos++ {
			m := rawmqtt.Publish{Topic: fmt.Sprintf("%sq%d", prefix, qos), Payload: strconv.Itoa(i), QoS: qos}
			p.Publish(t, m)
			sent = append(sent, m)
		}
	}
	return sent
}

// newFenceTopic is a topic for one SelfFence.
func newFenceTopic() string { return fmt.Sprintf("fence/self/%d", fenceSeq.Add(1)) }

// retainedFor subscribes a new client to filter at qos and returns the
// messages it gets before a marker of its own: the retained ones
// [MQTT-3.3.1-6]. The client then leaves.
func retainedFor(t testing.TB, b *broker, qos byte, filter string) []rawmqtt.Delivery {
	t.Helper()
	marker := newFenceTopic()
	s := watchAt(t, b, qos, filter, marker)
	got := s.SelfFence(t, marker)
	s.Settle(t)
	s.Send(t, rawmqtt.Disconnect())
	return got
}

// checkDeliveries requires got to be want in any order, none of them sent
// again (DUP 0).
func checkDeliveries(t testing.TB, who string, got []rawmqtt.Delivery, want []rawmqtt.Publish) {
	t.Helper()
	key := func(m rawmqtt.Publish) string {
		return fmt.Sprintf("%s %q qos=%d retain=%v dup=%v", m.Topic, abbrev(m.Payload), m.QoS, m.Retain, m.Dup)
	}
	var g, w []string
	for _, d := range got {
		g = append(g, key(d.Publish))
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

// payloadsOf lists the payloads of deliveries.
func payloadsOf(ds []rawmqtt.Delivery) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.Payload
	}
	return out
}
