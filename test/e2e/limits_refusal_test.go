package e2e

// The broker's limits, one broker each: what is past a limit is refused the
// way MQTT 3.1.1 allows (a SUBACK failure code, a CONNACK refusal, or the
// connection closed), logged, and nothing else is disturbed. -max-clients
// is TestMaxClients's.

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/forkmq/forkmq/internal/rawmqtt"
)

// limitRefusedLine waits for the router's line for a request a limit
// refused; request is "PUBLISH" or "SUBSCRIBE <filter>".
func limitRefusedLine(t testing.TB, b *broker, clientID, request string) logEntry {
	t.Helper()
	l := b.waitLog(t, ioTimeout, "request refused", func(e logEntry) bool {
		return e.str("client_id") == clientID && e.str("request") == request
	})
	if l.str("level") != "warn" || !strings.Contains(l.str("error"), "-max-") {
		t.Errorf("want a warning naming the flag: %s", l.raw)
	}
	return l
}

// nextPayload reads the next PUBLISH and returns its payload.
func nextPayload(t testing.TB, rc *rawmqtt.Conn) string {
	t.Helper()
	return rc.ExpectPublish(t).Payload
}

// expectPayloads requires the next PUBLISHes to carry want, in order:
// nothing else was routed to rc in between.
func expectPayloads(t testing.TB, rc *rawmqtt.Conn, want ...string) {
	t.Helper()
	for _, w := range want {
		if got := nextPayload(t, rc); got != w {
			t.Errorf("got %q, want %q (a message that should not have been routed came first?)", abbrev(got), w)
		}
	}
}

// TestPacketSizeLimit: with -max-packet-size 1024 a PUBLISH of 1024 bytes
// is routed; one of 1025 bytes or more closes the connection at once
// [MQTT-4.8.0-1] (3.1.1 has no other answer to a packet the server will not
// take), is not routed, and the session's end is logged.
func TestPacketSizeLimit(t *testing.T) {
	t.Parallel()
	const limit = 1024
	onProcessEngine(t, func(t *testing.T) {
		b := startBroker(t, brokerFlags("-max-packet-size", "1024"))
		sub := watch(t, b, "lim/size")
		pub := rawmqtt.Connected(t, b.Addr, rawmqtt.MQTT311(newClientID("sizepub")))

		// A PUBLISH of exactly `size` bytes: 1 header byte, 2 bytes of
		// remaining length, 2+8 bytes of topic, then the payload.
		publishOf := func(size int) []byte {
			p := rawmqtt.Publish{Topic: "lim/size", Payload: strings.Repeat("x", size-1-2-2-len("lim/size"))}.Bytes()
			if len(p) != size {
				t.Fatalf("built a PUBLISH of %d bytes, want %d", len(p), size)
			}
			return p
		}
		pub.Send(t, publishOf(limit))
		if got := nextPayload(t, sub); len(got) != limit-13 {
			t.Errorf("subscriber got %d payload bytes, want %d", len(got), limit-13)
		}

		tooLarge := func(t *testing.T, size int) {
			c := rawmqtt.MQTT311(newClientID("bigpub"))
			big := rawmqtt.Connected(t, b.Addr, c)
			big.Send(t, publishOf(size))
			big.ExpectClosed(t, ioTimeout)
			l := b.waitLog(t, ioTimeout, "session ended", func(e logEntry) bool { return e.str("client_id") == c.ClientID })
			if l.str("end") != "protocol error" || !strings.Contains(l.str("error"), "too large") {
				t.Errorf("a PUBLISH of %d bytes: want the end logged as a protocol error, packet too large: %s", size, l.raw)
			}
			pub.Send(t, rawmqtt.Publish{Topic: "lim/size", Payload: "after"}.Bytes())
			expectPayloads(t, sub, "after")
		}
		t.Run("Larger", func(t *testing.T) {
			tooLarge(t, limit+5) // remaining length past the limit too
			tooLarge(t, 4*limit)
		})
		t.Run("OneByteOver", func(t *testing.T) {
			tooLarge(t, limit+1)
		})
		b.assertClean(t, 2)
	})
}

// TestInflightLimit: with -max-inflight N a subscriber that does not
// acknowledge gets N QoS 1 messages and then no more; each PUBACK lets
// exactly one more through, in order [MQTT-4.6.0-6]; once it acknowledges
// everything, it has all 10, each once. With N = 4 the subscriber's router
// may hold up to 2 acknowledgements of a clean session back from its
// deliverer (to save it a wake-up); the deliverer, its window full, asks for
// them, so the first PUBACK still lets one more through at once.
func TestInflightLimit(t *testing.T) {
	t.Parallel()
	const n = 10
	onProcessEngine(t, func(t *testing.T) {
		for _, inflight := range []int{3, 4} {
			t.Run(fmt.Sprintf("MaxInflight%d", inflight), func(t *testing.T) {
				t.Parallel()
				inflightLimit(t, inflight, n)
			})
		}
	})
}

