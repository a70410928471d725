package e2e

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

var clientSeq atomic.Int64

// newClientID returns a client identifier unique in this test binary and at
// most 23 bytes long, the length every server must accept [MQTT-3.1.3-5].
func newClientID(prefix string) string {
	id := fmt.Sprintf("%s-%d", prefix, clientSeq.Add(1))
	if len(id) > 23 {
		id = id[len(id)-23:]
	}
	return id
}

// dialPaho connects a paho client speaking MQTT 3.1.1 with a clean session
// and no automatic reconnect. It may run on any goroutine.
func dialPaho(b *broker, id string, configure ...func(*mqtt.ClientOptions)) (mqtt.Client, error) {
	o := mqtt.NewClientOptions().
		AddBroker("tcp://" + b.Addr).
		SetClientID(id).
		SetProtocolVersion(4).
		SetCleanSession(true).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetConnectTimeout(ioTimeout).
		SetKeepAlive(30 * time.Second)
	for _, f := range configure {
		f(o)
	}
	c := mqtt.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(ioTimeout) {
		return nil, fmt.Errorf("client %s: no CONNACK within %v", id, ioTimeout)
	}
	if err := tok.Error(); err != nil {
		return nil, fmt.Errorf("client %s: connect: %w", id, err)
	}
	return c, nil
}

// connectPaho connects a paho client that disconnects when the test ends.
func connectPaho(t testing.TB, b *broker, id string, configure ...func(*mqtt.ClientOptions)) mqtt.Client {
	t.Helper()
	c, err := dialPaho(b, id, configure...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { leave(c) })
	return c
}

// leave disconnects c if its connection is still open.
func leave(c mqtt.Client) {
	if c.IsConnectionOpen() {
		c.Disconnect(100)
	}
}

// waitToken waits for tok within timeout and fails on its error.
func waitToken(t testing.TB, tok mqtt.Token, timeout time.Duration, what string) {
	t.Helper()
	if !tok.WaitTimeout(timeout) {
		t.Fatalf("%s: not done within %v", what, timeout)
	}
	if err := tok.Error(); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// publish sends a QoS 0 message and waits until paho has written it.
func publish(t testing.TB, c mqtt.Client, topic string, payload []byte) {
	t.Helper()
	if err := pahoPublish(c, topic, payload, 30*time.Second); err != nil {
		t.Fatal(err)
	}
}

// pahoPublish is publish for any goroutine.
func pahoPublish(c mqtt.Client, topic string, payload []byte, timeout time.Duration) error {
	return pahoPublishQoS(c, topic, 0, payload, timeout)
}

// pahoPublishQoS publishes at qos and waits until paho has written the
// message (QoS 0) or completed its flow (QoS 1 and 2).
func pahoPublishQoS(c mqtt.Client, topic string, qos byte, payload []byte, timeout time.Duration) error {
	tok := c.Publish(topic, qos, false, payload)
	if !tok.WaitTimeout(timeout) {
		return fmt.Errorf("publish to %s: not done within %v", abbrev(topic), timeout)
	}
	return tok.Error()
}

// message is one message a subscriber received.
type message struct {
	topic    string
	payload  []byte
	qos      byte
	retained bool
	dup      bool
}

// inbox collects what a paho subscriber receives, in arrival order.
type inbox struct {
	mu   sync.Mutex
	msgs []message
	last mqtt.Message
}

// handle records one received PUBLISH. Paho calls the handler once per
// subscribed filter that matches, with the same Message for one packet, one
// after the other; those calls are one delivery, not duplicates from the
// broker (which would be distinct Messages).
func (in *inbox) handle(_ mqtt.Client, m mqtt.Message) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if m == in.last {
		return
	}
	in.last = m
	in.msgs = append(in.msgs, message{topic: m.Topic(), payload: slices.Clone(m.Payload()),
		qos: m.Qos(), retained: m.Retained(), dup: m.Duplicate()})
}

func (in *inbox) all() []message {
	in.mu.Lock()
	defer in.mu.Unlock()
	return slices.Clone(in.msgs)
}

