package e2e

import (
	"testing"
	"time"
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
			defer w.conn.Close()
			c := mqtt311(newClientID("lvl9"))
			c.level = 9
			rc := dialRaw(t, b)
			rc.send(t, append(c.bytes(), publishBytes("conf/refused", []byte("must not pass"))...))
			rc.expectConnack(t, connBadProtocolVersion)
			rc.expectClosed(t, ioTimeout)
			w.expectSilence(t, 500*time.Millisecond) // a PUBLISH behind a refused CONNECT must not be routed
		})

		t.Run("NoWillFlagNoWill", func(t *testing.T) {
			// [MQTT-3.1.2-12] without the will flag no will is published,
			// even when the connection ends abnormally.
			w := watch(t, b, "#")
			defer w.conn.Close()
			rc := connectRaw(t, b, mqtt311(newClientID("nowill")))
			rc.conn.Close()                          // dropped without DISCONNECT
			w.expectSilence(t, 700*time.Millisecond) // a client without a will must cause no publication
		})

		t.Run("DisconnectWithReservedFlags", func(t *testing.T) {
			// [MQTT-3.14.1-1] a DISCONNECT whose reserved flags are not 0
			// is malformed: the connection is closed [MQTT-4.8.0-1], and
			// since no valid DISCONNECT arrived the will is published
			// [MQTT-3.1.2-8].
			w := watch(t, b, "conf/will/#")
			defer w.conn.Close()
			rc, _ := connectWithWill(t, b, "conf/will/bad-disconnect", "gone")
			rc.send(t, []byte{hdrDisconnect | 0x01, 0})
			rc.expectClosed(t, ioTimeout)
			topic, payload := w.expectPublish(t)
			if topic != "conf/will/bad-disconnect" || string(payload) != "gone" {
				t.Errorf("will: got %q %q", topic, payload)
			}
		})
	})
}