func inflightLimit(t *testing.T, inflight, n int) {
	b := startBroker(t, brokerFlags("-max-inflight", strconv.Itoa(inflight)))
	sub := rawmqtt.Connected(t, b.Addr, rawmqtt.MQTT311(newClientID("inflsub")))
	sub.Send(t, rawmqtt.Subscribe(1, 1, "lim/inflight"))
	sub.Expect(t, rawmqtt.HeaderSuback)
	pub := rawmqtt.Connected(t, b.Addr, rawmqtt.MQTT311(newClientID("inflpub")))
	for i := range n {
		pub.Send(t, rawmqtt.Publish{Topic: "lim/inflight", Payload: strconv.Itoa(i), QoS: 1, ID: uint16(i + 1)}.Bytes())
		pub.Expect(t, rawmqtt.HeaderPuback)
	}

	var got []rawmqtt.Publish
	receive := func(want int) {
		t.Helper()
		for range want {
			got = append(got, sub.ExpectPlainPublish(t, 1))
		}
		if p, err := sub.Read(300 * time.Millisecond); err == nil {
			t.Fatalf("with %d of %d unacknowledged, a message past -max-inflight %d came: %v", len(got), n, inflight, p)
		}
	}
	receive(inflight)
	sub.Send(t, rawmqtt.Ack(rawmqtt.HeaderPuback, got[0].ID))
	receive(1)
	for _, m := range got[1:] {
		sub.Send(t, rawmqtt.Ack(rawmqtt.HeaderPuback, m.ID))
	}
	for len(got) < n {
		m := sub.ExpectPlainPublish(t, 1)
		sub.Send(t, rawmqtt.Ack(rawmqtt.HeaderPuback, m.ID))
		got = append(got, m)
	}
	var order string
	ids := map[uint16]bool{}
	for _, m := range got {
		order += m.Payload
		ids[m.ID] = true
	}
	if order != "0123456789" {
		t.Errorf("messages arrived as %q, want 0123456789", order)
	}
	if len(ids) < inflight {
		t.Errorf("in-flight messages share packet identifiers: %v", ids)
	}
	b.assertClean(t, 2)
}

// TestSubscriptionLimit: with -max-subscriptions 3 a SUBSCRIBE of 5 filters
// gets a SUBACK with a return code per filter, in order: granted for the
// first 3, 0x80 for the rest [MQTT-3.8.4-5, MQTT-3.9.3-1]. A refused filter
// routes nothing; replacing a held filter takes no new slot
// [MQTT-3.8.4-3]; after UNSUBSCRIBE a new filter fits. Each refusal is
// logged.
func TestSubscriptionLimit(t *testing.T) {
	t.Parallel()
	onProcessEngine(t, func(t *testing.T) {
		b := startBroker(t, brokerFlags("-max-subscriptions", "3"))
		c := rawmqtt.MQTT311(newClientID("subslim"))
		sub := rawmqtt.Connected(t, b.Addr, c)
		codes := sub.SubscribeCodes(t, 0, "lim/1", "lim/2", "lim/3", "lim/4", "lim/5")
		if want := []byte{0, 0, 0, rawmqtt.SubackFailure, rawmqtt.SubackFailure}; !slices.Equal(codes, want) {
			t.Fatalf("SUBACK codes % x, want % x", codes, want)
		}
		limitRefusedLine(t, b, c.ClientID, "SUBSCRIBE lim/4")
		limitRefusedLine(t, b, c.ClientID, "SUBSCRIBE lim/5")

		pub := rawmqtt.Connected(t, b.Addr, rawmqtt.MQTT311(newClientID("subspub")))
		pub.Send(t, rawmqtt.Publish{Topic: "lim/4", Payload: "refused filter"}.Bytes(), rawmqtt.Publish{Topic: "lim/3", Payload: "held filter"}.Bytes())
		expectPayloads(t, sub, "held filter")
		if codes := sub.SubscribeCodes(t, 0, "lim/1"); !slices.Equal(codes, []byte{0}) {
			t.Errorf("replacing a held filter: SUBACK % x, want 00", codes)
		}
		sub.Send(t, rawmqtt.Unsubscribe(2, "lim/1"))
		sub.Expect(t, rawmqtt.HeaderUnsuback)
		if codes := sub.SubscribeCodes(t, 0, "lim/4"); !slices.Equal(codes, []byte{0}) {
			t.Errorf("after UNSUBSCRIBE: SUBACK % x, want 00", codes)
		}
		pub.Send(t, rawmqtt.Publish{Topic: "lim/4", Payload: "now held"}.Bytes())
		expectPayloads(t, sub, "now held")
		b.assertClean(t, 2)
	})
}

