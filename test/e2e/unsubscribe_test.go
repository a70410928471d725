package e2e

import (
	"testing"

	"github.com/forkmq/forkmq/internal/rawmqtt"
)

// TestUnsubscribeOverlapping: a client holds "uo/x" at QoS 2 and "uo/+" at
// QoS 0; a message to uo/x arrives once at the higher QoS [MQTT-3.3.5-1].
// UNSUBSCRIBE of a filter it does not hold changes nothing (filters compare
// character by character [MQTT-3.10.4-1]); UNSUBSCRIBE of "uo/x" stops that
// filter only [MQTT-3.10.4-2]: uo/x then arrives through "uo/+" at QoS 0.
// Another client's identical filter is unaffected. Each UNSUBSCRIBE is
// answered with UNSUBACK [MQTT-3.10.4-4].
func TestUnsubscribeOverlapping(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, engine string) {
		b := startBroker(t, withEngine(engine))
		marker, otherMarker := newFenceTopic(), newFenceTopic()
		sub := watchAt(t, b, 2, "uo/x", marker)
		sub.SubscribeGranted(t, 0, "uo/+")
		other := watchAt(t, b, 2, "uo/x", otherMarker)
		p := connectPublisher(t, b)
		step := func(topic, payload string, want []rawmqtt.Publish) {
			t.Helper()
			p.Publish(t, rawmqtt.Publish{Topic: topic, Payload: payload, QoS: 2})
			checkDeliveries(t, "the unsubscribing client", sub.SelfFence(t, marker), want)
			var others []rawmqtt.Publish
			if topic == "uo/x" {
				others = []rawmqtt.Publish{{Topic: topic, Payload: payload, QoS: 2}}
			}
			checkDeliveries(t, "the other client", other.SelfFence(t, otherMarker), others)
		}
		step("uo/x", "both filters", []rawmqtt.Publish{{Topic: "uo/x", Payload: "both filters", QoS: 2}})
		sub.UnsubscribeAcked(t, 21, "uo/#", "uo/X", "uo/x/")
		step("uo/x", "not held", []rawmqtt.Publish{{Topic: "uo/x", Payload: "not held", QoS: 2}})
		sub.UnsubscribeAcked(t, 22, "uo/x")
		step("uo/x", "one filter", []rawmqtt.Publish{{Topic: "uo/x", Payload: "one filter"}})
		step("uo/y", "plus", []rawmqtt.Publish{{Topic: "uo/y", Payload: "plus"}})
		sub.UnsubscribeAcked(t, 23, "uo/+")
		step("uo/x", "none", nil)
		step("uo/y", "none", nil)
		b.assertClean(t, 3)
	})
}