// waitCount waits until at least n messages arrived and returns them all.
func (in *inbox) waitCount(t testing.TB, n int, timeout time.Duration) []message {
	t.Helper()
	var got []message
	err := eventually(timeout, func() error {
		if got = in.all(); len(got) < n {
			return fmt.Errorf("received %d of %d messages", len(got), n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// subscribe subscribes c to filters at QoS 0 and returns the inbox that
// collects what they match. It checks that SUBACK grants every filter.
func subscribe(t testing.TB, c mqtt.Client, filters ...string) *inbox {
	t.Helper()
	return subscribeQoS(t, c, 0, filters...)
}

// subscribeQoS is subscribe asking for qos; forkmq grants the QoS asked
// for [MQTT-3.8.4-6], and it checks that SUBACK says so.
func subscribeQoS(t testing.TB, c mqtt.Client, qos byte, filters ...string) *inbox {
	t.Helper()
	in := &inbox{}
	m := make(map[string]byte, len(filters))
	for _, f := range filters {
		m[f] = qos
	}
	tok := c.SubscribeMultiple(m, in.handle)
	waitToken(t, tok, ioTimeout, "subscribe")
	for f, code := range tok.(*mqtt.SubscribeToken).Result() {
		if code != qos {
			t.Fatalf("SUBACK for filter %q: %#x, want the QoS asked for, %d", abbrev(f), code, qos)
		}
	}
	return in
}

var fenceSeq atomic.Int64

// fence publishes a unique marker from pub on topic and waits until in has
// it. A publisher's messages reach a subscriber in the order sent (each
// topic is an Ordered Topic [MQTT-4.6.0-5], and forkmq routes one client's
// packets in order), so by then everything pub sent before has arrived or
// never will. It returns what arrived before the marker, markers excluded.
func fence(t testing.TB, pub mqtt.Client, in *inbox, topic string) []message {
	t.Helper()
	marker := fmt.Sprintf("fence-%d", fenceSeq.Add(1))
	publish(t, pub, topic, []byte(marker))
	var before []message
	err := eventually(ioTimeout, func() error {
		before = before[:0]
		for _, m := range in.all() {
			if m.topic == topic && string(m.payload) == marker {
				return nil
			}
			if !strings.HasPrefix(string(m.payload), "fence-") {
				before = append(before, m)
			}
		}
		return fmt.Errorf("fence %s on %q not received", marker, topic)
	})
	if err != nil {
		t.Fatal(err)
	}
	return before
}

// topicsOf lists the topics of msgs.
func topicsOf(msgs []message) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = m.topic
	}
	return out
}

// checkTopics requires who to have received exactly the topics want, in order.
func checkTopics(t testing.TB, who string, got []message, want []string) {
	t.Helper()
	if g := topicsOf(got); !slices.Equal(g, want) {
		t.Errorf("%s received topics %q, want %q", who, abbrevAll(g), abbrevAll(want))
	}
}

func abbrevAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = abbrev(s)
	}
	return out
}

// abbrev shortens very long topic names for messages.
func abbrev(s string) string {
	if len(s) <= 80 {
		return s
	}
	return fmt.Sprintf("%s…(%d bytes)", s[:40], len(s))
}

// matches is the test's own oracle for topic filters [MQTT-4.7]: '+' is one
// level, '#' the rest including the parent level [MQTT-4.7.1-2], and
// wildcards at the start never match a topic starting with '$' [MQTT-4.7.2-1].
func matches(filter, topic string) bool {
	if strings.HasPrefix(topic, "$") && (strings.HasPrefix(filter, "+") || strings.HasPrefix(filter, "#")) {
		return false
	}
	f, tp := strings.Split(filter, "/"), strings.Split(topic, "/")
	for i, level := range f {
		if level == "#" {
			return true
		}
		if i >= len(tp) || (level != "+" && level != tp[i]) {
			return false
		}
	}
	return len(f) == len(tp)
}
