package e2e

import (
	"testing"

	"github.com/forkmq/forkmq/internal/rawmqtt"
)

// TestWills: a connection that ends without DISCONNECT has its will
// published [MQTT-3.1.2-8] once, at the will's QoS, forwarded with RETAIN 0
// [MQTT-3.3.1-9] and retained when the will asks for it [MQTT-3.1.2-17]:
// after a keep-alive timeout [MQTT-3.1.2-24], a dropped TCP connection, a
// protocol error (a second CONNECT [MQTT-3.1.0-2]), and SIGKILL of the
// connection's router or deliverer. After DISCONNECT it is discarded
// unpublished [MQTT-3.1.2-10].
func TestWills(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		qos       byte
		retain    bool
		keepAlive uint16
		kill      string // the worker to SIGKILL (process engine only)
		end       func(t *testing.T, rc *rawmqtt.Conn, c rawmqtt.Connect)
		published bool
	}{
		{name: "KeepAliveTimeout", qos: 1, keepAlive: 1, published: true,
			end: func(*testing.T, *rawmqtt.Conn, rawmqtt.Connect) {}},
		{name: "TCPDropped", qos: 2, retain: true, published: true,
			end: func(_ *testing.T, rc *rawmqtt.Conn, _ rawmqtt.Connect) { rc.Close() }},
		{name: "ProtocolError", qos: 0, retain: true, published: true,
			end: func(t *testing.T, rc *rawmqtt.Conn, c rawmqtt.Connect) { rc.Send(t, c.Bytes()) }},
		{name: "RouterKilled", qos: 1, retain: true, kill: "router", published: true},
		{name: "DelivererKilled", qos: 2, kill: "deliverer", published: true},
		{name: "Disconnect", qos: 2, retain: true, published: false,
			end: func(t *testing.T, rc *rawmqtt.Conn, _ rawmqtt.Connect) { rc.Send(t, rawmqtt.Disconnect()) }},
	}
	forEachEngine(t, func(t *testing.T, engine string) {
		b := startBroker(t, withEngine(engine))
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				if tc.kill != "" {
					requireProcessEngine(t, engine, "a "+tc.kill+" process to kill")
				}
				topic := "will/" + tc.name
				marker := newFenceTopic()
				watcher := watchAt(t, b, 2, topic, marker)
				c := rawmqtt.MQTT311(newClientID("will")).WithWill(topic, "gone: "+tc.name, tc.qos, tc.retain)
				c.KeepAlive = tc.keepAlive
				rc := rawmqtt.Connected(t, b.Addr, c)
				if tc.kill != "" {
					b.killWorker(t, b.connectedLine(t, c.ClientID), tc.kill)
				} else {
					tc.end(t, rc, c)
				}
				rc.ExpectClosed(t, ioTimeout)
				// The will, if any, is routed before the broker logs the end.
				l := b.disconnectedLine(t, c.ClientID)
				if v, ok := l.fields["will_published"]; ok && v != tc.published {
					t.Errorf("disconnect line says will_published %v, want %v: %s", v, tc.published, l.raw)
				}
				var forwarded, retained []rawmqtt.Publish
				if tc.published {
					forwarded = []rawmqtt.Publish{{Topic: topic, Payload: c.WillMessage, QoS: tc.qos}}
					if tc.retain {
						retained = []rawmqtt.Publish{{Topic: topic, Payload: c.WillMessage, QoS: tc.qos, Retain: true}}
					}
				}
				checkDeliveries(t, "the watcher", watcher.SelfFence(t, marker), forwarded)
				checkDeliveries(t, "a later subscription", retainedFor(t, b, 2, topic), retained)
			})
		}
	})
}