// TestTopicLimits: with -max-topic-length 32 and -max-topic-levels 3, a
// filter at either bound is granted and one past it gets 0x80
// [MQTT-3.8.4-5]; a PUBLISH to a topic at the bounds is routed, and one
// past either closes the connection [MQTT-4.8.0-1] without being routed.
// Each refusal is logged.
func TestTopicLimits(t *testing.T) {
	t.Parallel()
	onProcessEngine(t, func(t *testing.T) {
		b := startBroker(t, brokerFlags("-max-topic-length", "32", "-max-topic-levels", "3"))
		long := "lim/" + strings.Repeat("x", 28) // 32 bytes
		c := rawmqtt.MQTT311(newClientID("topiclim"))
		sub := rawmqtt.Connected(t, b.Addr, c)
		codes := sub.SubscribeCodes(t, 0, long, long+"y", "lim/a/b", "lim/a/b/c", "lim/+/#", "lim/+/+/#")
		if want := []byte{0, rawmqtt.SubackFailure, 0, rawmqtt.SubackFailure, 0, rawmqtt.SubackFailure}; !slices.Equal(codes, want) {
			t.Fatalf("SUBACK codes % x, want % x", codes, want)
		}
		for _, f := range []string{long + "y", "lim/a/b/c", "lim/+/+/#"} {
			limitRefusedLine(t, b, c.ClientID, "SUBSCRIBE "+f)
		}

		pub := rawmqtt.Connected(t, b.Addr, rawmqtt.MQTT311(newClientID("topicpub")))
		pub.Send(t, rawmqtt.Publish{Topic: long, Payload: "32 bytes"}.Bytes(), rawmqtt.Publish{Topic: "lim/a/b", Payload: "3 levels"}.Bytes())
		expectPayloads(t, sub, "32 bytes", "3 levels")
		for _, topic := range []string{long + "y", "lim/a/b/c"} {
			pc := rawmqtt.MQTT311(newClientID("toolong"))
			rc := rawmqtt.Connected(t, b.Addr, pc)
			rc.Send(t, rawmqtt.Publish{Topic: topic, Payload: "past a limit"}.Bytes())
			rc.ExpectClosed(t, ioTimeout)
			limitRefusedLine(t, b, pc.ClientID, "PUBLISH")
		}
		pub.Send(t, rawmqtt.Publish{Topic: "lim/a/b", Payload: "after"}.Bytes())
		expectPayloads(t, sub, "after")
		b.assertClean(t, 2)
	})
}

// TestAcceptRateLimit: with -max-accept-rate 0.5 and -accept-burst 3, three
// connections at once are served; the next ones get CONNACK 3, server
// unavailable, with session present 0 [MQTT-3.2.2-4], and are closed
// [MQTT-3.2.2-5]. Refusals are logged at most once a second per limit,
// each line counting those held back since the one before. Both engines.
func TestAcceptRateLimit(t *testing.T) {
	t.Parallel()
	const burst, quick = 3, 5
	forEachEngine(t, func(t *testing.T, engine string) {
		b := startBroker(t, withEngine(engine), brokerFlags("-max-accept-rate", "0.5", "-accept-burst", "3"))
		for range burst {
			rawmqtt.Connected(t, b.Addr, rawmqtt.MQTT311(newClientID("burst")))
		}
		start := time.Now()
		for range quick {
			rawmqtt.Refused(t, b.Addr, rawmqtt.MQTT311(newClientID("over")).Bytes(), rawmqtt.RefusedServerUnavailable)
		}
		if took := time.Since(start); took > 900*time.Millisecond {
			t.Skipf("%d refusals took %v (an overloaded machine): the one-line-a-second check needs them within a second", quick, took)
		}
		time.Sleep(time.Until(start.Add(1100 * time.Millisecond))) // into the next second of log lines; still no token
		rawmqtt.Refused(t, b.Addr, rawmqtt.MQTT311(newClientID("over")).Bytes(), rawmqtt.RefusedServerUnavailable)

		var lines []logEntry
		mustEventually(t, ioTimeout, func() error {
			lines = slices.DeleteFunc(b.logLines("client refused: server unavailable"), func(e logEntry) bool {
				return e.str("limit") != "-max-accept-rate"
			})
			if len(lines) < 2 {
				return fmt.Errorf("%d refusal lines for -max-accept-rate, want 2", len(lines))
			}
			return nil
		})
		if len(lines) != 2 || lines[0].int("refused_since_last_line") != 0 || lines[1].int("refused_since_last_line") != quick-1 {
			for _, l := range lines {
				t.Log(l.raw)
			}
			t.Errorf("want 2 throttled lines, the second counting the %d refusals held back", quick-1)
		}
		if lines[0].str("fix") == "" || lines[0].str("level") != "warn" {
			t.Errorf("the refusal line lacks the fix or is not a warning: %s", lines[0].raw)
		}
		b.assertClean(t, burst)
	})
}
