package e2e

import (
	"testing"
	"time"

	"github.com/forkmq/forkmq/internal/rawmqtt"
)

// TestStrictEdges: where MQTT 3.1.1 lets the server choose, forkmq does what
// mosquitto does, so that clients meet the same behaviour from both. Both
// engines.
func TestStrictEdges(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, engine string) {
		b := startBroker(t, withEngine(engine))

		// [MQTT-1.5.3] a receiver may close the connection on a control
		// character (U+0001–U+001F, U+007F–U+009F) in a UTF-8 string.
		t.Run("ControlCharacters", func(t *testing.T) {
			w := watch(t, b, "strict/#")
			defer w.Close()
			connected := func(rc *rawmqtt.Conn) {
				rc.Send(t, rawmqtt.MQTT311(newClientID("ctl")).Bytes())
				rc.ExpectConnack(t, rawmqtt.Accepted, false)
			}
			for _, tc := range []struct {
				name string
				send func(rc *rawmqtt.Conn)
			}{
				{"client identifier", func(rc *rawmqtt.Conn) { rc.Send(t, rawmqtt.MQTT311("ctl\x01id").Bytes()) }},
				{"user name", func(rc *rawmqtt.Conn) { rc.Send(t, connectWithUsername(newClientID("ctl"), "us\u0085er", true)) }},
				{"will topic", func(rc *rawmqtt.Conn) {
					rc.Send(t, rawmqtt.MQTT311(newClientID("ctl")).WithWill("strict/w\x7f", "x", 0, false).Bytes())
				}},
				{"topic name", func(rc *rawmqtt.Conn) {
					connected(rc)
					rc.Send(t, rawmqtt.Publish{Topic: "strict/a\tb", Payload: "must not pass"}.Bytes())
				}},
				{"topic filter", func(rc *rawmqtt.Conn) {
					connected(rc)
					rc.Send(t, rawmqtt.Subscribe(1, 0, "strict/\u009f"))
				}},
			} {
				t.Run(tc.name, func(t *testing.T) {
					rc := rawmqtt.Open(t, b.Addr)
					tc.send(rc)
					rc.ExpectClosed(t, ioTimeout) // no CONNACK for a malformed CONNECT [MQTT-3.1.4-1]
				})
			}
			w.ExpectSilence(t, 300*time.Millisecond) // nothing of the closed connections was routed
		})

		// [MQTT-4.3.2, 4.3.3] an acknowledgement of the wrong kind for the
		// flow it names breaks the protocol: the connection is closed.
		t.Run("WrongAcknowledgement", func(t *testing.T) {
			for _, tc := range []struct {
				name string
				qos  byte
				ack  byte
			}{
				{"PUBREC for a QoS 1 message", 1, rawmqtt.HeaderPubrec},
				{"PUBCOMP for a QoS 1 message", 1, rawmqtt.HeaderPubcomp},
				{"PUBACK for a QoS 2 message", 2, rawmqtt.HeaderPuback},
				{"PUBCOMP for a QoS 2 message before PUBREL", 2, rawmqtt.HeaderPubcomp},
			} {
				t.Run(tc.name, func(t *testing.T) {
					topic := "strict/ack/" + newClientID("t")
					rc := rawmqtt.Connected(t, b.Addr, rawmqtt.MQTT311(newClientID("wrongack")))
					rc.SubscribeGranted(t, tc.qos, topic)
					connectPublisher(t, b).Publish(t, rawmqtt.Publish{Topic: topic, Payload: "x", QoS: tc.qos})
					m := rc.ExpectPublish(t)
					rc.Send(t, rawmqtt.Ack(tc.ack, m.ID))
					rc.ExpectClosed(t, ioTimeout)
				})
			}
		})

		// A PUBREC for an identifier the server never sent is answered
		// with PUBREL for it (the client may be completing a flow of an
		// earlier connection), and the connection stays open.
		t.Run("PubrecForUnknownID", func(t *testing.T) {
			rc := rawmqtt.Connected(t, b.Addr, rawmqtt.MQTT311(newClientID("pubrec")))
			rc.Send(t, rawmqtt.Ack(rawmqtt.HeaderPubrec, 777))
			rc.ExpectAck(t, rawmqtt.HeaderPubrel, 777)
			rc.Send(t, rawmqtt.Pingreq())
			rc.Expect(t, rawmqtt.HeaderPingresp)
		})

		// A client subscribed to what it publishes at QoS 1/2 gets its
		// PUBACK or PUBREC before its own copy of the message.
		t.Run("OwnAcknowledgementFirst", func(t *testing.T) {
			for _, qos := range []byte{1, 2} {
				topic := "strict/own/" + newClientID("t")
				rc := rawmqtt.Connected(t, b.Addr, rawmqtt.MQTT311(newClientID("own")))
				rc.SubscribeGranted(t, qos, topic)
				rc.Send(t, rawmqtt.Publish{Topic: topic, Payload: "mine", QoS: qos, ID: 5}.Bytes())
				want := map[byte]byte{1: rawmqtt.HeaderPuback, 2: rawmqtt.HeaderPubrec}[qos]
				rc.ExpectAck(t, want, 5)
				if m := rc.ExpectPublish(t); m.Payload != "mine" {
					t.Errorf("QoS %d: own copy %v", qos, m)
				}
			}
		})
	})
}
