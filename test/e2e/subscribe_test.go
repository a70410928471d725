package e2e

import (
	"encoding/binary"
	"fmt"
	"slices"
	"testing"

	"github.com/forkmq/forkmq/internal/rawmqtt"
)

// TestSubscriptions checks SUBSCRIBE, UNSUBSCRIBE, overlapping filters,
// PINGREQ and DISCONNECT with raw clients, one scenario per subtest on one
// broker. No subtest subscribes to a filter that matches another's topics.
func TestSubscriptions(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, engine string) {
		b := startBroker(t, withEngine(engine))

		// [MQTT-3.8.4-1] SUBSCRIBE is answered by SUBACK with the same
		// packet identifier [MQTT-3.8.4-2] and one return code per filter
		// [MQTT-3.8.4-5], in the filters' order [MQTT-3.9.3-1]: the granted
		// QoS, which may be lower than requested [MQTT-3.8.4-6], or 0x80.
		t.Run("Suback", func(t *testing.T) {
			t.Parallel()
			rc := rawmqtt.Connected(t, b.Addr, rawmqtt.MQTT311(newClientID("suback")))
			const id = 0x1234
			rc.Send(t, rawmqtt.Frame(rawmqtt.HeaderSubscribe,
				rawmqtt.U16(id),                    // packet identifier
				rawmqtt.Str("sub/self"), []byte{0}, // filter, requested QoS 0 (not X/a: OverlappingFilters, in parallel, subscribes to +/a)
				rawmqtt.Str("sub/b/+"), []byte{1}, // QoS 1
				rawmqtt.Str("sub/c/#"), []byte{2})) // QoS 2
			p := rc.Expect(t, rawmqtt.HeaderSuback)
			if len(p.Body) != 2+3 {
				t.Fatalf("SUBACK has %d bytes, want packet identifier and 3 return codes: %v", len(p.Body), p)
			}
			if got := binary.BigEndian.Uint16(p.Body); got != id {
				t.Errorf("SUBACK packet identifier %#x, want %#x", got, id)
			}
			for i, code := range p.Body[2:] {
				if requested := byte(i); code != rawmqtt.SubackFailure && code > requested {
					t.Errorf("return code %d: %#x, want a QoS ≤ %d or 0x80", i, code, requested)
				}
			}
			if p.Body[2] == rawmqtt.SubackFailure {
				t.Fatalf("SUBACK refused a plain filter: %v", p)
			}
			// The granted subscription is in force: a client gets its own
			// message back (3.1.1 has no "no local").
			rc.Send(t, rawmqtt.Publish{Topic: "sub/self", Payload: "self"}.Bytes())
			if m := rc.ExpectPublish(t); m.Topic != "sub/self" || m.Payload != "self" {
				t.Errorf("got %q %q, want sub/self self", m.Topic, m.Payload)
			}
		})

		// [MQTT-3.10.4-4] UNSUBSCRIBE is answered by UNSUBACK with the same
		// packet identifier, [MQTT-3.10.4-5] even when no filter matched;
		// [MQTT-3.10.4-2] the server stops delivering to the filter.
		t.Run("Unsubscribe", func(t *testing.T) {
			t.Parallel()
			rc := watch(t, b, "unsub/1", "unsub/fence")
			rc.Send(t, rawmqtt.Publish{Topic: "unsub/1", Payload: "before"}.Bytes())
			if m := rc.ExpectPublish(t); m.Topic != "unsub/1" {
				t.Fatalf("got %q before UNSUBSCRIBE, want unsub/1", m.Topic)
			}
			for id, filter := range map[uint16]string{11: "unsub/1", 12: "unsub/never-subscribed"} {
				rc.Send(t, rawmqtt.Unsubscribe(id, filter))
				p := rc.Expect(t, rawmqtt.HeaderUnsuback)
				if len(p.Body) != 2 || binary.BigEndian.Uint16(p.Body) != id {
					t.Errorf("UNSUBACK for %q: %v, want packet identifier %d only", filter, p, id)
				}
			}
			rc.Send(t, rawmqtt.Publish{Topic: "unsub/1", Payload: "after"}.Bytes(), rawmqtt.Publish{Topic: "unsub/fence", Payload: "fence"}.Bytes())
			if m := rc.ExpectPublish(t); m.Topic != "unsub/fence" {
				t.Errorf("after UNSUBSCRIBE got %q %q, want only the fence", m.Topic, m.Payload)
			}
		})

		// [MQTT-3.3.5-1] A client whose filters overlap gets a matching
		// message once; another client with one of the filters gets it too.
		t.Run("OverlappingFilters", func(t *testing.T) {
			t.Parallel()
			many := watch(t, b, "ovl/#", "ovl/+", "ovl/a", "+/a", "ovl/a")
			one := watch(t, b, "ovl/a", "ovl/fence")
			pub := rawmqtt.Connected(t, b.Addr, rawmqtt.MQTT311(newClientID("ovlp")))
			pub.Send(t, rawmqtt.Publish{Topic: "ovl/a", Payload: "once"}.Bytes(), rawmqtt.Publish{Topic: "ovl/fence"}.Bytes())
			for name, rc := range map[string]*rawmqtt.Conn{"overlapping": many, "single": one} {
				var got []string
				for topic := ""; topic != "ovl/fence"; {
					topic = rc.ExpectPublish(t).Topic
					got = append(got, topic)
				}
				if want := []string{"ovl/a", "ovl/fence"}; !slices.Equal(got, want) {
					t.Errorf("%s subscriber got %q, want %q", name, got, want)
				}
			}
		})

		// [MQTT-3.12.4-1] PINGREQ is answered by PINGRESP.
		t.Run("Ping", func(t *testing.T) {
			t.Parallel()
			rc := rawmqtt.Connected(t, b.Addr, rawmqtt.MQTT311(newClientID("ping")))
			for range 3 {
				rc.Send(t, rawmqtt.Pingreq())
				if p := rc.Expect(t, rawmqtt.HeaderPingresp); len(p.Body) != 0 {
					t.Errorf("PINGRESP with a body: %v", p)
				}
			}
		})

		// [MQTT-3.14.4-3] After DISCONNECT the server discards the will and
		// closes the connection; [MQTT-3.1.2-8] a connection that just drops
		// publishes it.
		t.Run("DisconnectDiscardsWill", func(t *testing.T) {
			t.Parallel()
			watcher := watch(t, b, "will/orderly/#")
			rc, c := connectWithWill(t, b, "will/orderly/gone", "should not be sent")
			rc.Send(t, rawmqtt.Disconnect())
			rc.ExpectClosed(t, ioTimeout)
			b.disconnectedLine(t, c.ClientID)
			watcher.Send(t, rawmqtt.Publish{Topic: "will/orderly/fence"}.Bytes())
			if m := watcher.ExpectPublish(t); m.Topic != "will/orderly/fence" {
				t.Errorf("after DISCONNECT the watcher got %q %q, want only the fence", m.Topic, m.Payload)
			}
		})
		t.Run("DroppedConnectionSendsWill", func(t *testing.T) {
			t.Parallel()
			watcher := watch(t, b, "will/dropped/#")
			rc, c := connectWithWill(t, b, "will/dropped/gone", "died")
			rc.Close()
			if m := watcher.ExpectPublish(t); m.Topic != c.WillTopic || m.Payload != c.WillMessage {
				t.Errorf("watcher got %q %q, want the will %q %q", m.Topic, m.Payload, c.WillTopic, c.WillMessage)
			}
		})
	})
}

