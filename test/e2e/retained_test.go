package e2e

import (
	"strings"
	"testing"
)

// TestRetained checks retained messages with raw clients, one scenario per
// subtest on one broker, each under its own topics.
func TestRetained(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, engine string) {
		b := startBroker(t, withEngine(engine))

		t.Run("SetReplaceDelete", func(t *testing.T) {
			t.Parallel()
			const topic = "ret/srd"
			p := connectPublisher(t, b)
			live := watchAt(t, b, 2, topic)
			expectLive := func(payload string, qos byte) {
				t.Helper()
				// [MQTT-3.3.1-9] a current subscriber's copy has RETAIN 0.
				checkDeliveries(t, "the subscriber", []delivery{live.next(t)}, []pub{{topic: topic, payload: payload, qos: qos}})
			}
			// [MQTT-3.3.1-5] stored; [MQTT-3.3.1-6] sent to a new
			// subscription with RETAIN 1 [MQTT-3.3.1-8].
			p.publish(t, topic, "v1", 1, true)
			expectLive("v1", 1)
			checkDeliveries(t, "a new subscription", retainedFor(t, b, 2, topic), []pub{{topic: topic, payload: "v1", qos: 1, retain: true}})
			// [MQTT-3.3.1-7] a QoS 0 retained message replaces it.
			p.publish(t, topic, "v2", 0, true)
			expectLive("v2", 0)
			checkDeliveries(t, "a new subscription", retainedFor(t, b, 2, topic), []pub{{topic: topic, payload: "v2", retain: true}})
			// [MQTT-3.3.1-12] RETAIN 0 neither stores nor removes.
			p.publish(t, topic, "v3", 1, false)
			expectLive("v3", 1)
			checkDeliveries(t, "a new subscription", retainedFor(t, b, 2, topic), []pub{{topic: topic, payload: "v2", retain: true}})
			// [MQTT-3.3.1-10] an empty retained payload is forwarded as
			// usual and removes the retained message; [MQTT-3.3.1-11] it
			// is not stored itself.
			p.publish(t, topic, "", 2, true)
			expectLive("", 2)
			checkDeliveries(t, "a new subscription", retainedFor(t, b, 2, topic), nil)
		})

		// [MQTT-3.3.1-6] a new subscription with wildcards gets every
		// matching retained message [MQTT-4.7], with RETAIN 1, at
		// min(stored, granted) QoS [MQTT-3.3.5-1].
		t.Run("Wildcards", func(t *testing.T) {
			t.Parallel()
			p := connectPublisher(t, b)
			stored := []pub{
				{topic: "retw", payload: "root", qos: 2},
				{topic: "retw/a/x", payload: "ax", qos: 1},
				{topic: "retw/b/x", payload: "bx", qos: 2},
				{topic: "retw/a/y", payload: "ay", qos: 0},
			}
			for _, m := range stored {
				p.publish(t, m.topic, m.payload, m.qos, true)
			}
			for _, sub := range []struct {
				filter string
				qos    byte
			}{{"retw/+/x", 2}, {"retw/#", 1}, {"+/a/+", 0}, {"retw/+", 2}, {"retw/a/x", 0}} {
				var want []pub
				for _, m := range stored {
					if matches(sub.filter, m.topic) {
						want = append(want, pub{topic: m.topic, payload: m.payload, qos: min(m.qos, sub.qos), retain: true})
					}
				}
				checkDeliveries(t, "a QoS "+string('0'+sub.qos)+" subscription to "+sub.filter, retainedFor(t, b, sub.qos, sub.filter), want)
			}
		})

		// [MQTT-3.8.4-3] SUBSCRIBE to a filter already held replaces the
		// subscription and sends the retained messages again; what is
		// published afterwards arrives once.
		t.Run("Resubscribe", func(t *testing.T) {
			t.Parallel()
			const topic = "retr/t"
			p := connectPublisher(t, b)
			p.publish(t, topic, "keep", 1, true)
			marker := newFenceTopic()
			s := watchAt(t, b, 1, topic, marker)
			retained := []pub{{topic: topic, payload: "keep", qos: 1, retain: true}}
			checkDeliveries(t, "the first SUBSCRIBE", s.selfFence(t, marker), retained)
			s.subscribe(t, 1, topic)
			checkDeliveries(t, "the second SUBSCRIBE", s.selfFence(t, marker), retained)
			p.publish(t, topic, "live", 1, false)
			checkDeliveries(t, "the subscriber", s.selfFence(t, marker), []pub{{topic: topic, payload: "live", qos: 1}})
		})

		// A retained payload larger than a queue message is stored and
		// sent whole.
		t.Run("Large", func(t *testing.T) {
			t.Parallel()
			const topic = "retl/big"
			big := strings.Repeat("0123456789abcdef", 8<<10)
			connectPublisher(t, b).publish(t, topic, big, 1, true)
			checkDeliveries(t, "a new subscription", retainedFor(t, b, 1, topic), []pub{{topic: topic, payload: big, qos: 1, retain: true}})
		})
	})
}

// TestRetainedSurvivesRestart: retained messages are kept on disk and sent
// to new subscriptions by the next broker on the same state directory,
// after SIGKILL of the broker and after SIGTERM; a deleted one stays
// deleted [MQTT-3.3.1-5, -10].
func TestRetainedSurvivesRestart(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, engine string) {
		b := startBroker(t, withEngine(engine))
		p := connectPublisher(t, b)
		want := []pub{
			{topic: "rets/q0", payload: "zero", retain: true},
			{topic: "rets/q1", payload: "one", qos: 1, retain: true},
			{topic: "rets/q2", payload: "two", qos: 2, retain: true},
			{topic: "rets/big", payload: strings.Repeat("big ", 16<<10), qos: 1, retain: true},
		}
		for _, m := range want {
			p.publish(t, m.topic, m.payload, m.qos, true)
		}
		p.publish(t, "rets/gone", "deleted", 1, true)
		p.publish(t, "rets/gone", "", 1, true)
		checkDeliveries(t, "before any restart", retainedFor(t, b, 2, "rets/#"), want)

		b.killParent(t)
		b = b.restart(t)
		checkDeliveries(t, "after SIGKILL and restart", retainedFor(t, b, 2, "rets/#"), want)

		b.stop(t)
		b = b.restart(t)
		checkDeliveries(t, "after SIGTERM and restart", retainedFor(t, b, 2, "rets/#"), want)
	})
}
