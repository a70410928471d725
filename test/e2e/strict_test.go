package e2e

import (
	"testing"
	"time"
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
			defer w.conn.Close()
			for _, tc := range []struct {
				name string
				send func(rc *rawClient)
			}{
				{"client identifier", func(rc *rawClient) { rc.send(t, mqtt311("ctl\x01id").bytes()) }},
				{"user name", func(rc *rawClient) { rc.send(t, connectWithUsername(newClientID("ctl"), "us\u0085er", true)) }},
				{"will topic", func(rc *rawClient) {
					c := mqtt311(newClientID("ctl"))
					c.flags |= flagWill
					c.willTopic, c.willMessage = "strict/w\x7f", "x"
					rc.send(t, c.bytes())
				}},
				{"topic name", func(rc *rawClient) {
					rc.send(t, mqtt311(newClientID("ctl")).bytes())
					rc.expectConnack(t, connAccepted)
					rc.send(t, publishBytes("strict/a\tb", []byte("must not pass")))
				}},
				{"topic filter", func(rc *rawClient) {
					rc.send(t, mqtt311(newClientID("ctl")).bytes())
					rc.expectConnack(t, connAccepted)
					rc.send(t, subscribeBytes(1, 0, "strict/\u009f"))
				}},
			} {
				t.Run(tc.name, func(t *testing.T) {
					rc := dialRaw(t, b)
					tc.send(rc)
					rc.expectClosed(t, ioTimeout) // no CONNACK for a malformed CONNECT [MQTT-3.1.4-1]
				})
			}
			w.expectSilence(t, 300*time.Millisecond) // nothing of the closed connections was routed
		})

		// [MQTT-4.3.2, 4.3.3] an acknowledgement of the wrong kind for the
		// flow it names breaks the protocol: the connection is closed.
		t.Run("WrongAcknowledgement", func(t *testing.T) {
			for _, tc := range []struct {
				name string
				qos  byte
				ack  byte
			}{
				{"PUBREC for a QoS 1 message", 1, hdrPubrec},
				{"PUBCOMP for a QoS 1 message", 1, hdrPubcomp},
				{"PUBACK for a QoS 2 message", 2, hdrPuback},
				{"PUBCOMP for a QoS 2 message before PUBREL", 2, hdrPubcomp},
			} {
				t.Run(tc.name, func(t *testing.T) {
					topic := "strict/ack/" + newClientID("t")
					rc := connectRaw(t, b, mqtt311(newClientID("wrongack")))
					rc.subscribeAt(t, tc.qos, topic)
					connectPublisher(t, b).publish(t, topic, "x", tc.qos, false)
					m := rc.nextPublish(t)
					rc.send(t, ackBytes(tc.ack, m.id))
					rc.expectClosed(t, ioTimeout)
				})
			}
		})

		// A PUBREC for an identifier the server never sent is answered
		// with PUBREL for it (the client may be completing a flow of an
		// earlier connection), and the connection stays open.
		t.Run("PubrecForUnknownID", func(t *testing.T) {
			rc := connectRaw(t, b, mqtt311(newClientID("pubrec")))
			rc.send(t, ackBytes(hdrPubrec, 777))
			rc.expectAck(t, hdrPubrel, 777)
			rc.send(t, pingreqBytes)
			rc.expect(t, hdrPingresp)
		})

		// A client subscribed to what it publishes at QoS 1/2 gets its
		// PUBACK or PUBREC before its own copy of the message.
		t.Run("OwnAcknowledgementFirst", func(t *testing.T) {
			for _, qos := range []byte{1, 2} {
				topic := "strict/own/" + newClientID("t")
				rc := connectRaw(t, b, mqtt311(newClientID("own")))
				rc.subscribeAt(t, qos, topic)
				rc.send(t, pub{topic: topic, payload: "mine", qos: qos, id: 5}.bytes())
				want := map[byte]byte{1: hdrPuback, 2: hdrPubrec}[qos]
				rc.expectAck(t, want, 5)
				if m := rc.nextPublish(t); m.payload != "mine" {
					t.Errorf("QoS %d: own copy %v", qos, m)
				}
			}
		})
	})
}
