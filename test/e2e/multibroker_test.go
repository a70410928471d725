package e2e

import (
	"strings"
	"testing"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// TestTwoBrokers: two brokers on different ports at once never see each
// other's messages or queues, and stopping one leaves the other working.
func TestTwoBrokers(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, engine string) {
		type side struct {
			b        *broker
			sub, pub mqtt.Client
			in       *inbox
		}
		var sides [2]side
		for i := range sides {
			b := startBroker(t, withEngine(engine))
			sub := connectPaho(t, b, newClientID("twosub"))
			sides[i] = side{b: b, sub: sub, in: subscribe(t, sub, "#"), pub: connectPaho(t, b, newClientID("twopub"))}
		}
		a, b := sides[0], sides[1]
		if a.b.Addr == b.b.Addr {
			t.Fatalf("both brokers listen on %s", a.b.Addr)
		}
		// Queues are the process engine's; their names must not overlap.
		if engine == "process" && (strings.HasPrefix(a.b.QueuePrefix, b.b.QueuePrefix) || strings.HasPrefix(b.b.QueuePrefix, a.b.QueuePrefix)) {
			t.Fatalf("queue prefixes %q and %q overlap", a.b.QueuePrefix, b.b.QueuePrefix)
		}
		// Each sees its own two clients only (2 workers, 1 queue each).
		a.b.assertClean(t, 2)
		b.b.assertClean(t, 2)

		for _, s := range sides {
			publish(t, s.pub, "shared/topic", []byte(s.b.Addr))
		}
		for _, s := range sides {
			got := fence(t, s.pub, s.in, "fence/two")
			if len(got) != 1 || string(got[0].payload) != s.b.Addr {
				t.Errorf("subscriber of %s got %d messages %q, want only its own broker's", s.b.Addr, len(got), payloads(got))
			}
		}

		a.b.stop(t)
		b.b.assertClean(t, 2)
		publish(t, b.pub, "shared/topic", []byte("after"))
		if got := fence(t, b.pub, b.in, "fence/two"); len(got) != 2 || string(got[1].payload) != "after" {
			t.Errorf("after the other broker stopped, the subscriber got %q, want its earlier message and \"after\"", payloads(got))
		}
	})
}

func payloads(msgs []message) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = abbrev(string(m.payload))
	}
	return out
}
