package e2e

import (
	"strings"
	"testing"

	"github.com/forkmq/forkmq/internal/rawmqtt"
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
				checkDeliveries(t, "the subscriber", []rawmqtt.Delivery{live.Next(t)}, []rawmqtt.Publish{{Topic: topic, Payload: payload, QoS: qos}})
			}
			// [MQTT-3.3.1-5] stored; [MQTT-3.3.1-6] sent to a new
			// subscription with RETAIN 1 [MQTT-3.3.1-8].
			p.Publish(t, rawmqtt.Publish{Topic: topic, Payload: "v1", QoS: 1, Retain: true})
			expectLive("v1", 1)
			checkDeliveries(t, "a new subscription", retainedFor(t, b, 2, topic), []rawmqtt.Publish{{Topic: topic, Payload: "v1", QoS: 1, Retain: true}})
			// [MQTT-3.3.1-7] a QoS 0 retained message replaces it.
			p.Publish(t, rawmqtt.Publish{Topic: topic, Payload: "v2", Retain: true})
			expectLive("v2", 0)
			checkDeliveries(t, "a new subscription", retainedFor(t, b, 2, topic), []rawmqtt.Publish{{Topic: topic, Payload: "v2", Retain: true}})
			// [MQTT-3.3.1-12] RETAIN 0 neither stores nor removes.
			p.Publish(t, rawmqtt.Publish{Topic: topic, Payload: "v3", QoS: 1})
			expectLive("v3", 1)
			checkDeliveries(t, "a new subscription", retainedFor(t, b, 2, topic), []rawmqtt.Publish{{Topic: topic, Payload: "v2", Retain: true}})
			// [MQTT-3.3.1-10] an empty retained payload is forwarded as
			// usual and removes the retained message; [MQTT-3.3.1-11] it
			// is not stored itself.
			p.Publish(t, rawmqtt.Publish{Topic: topic, Payload: "", QoS: 2, Retain: true})
			expectLive("", 2)
			checkDeliveries(t, "a new subscription", retainedFor(t, b, 2, topic), nil)
		})

		// [MQTT-3.3.1-6] a new subscription with wildcards gets every
		// matching retained message [MQTT-4.7], with RETAIN 1, at
		// min(stored, granted) QoS [MQTT-3.3.5-1].
		t.Run("Wildcards", func(t *testing.T) {
			t.Parallel()
			p := connectPublisher(t, b)
			stored := []rawmqtt.Publish{
				{Topic: "retw", Payload: "root", QoS: 2},
				{Topic: "retw/a/x", Payload: "ax", QoS: 1},
				{Topic: "retw/b/x", Payload: "bx", QoS: 2},
				{Topic: "retw/a/y", Payload: "ay", QoS: 0},
			}
			for _, m := range stored {
				p.Publish(t, rawmqtt.Publish{Topic: m.Topic, Payload: m.Payload, QoS: m.QoS, Retain: true})
			}
			for _, sub := range []struct {
				filter string
				qos    byte
			}{{"retw/+/x", 2}, {"retw/#", 1}, {"+/a/+", 0}, {"retw/+", 2}, {"retw/a/x", 0}} {
				var want []rawmqtt.Publish
				for _, m := range stored {
					if matches(sub.filter, m.Topic) {
						want = append(want, rawmqtt.Publish{Topic: m.Topic, Payload: m.Payload, QoS: min(m.QoS, sub.qos), Retain: true})
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
			p.Publish(t, rawmqtt.Publish{Topic: topic, Payload: "keep", QoS: 1, Retain: true})
			marker := newFenceTopic()
			s := watchAt(t, b, 1, topic, marker)
			retained := []rawmqtt.Publish{{Topic: topic, Payload: "keep", QoS: 1, Retain: true}}
			checkDeliveries(t, "the first SUBSCRIBE", s.SelfFence(t, marker), retained)
			s.SubscribeGranted(t, 1, topic)
			checkDeliveries(t, "the second SUBSCRIBE", s.SelfFence(t, marker), retained)
			p.Publish(t, rawmqtt.Publish{Topic: topic, Payload: "live", QoS: 1})
			checkDeliveries(t, "the subscriber", s.SelfFence(t, marker), []rawmqtt.Publish{{Topic: topic, Payload: "live", QoS: 1}})
		})

		// A retained payload larger than a queue message is stored and
		// sent whole.
		t.Run("Large", func(t *testing.T) {
			t.Parallel()
			const topic = "retl/big"
			big := strings.Repeat("0123456789abcdef", 8<<10)
			connectPublisher(t, b).Publish(t, rawmqtt.Publish{Topic: topic, Payload: big, QoS: 1, Retain: true})
			checkDeliveries(t, "a new subscription", retainedFor(t, b, 1, topic), []rawmqtt.Publish{{Topic: topic, Payload: big, QoS: 1, Retain: true}})
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
		want := []rawmqtt.Publish{
			{Topic: "rets/q0", Payload: "zero", Retain: true},
			{Topic: "rets/q1", Payload: "one", QoS: 1, Retain: true},
			{Topic: "rets/q2", Payload: "two", QoS: 2, Retain: true},
			{Topic: "rets/big", Payload: strings.Repeat("big ", 16<<10), QoS: 1, Retain: true},
		}
		for _, m := range want {
			p.Publish(t, rawmqtt.Publish{Topic: m.Topic, Payload: m.Payload, QoS: m.QoS, Retain: true})
		}
		p.Publish(t, rawmqtt.Publish{Topic: "rets/gone", Payload: "deleted", QoS: 1, Retain: true})
		p.Publish(t, rawmqtt.Publish{Topic: "rets/gone", Payload: "", QoS: 1, Retain: true})
		checkDeliveries(t, "before any restart", retainedFor(t, b, 2, "rets/#"), want)

		b.killParent(t)
		b = b.restart(t)
		checkDeliveries(t, "after SIGKILL and restart", retainedFor(t, b, 2, "rets/#"), want)

		b.stop(t)
		b = b.restart(t)
		checkDeliveries(t, "after SIGTERM and restart", retainedFor(t, b, 2, "rets/#"), want)
	})
}
