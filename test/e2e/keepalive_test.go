package e2e

import (
	"testing"
	"time"

	"github.com/forkmq/forkmq/internal/rawmqtt"
)

// TestKeepAlive: [MQTT-3.1.2-24] a client silent for one and a half times
// its keep-alive is disconnected; a client that pings in time stays.
func TestKeepAlive(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, engine string) {
		b := startBroker(t, withEngine(engine))

		t.Run("SilentClientIsDisconnected", func(t *testing.T) {
			t.Parallel()
			c := rawmqtt.MQTT311(newClientID("silent"))
			c.KeepAlive = 1
			rc := rawmqtt.Connected(t, b.Addr, c)
			// 1.5 × 1 s, plus slack for a loaded machine; never before 1 s.
			took := rc.ExpectClosed(t, 4*time.Second)
			if took <= time.Second || took >= 2500*time.Millisecond {
				t.Errorf("silent client with keep-alive 1 s was disconnected after %v, want within (1 s, 2.5 s)", took)
			}
			t.Logf("disconnected after %v: %s", took, b.disconnectedLine(t, c.ClientID).str("reason"))
		})

		t.Run("PingingClientStays", func(t *testing.T) {
			t.Parallel()
			c := rawmqtt.MQTT311(newClientID("pinger"))
			c.KeepAlive = 1
			rc := rawmqtt.Connected(t, b.Addr, c)
			// Three seconds, twice the disconnect threshold, of pings every
			// half second: each is answered and the connection stays.
			sent := time.Now()
			for range 6 {
				time.Sleep(500 * time.Millisecond) // pacing the client, not synchronisation
				if gap := time.Since(sent); gap >= 1500*time.Millisecond {
					t.Fatalf("%v passed between two pings (the machine is overloaded): a disconnect would be right; inconclusive", gap)
				}
				rc.Send(t, rawmqtt.Pingreq())
				sent = time.Now()
				rc.Expect(t, rawmqtt.HeaderPingresp)
			}
			for _, l := range b.logLines("client disconnected") {
				if l.str("client_id") == c.ClientID {
					t.Errorf("pinging client was disconnected: %s", l.raw)
				}
			}
		})
	})
}