// TestWildcards checks topic filter matching [MQTT-4.7]: per row, a raw
// subscriber with the filter receives exactly the matching topics of what a
// publisher sends. It has its own broker because some filters match all.
func TestWildcards(t *testing.T) {
	t.Parallel()
	rows := []struct {
		filter  string
		match   []string
		noMatch []string
	}{
		// [MQTT-4.7.1-2] '#' matches the parent level and any number of levels.
		{"wc/#", []string{"wc", "wc/b", "wc/b/c", "wc/"}, []string{"wcx", "x/wc", "b"}},
		// [MQTT-4.7.1-3] '+' matches exactly one level, possibly empty.
		{"wc/+", []string{"wc/b", "wc/"}, []string{"wc", "wc/b/c", "x/b"}},
		{"wc/+/c", []string{"wc/b/c", "wc//c"}, []string{"wc/b/d", "wc/b/c/d", "wc/c"}},
		{"+/+", []string{"wc/b", "/b", "wc/"}, []string{"wc", "wc/b/c"}},
		{"/+", []string{"/wc"}, []string{"wc", "wc/b"}},
		{"+", []string{"wc"}, []string{"wc/b", "/wc"}},
		// [MQTT-4.7.2-1] wildcards at the start do not match '$' topics.
		{"#", []string{"wc", "wc/b", "/wc"}, []string{"$SYS/x", "$SYS"}},
		{"+/x", []string{"wc/x"}, []string{"$SYS/x"}},
		{"$SYS/#", []string{"$SYS/x", "$SYS"}, []string{"wc/x", "SYS/x"}},
		// [MQTT-4.7.3-4] matching is case sensitive and exact.
		{"wc/ABC", []string{"wc/ABC"}, []string{"wc/abc", "wc/ABC ", "wc/ABC/"}},
	}
	forEachEngine(t, func(t *testing.T, engine string) {
		b := startBroker(t, withEngine(engine))
		pub := rawmqtt.Connected(t, b.Addr, rawmqtt.MQTT311(newClientID("wcpub")))
		for i, row := range rows {
			t.Run(fmt.Sprintf("%d:%s", i, row.filter), func(t *testing.T) {
				for _, tp := range append(slices.Clone(row.match), row.noMatch...) {
					if want := slices.Contains(row.match, tp); matches(row.filter, tp) != want {
						t.Fatalf("the test's oracle disagrees with its table: %q vs %q", row.filter, tp)
					}
				}
				fenceTopic := fmt.Sprintf("fence/%d", i)
				sub := watch(t, b, row.filter, fenceTopic)
				for _, tp := range append(slices.Clone(row.noMatch), row.match...) {
					pub.Send(t, rawmqtt.Publish{Topic: tp, Payload: tp}.Bytes())
				}
				pub.Send(t, rawmqtt.Publish{Topic: fenceTopic}.Bytes())
				var got []string
				for {
					topic := sub.ExpectPublish(t).Topic
					if topic == fenceTopic {
						break
					}
					got = append(got, topic)
				}
				if !slices.Equal(got, row.match) {
					t.Errorf("filter %q received %q, want %q", row.filter, got, row.match)
				}
				sub.Send(t, rawmqtt.Disconnect())
				sub.ExpectClosed(t, ioTimeout)
			})
		}
	})
}
