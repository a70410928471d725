package e2e

import (
	"testing"
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
		end       func(t *testing.T, rc *rawClient, c connectFields)
		published bool
	}{
		{name: "KeepAliveTimeout", qos: 1, keepAlive: 1, published: true,
			end: func(*testing.T, *rawClient, connectFields) {}},
		{name: "TCPDropped", qos: 2, retain: true, published: true,
			end: func(_ *testing.T, rc *rawClient, _ connectFields) { rc.conn.Close() }},
		{name: "ProtocolError", qos: 0, retain: true, published: true,
			end: func(t *testing.T, rc *rawClient, c connectFields) { rc.send(t, c.bytes()) }},
		{name: "RouterKilled", qos: 1, retain: true, kill: "router", published: true},
		{name: "DelivererKilled", qos: 2, kill: "deliverer", published: true},
		{name: "Disconnect", qos: 2, retain: true, published: false,
			end: func(t *testing.T, rc *rawClient, _ connectFields) { rc.send(t, disconnectBytes) }},
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
				c := withWill(mqtt311(newClientID("will")), topic, "gone: "+tc.name, tc.qos, tc.retain)
				c.keepAlive = tc.keepAlive
				rc := connectRaw(t, b, c)
				if tc.kill != "" {
					b.killWorker(t, b.connectedLine(t, c.clientID), tc.kill)
				} else {
					tc.end(t, rc, c)
				}
				rc.expectClosed(t, ioTimeout)
				// The will, if any, is routed before the broker logs the end.
				l := b.disconnectedLine(t, c.clientID)
				if v, ok := l.fields["will_published"]; ok && v != tc.published {
					t.Errorf("disconnect line says will_published %v, want %v: %s", v, tc.published, l.raw)
				}
				var forwarded, retained []pub
				if tc.published {
					forwarded = []pub{{topic: topic, payload: c.willMessage, qos: tc.qos}}
					if tc.retain {
						retained = []pub{{topic: topic, payload: c.willMessage, qos: tc.qos, retain: true}}
					}
				}
				checkDeliveries(t, "the watcher", watcher.selfFence(t, marker), forwarded)
				checkDeliveries(t, "a later subscription", retainedFor(t, b, 2, topic), retained)
			})
		}
	})
}
