package e2e

import (
	"testing"

	"github.com/forkmq/forkmq/internal/rawmqtt"
)

// TestMaxClients: with -max-clients 2 a third client gets CONNACK 3, server
// unavailable (Table 3.1), with session present 0 [MQTT-3.2.2-4], and is
// disconnected [MQTT-3.2.2-5]; the log names the limit; the first two keep
// working and no half-set-up client is left. Once a client leaves, a new
// one is accepted again.
func TestMaxClients(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, engine string) {
		b := startBroker(t, withEngine(engine), withMaxClients(2))
		sub := connectPaho(t, b, newClientID("limsub"))
		in := subscribe(t, sub, "lim/#")
		pub := connectPaho(t, b, newClientID("limpub"))

		rawmqtt.Refused(t, b.Addr, rawmqtt.MQTT311(newClientID("lim3")).Bytes(), rawmqtt.RefusedServerUnavailable)
		l := b.waitLog(t, ioTimeout, "", func(e logEntry) bool { return e.fields["limit"] != nil })
		t.Logf("limit logged: %s", l.raw)

		b.assertClean(t, 2)
		publish(t, pub, "lim/after", []byte("still works"))
		if got := fence(t, pub, in, "lim/fence"); len(got) != 1 || got[0].topic != "lim/after" {
			t.Errorf("after the refusal the subscriber got %q, want [lim/after]", topicsOf(got))
		}

		leave(pub)
		b.assertClean(t, 1)
		rawmqtt.Connected(t, b.Addr, rawmqtt.MQTT311(newClientID("lim4")))
	})
}
