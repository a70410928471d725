package e2e

import (
	"bytes"
	"math/rand/v2"
	"testing"
	"time"
)

// TestPayloadSizes: payloads of 0 B, 1 B, 8 KiB, 1 MiB and 16 MiB, most far
// larger than a queue message, arrive byte for byte and in order at two paho
// subscribers [MQTT-3.3.3] (the payload is application data the server does
// not change), and the spool holds nothing afterwards.
func TestPayloadSizes(t *testing.T) {
	t.Parallel()
	sizes := []int{0, 1, 8 << 10, 1 << 20, 16 << 20}
	forEachEngine(t, func(t *testing.T, engine string) {
		b := startBroker(t, withEngine(engine))
		subs := []*inbox{
			subscribe(t, connectPaho(t, b, newClientID("paysub")), "pay/load"),
			subscribe(t, connectPaho(t, b, newClientID("paysub")), "pay/#"),
		}
		pub := connectPaho(t, b, newClientID("paypub"))

		payloads := make([][]byte, len(sizes))
		for i, n := range sizes {
			payloads[i] = make([]byte, n)
			seed := [32]byte{byte(i)}
			_, _ = rand.NewChaCha8(seed).Read(payloads[i])
			publish(t, pub, "pay/load", payloads[i])
		}
		for s, in := range subs {
			got := in.waitCount(t, len(sizes), 60*time.Second)
			for i, m := range got {
				if i >= len(sizes) {
					t.Errorf("subscriber %d: extra message %d of %d bytes", s, i, len(m.payload))
					continue
				}
				if !bytes.Equal(m.payload, payloads[i]) {
					t.Errorf("subscriber %d: message %d is %d bytes, differs from the %d bytes sent at offset %d",
						s, i, len(m.payload), sizes[i], firstDiff(m.payload, payloads[i]))
				}
			}
		}
		b.assertClean(t, 3)
	})
}

// firstDiff is the first offset where a and b differ.
func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
