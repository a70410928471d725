package e2e

import (
	"testing"
)

// TestConnectRules checks the CONNECT and CONNACK rules of MQTT 3.1.1 with a
// raw client, one scenario per subtest on one broker.
func TestConnectRules(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, engine string) {
		// The subtests run in parallel after this function returns; the
		// broker's cleanup runs after all of them.
		b := startBroker(t, withEngine(engine))
		// [MQTT-3.1.0-1]: the first packet must be CONNECT; anything else
		// closes the connection without an answer.
		for name, first := range map[string][]byte{
			"PINGREQ":   pingreqBytes,
			"PUBLISH":   publishBytes("conn/x", []byte("early")),
			"SUBSCRIBE": subscribeBytes(1, 0, "conn/#"),
		} {
			t.Run("FirstPacket"+name, func(t *testing.T) {
				t.Parallel()
				rc := dialRaw(t, b)
				rc.send(t, first)
				rc.expectClosed(t, ioTimeout)
			})
		}

		// [MQTT-3.1.0-2]: a second CONNECT is a protocol violation.
		t.Run("SecondConnect", func(t *testing.T) {
			t.Parallel()
			c := mqtt311(newClientID("twice"))
			rc := connectRaw(t, b, c)
			rc.send(t, c.bytes())
			rc.expectClosed(t, ioTimeout)
		})

		// [MQTT-3.1.2-2]: an unsupported protocol level gets CONNACK 1,
		// then the connection is closed [MQTT-3.2.2-5]. Once with an
		// MQTT 5 client's real layout (a property length before the
		// client identifier), once with the 3.1.1 layout.
		t.Run("ProtocolLevel5", func(t *testing.T) {
			t.Parallel()
			v5 := pkt(hdrConnect,
				str("MQTT"), // protocol name
				[]byte{5},   // protocol level 5
				[]byte{flagClean},
				u16(30),          // keep alive
				[]byte{0},        // MQTT 5 property length 0
				str("v5-client")) // client identifier
			rc := dialRaw(t, b)
			rc.send(t, v5)
			rc.expectConnack(t, connBadProtocolVersion)
			rc.expectClosed(t, ioTimeout)
		})
		t.Run("ProtocolLevel5In311Layout", func(t *testing.T) {
			t.Parallel()
			c := mqtt311(newClientID("lvl5"))
			c.level = 5
			connectRefused(t, b, c.bytes(), connBadProtocolVersion)
		})

		// [MQTT-3.1.2-3]: the reserved connect flag must be 0.
		t.Run("ReservedFlag", func(t *testing.T) {
			t.Parallel()
			c := mqtt311(newClientID("rsvd"))
			c.flags |= flagReserved
			rc := dialRaw(t, b)
			rc.send(t, c.bytes())
			rc.expectRefused(t)
		})

		// [MQTT-3.1.3-6], [MQTT-3.1.3-7]: a zero-length client identifier
		// with clean session 1 is accepted and the server assigns a unique
		// identifier. Two such clients at once must both work.
		t.Run("EmptyClientIDCleanSession", func(t *testing.T) {
			t.Parallel()
			a := connectRaw(t, b, mqtt311(""))
			c := connectRaw(t, b, mqtt311(""))
			a.subscribe(t, "conn/anon/a")
			c.subscribe(t, "conn/anon/c")
			a.send(t, publishBytes("conn/anon/c", []byte("to c")))
			c.send(t, publishBytes("conn/anon/a", []byte("to a")))
			if topic, payload := c.expectPublish(t); topic != "conn/anon/c" || string(payload) != "to c" {
				t.Errorf("second anonymous client got %q %q", topic, payload)
			}
			if topic, payload := a.expectPublish(t); topic != "conn/anon/a" || string(payload) != "to a" {
				t.Errorf("first anonymous client got %q %q", topic, payload)
			}
		})

		// [MQTT-3.1.3-8]: a zero-length client identifier with clean
		// session 0 gets CONNACK 2, then the connection is closed.
		t.Run("EmptyClientIDPersistentSession", func(t *testing.T) {
			t.Parallel()
			c := mqtt311("")
			c.flags = 0
			connectRefused(t, b, c.bytes(), connIdentifierRejected)
		})

		// MQTT 3.1 clients ("MQIsdp", level 3) are accepted and served.
		t.Run("MQIsdp3", func(t *testing.T) {
			t.Parallel()
			c := mqtt311(newClientID("v31"))
			c.protoName, c.level = "MQIsdp", 3
			rc := connectRaw(t, b, c)
			rc.send(t, pingreqBytes)
			rc.expect(t, hdrPingresp)
			rc.subscribe(t, "conn/v31")
			rc.send(t, publishBytes("conn/v31", []byte("old")))
			if topic, payload := rc.expectPublish(t); topic != "conn/v31" || string(payload) != "old" {
				t.Errorf("3.1 client got %q %q", topic, payload)
			}
		})

		// [MQTT-3.2.0-1]: CONNACK is the first packet from the server,
		// even when the client pipelines packets behind its CONNECT; the
		// answers then come in order.
		t.Run("ConnackFirst", func(t *testing.T) {
			t.Parallel()
			rc := dialRaw(t, b)
			rc.send(t, append(append(mqtt311(newClientID("pipe")).bytes(),
				subscribeBytes(packetIDForRawSubscribe, 0, "conn/pipe")...), pingreqBytes...))
			rc.expectConnack(t, connAccepted)
			rc.expect(t, hdrSuback)
			rc.expect(t, hdrPingresp)
		})
	})
}
