package e2e

import (
	"testing"

	"github.com/forkmq/forkmq/internal/rawmqtt"
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
			"PINGREQ":   rawmqtt.Pingreq(),
			"PUBLISH":   rawmqtt.Publish{Topic: "conn/x", Payload: "early"}.Bytes(),
			"SUBSCRIBE": rawmqtt.Subscribe(1, 0, "conn/#"),
		} {
			t.Run("FirstPacket"+name, func(t *testing.T) {
				t.Parallel()
				rc := rawmqtt.Open(t, b.Addr)
				rc.Send(t, first)
				rc.ExpectClosed(t, ioTimeout)
			})
		}

		// [MQTT-3.1.0-2]: a second CONNECT is a protocol violation.
		t.Run("SecondConnect", func(t *testing.T) {
			t.Parallel()
			c := rawmqtt.MQTT311(newClientID("twice"))
			rc := rawmqtt.Connected(t, b.Addr, c)
			rc.Send(t, c.Bytes())
			rc.ExpectClosed(t, ioTimeout)
		})

		// [MQTT-3.1.2-2]: an unsupported protocol level gets CONNACK 1,
		// then the connection is closed [MQTT-3.2.2-5]. Once with an
		// MQTT 5 client's real layout (a property length before the
		// client identifier), once with the 3.1.1 layout.
		t.Run("ProtocolLevel5", func(t *testing.T) {
			t.Parallel()
			v5 := rawmqtt.Frame(rawmqtt.HeaderConnect,
				rawmqtt.Str("MQTT"), // protocol name
				[]byte{5},           // protocol level 5
				[]byte{rawmqtt.ConnectClean},
				rawmqtt.U16(30),          // keep alive
				[]byte{0},                // MQTT 5 property length 0
				rawmqtt.Str("v5-client")) // client identifier
			rc := rawmqtt.Open(t, b.Addr)
			rc.Send(t, v5)
			rc.ExpectConnack(t, rawmqtt.RefusedProtocolVersion, false)
			rc.ExpectClosed(t, ioTimeout)
		})
		t.Run("ProtocolLevel5In311Layout", func(t *testing.T) {
			t.Parallel()
			c := rawmqtt.MQTT311(newClientID("lvl5"))
			c.Level = 5
			rawmqtt.Refused(t, b.Addr, c.Bytes(), rawmqtt.RefusedProtocolVersion)
		})

		// [MQTT-3.1.2-3]: the reserved connect flag must be 0.
		t.Run("ReservedFlag", func(t *testing.T) {
			t.Parallel()
			c := rawmqtt.MQTT311(newClientID("rsvd"))
			c.Flags |= rawmqtt.ConnectReserved
			rc := rawmqtt.Open(t, b.Addr)
			rc.Send(t, c.Bytes())
			rc.ExpectRefused(t)
		})

		// [MQTT-3.1.3-6], [MQTT-3.1.3-7]: a zero-length client identifier
		// with clean session 1 is accepted and the server assigns a unique
		// identifier. Two such clients at once must both work.
		t.Run("EmptyClientIDCleanSession", func(t *testing.T) {
			t.Parallel()
			a := rawmqtt.Connected(t, b.Addr, rawmqtt.MQTT311(""))
			c := rawmqtt.Connected(t, b.Addr, rawmqtt.MQTT311(""))
			a.SubscribeCodes(t, 0, "conn/anon/a")
			c.SubscribeCodes(t, 0, "conn/anon/c")
			a.Send(t, rawmqtt.Publish{Topic: "conn/anon/c", Payload: "to c"}.Bytes())
			c.Send(t, rawmqtt.Publish{Topic: "conn/anon/a", Payload: "to a"}.Bytes())
			if m := c.ExpectPublish(t); m.Topic != "conn/anon/c" || m.Payload != "to c" {
				t.Errorf("second anonymous client got %q %q", m.Topic, m.Payload)
			}
			if m := a.ExpectPublish(t); m.Topic != "conn/anon/a" || m.Payload != "to a" {
				t.Errorf("first anonymous client got %q %q", m.Topic, m.Payload)
			}
		})

		// [MQTT-3.1.3-8]: a zero-length client identifier with clean
		// session 0 gets CONNACK 2, then the connection is closed.
		t.Run("EmptyClientIDPersistentSession", func(t *testing.T) {
			t.Parallel()
			c := rawmqtt.MQTT311("")
			c.Flags = 0
			rawmqtt.Refused(t, b.Addr, c.Bytes(), rawmqtt.RefusedIdentifier)
		})

		// MQTT 3.1 clients ("MQIsdp", level 3) are accepted and served.
		t.Run("MQIsdp3", func(t *testing.T) {
			t.Parallel()
			c := rawmqtt.MQTT311(newClientID("v31"))
			c.ProtocolName, c.Level = "MQIsdp", 3
			rc := rawmqtt.Connected(t, b.Addr, c)
			rc.Send(t, rawmqtt.Pingreq())
			rc.Expect(t, rawmqtt.HeaderPingresp)
			rc.SubscribeCodes(t, 0, "conn/v31")
			rc.Send(t, rawmqtt.Publish{Topic: "conn/v31", Payload: "old"}.Bytes())
			if m := rc.ExpectPublish(t); m.Topic != "conn/v31" || m.Payload != "old" {
				t.Errorf("3.1 client got %q %q", m.Topic, m.Payload)
			}
		})

		// [MQTT-3.2.0-1]: CONNACK is the first packet from the server,
		// even when the client pipelines packets behind its CONNECT; the
		// answers then come in order.
		t.Run("ConnackFirst", func(t *testing.T) {
			t.Parallel()
			rc := rawmqtt.Open(t, b.Addr)
			rc.Send(t, append(append(rawmqtt.MQTT311(newClientID("pipe")).Bytes(),
				rawmqtt.Subscribe(7, 0, "conn/pipe")...), rawmqtt.Pingreq()...))
			rc.ExpectConnack(t, rawmqtt.Accepted, false)
			rc.Expect(t, rawmqtt.HeaderSuback)
			rc.Expect(t, rawmqtt.HeaderPingresp)
		})
	})
}
