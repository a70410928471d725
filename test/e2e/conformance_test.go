package e2e

import (
	"testing"
	"time"

	"github.com/forkmq/forkmq/internal/rawmqtt"
)

// TestConformanceEdges checks server obligations the other tests leave out.
func TestConformanceEdges(t *testing.T) {
	forEachEngine(t, func(t *testing.T, engine string) {
		b := startBroker(t, withEngine(engine))

		t.Run("RefusedConnectThenNothing", func(t *testing.T) {
			// [MQTT-3.1.4-5] nothing the client sends after a refused
			// CONNECT is processed: a PUBLISH pipelined behind it reaches
			// no subscriber.
			w := watch(t, b, "conf/refused")
			defer w.Close()
			c := rawmqtt.MQTT311(newClientID("lvl9"))
			c.Level = 9
			rc := rawmqtt.Open(t, b.Addr)
			rc.Send(t, append(c.Bytes(), rawmqtt.Publish{Topic: "conf/refused", Payload: "must not pass"}.Bytes()...))
			rc.ExpectConnack(t, rawmqtt.RefusedProtocolVersion, false)
			rc.ExpectClosed(t, ioTimeout)
			w.ExpectSilence(t, 500*time.Millisecond) // a PUBLISH behind a refused CONNECT must not be routed
		})

		t.Run("NoWillFlagNoWill", func(t *testing.T) {
			// [MQTT-3.1.2-12] without the will flag no will is published,
			// even when the connection ends abnormally.
			w := watch(t, b, "#")
			defer w.Close()
			rc := rawmqtt.Connected(t, b.Addr, rawmqtt.MQTT311(newClientID("nowill")))
			rc.Close()                               // dropped without DISCONNECT
			w.ExpectSilence(t, 700*time.Millisecond) // a client without a will must cause no publication
		})

		t.Run("DisconnectWithReservedFlags", func(t *testing.T) {
			// [MQTT-3.14.1-1] a DISCONNECT whose reserved flags are not 0
			// is malformed: the connection is closed [MQTT-4.8.0-1], and
			// since no valid DISCONNECT arrived the will is published
			// [MQTT-3.1.2-8].
			w := watch(t, b, "conf/will/#")
			defer w.Close()
			rc, _ := connectWithWill(t, b, "conf/will/bad-disconnect", "gone")
			rc.Send(t, []byte{rawmqtt.HeaderDisconnect | 0x01, 0})
			rc.ExpectClosed(t, ioTimeout)
			if m := w.ExpectPublish(t); m.Topic != "conf/will/bad-disconnect" || m.Payload != "gone" {
				t.Errorf("will: got %v", m)
			}
		})
	})
}
