package e2e

import (
	"testing"
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
		sub.subscribe(t, 0, "uo/+")
		other := watchAt(t, b, 2, "uo/x", otherMarker)
		p := connectPublisher(t, b)
		step := func(topic, payload string, want []pub) {
			t.Helper()
			p.publish(t, topic, payload, 2, false)
			checkDeliveries(t, "the unsubscribing client", sub.selfFence(t, marker), want)
			var others []pub
			if topic == "uo/x" {
				others = []pub{{topic: topic, payload: payload, qos: 2}}
			}
			checkDeliveries(t, "the other client", other.selfFence(t, otherMarker), others)
		}
		step("uo/x", "both filters", []pub{{topic: "uo/x", payload: "both filters", qos: 2}})
		sub.unsubscribe(t, 21, "uo/#", "uo/X", "uo/x/")
		step("uo/x", "not held", []pub{{topic: "uo/x", payload: "not held", qos: 2}})
		sub.unsubscribe(t, 22, "uo/x")
		step("uo/x", "one filter", []pub{{topic: "uo/x", payload: "one filter"}})
		step("uo/y", "plus", []pub{{topic: "uo/y", payload: "plus"}})
		sub.unsubscribe(t, 23, "uo/+")
		step("uo/x", "none", nil)
		step("uo/y", "none", nil)
		b.assertClean(t, 3)
	})
}
