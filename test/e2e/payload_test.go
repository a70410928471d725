package e2e

import (
	"bytes"
	"fmt"
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

// TestPayloadsAcrossTheSpool: payloads on either side of every way a
// publication travels in the process engine — in a queue message, a copy
// in the subscriber's spool segment (up to 64 KiB with its envelope), a
// spool file of its own beyond — at QoS 0, 1 and 2, arrive byte for byte,
// in order and at the QoS granted [MQTT-3.3.5-1] at two subscribers, and
// so do retained ones sent to a later subscriber [MQTT-3.3.1-6]. Nothing
// stays in the spool afterwards: every segment copy was freed. The
// goroutine engine runs the same test (its payloads stay in memory,
// written from the message without a copy).
func TestPayloadsAcrossTheSpool(t *testing.T) {
	t.Parallel()
	const topic = "spool/edge"
	// A segment copy is the whole envelope: kind, flags, topic length,
	// topic and payload.
	largestInSegment := 64<<10 - 4 - len(topic)
	sizes := []int{0, 1000, 8<<10 + 1, 16 << 10, largestInSegment, largestInSegment + 1, 200 << 10}
	forEachEngine(t, func(t *testing.T, engine string) {
		b := startBroker(t, withEngine(engine))
		subs := []struct {
			in  *inbox
			qos byte
		}{
			{subscribeQoS(t, connectPaho(t, b, newClientID("edgesub")), 2, "spool/#"), 2},
			{subscribeQoS(t, connectPaho(t, b, newClientID("edgesub")), 1, "spool/+"), 1},
		}
		pub := connectPaho(t, b, newClientID("edgepub"))

		type sent struct {
			payload []byte
			qos     byte
		}
		var all []sent
		for i, n := range sizes {
			for qos := range byte(3) {
				p := make([]byte, n)
				_, _ = rand.NewChaCha8([32]byte{byte(i), qos}).Read(p)
				if err := pahoPublishQoS(pub, topic, qos, p, 30*time.Second); err != nil {
					t.Fatal(err)
				}
				all = append(all, sent{p, qos})
			}
		}
		for s, sub := range subs {
			got := sub.in.waitCount(t, len(all), 60*time.Second)
			for i, m := range got {
				if i >= len(all) {
					t.Errorf("subscriber %d: extra message %d of %d bytes", s, i, len(m.payload))
					continue
				}
				want := all[i]
				if !bytes.Equal(m.payload, want.payload) {
					t.Errorf("subscriber %d: message %d is %d bytes, differs from the %d bytes sent at offset %d",
						s, i, len(m.payload), len(want.payload), firstDiff(m.payload, want.payload))
				}
				if q := min(want.qos, sub.qos); m.qos != q {
					t.Errorf("subscriber %d: message %d (%d bytes) came at QoS %d, want %d", s, i, len(m.payload), m.qos, q)
				}
			}
		}

		retained := map[string][]byte{}
		for _, n := range []int{20 << 10, largestInSegment + 1} {
			p := bytes.Repeat([]byte{byte(n)}, n)
			topic := fmt.Sprintf("kept/%d", n)
			tok := pub.Publish(topic, 1, true, p)
			if !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
				t.Fatalf("retained publish of %d bytes: %v", n, tok.Error())
			}
			retained[topic] = p
		}
		late := subscribeQoS(t, connectPaho(t, b, newClientID("edgelate")), 1, "kept/#")
		for _, m := range late.waitCount(t, len(retained), 60*time.Second) {
			if want, ok := retained[m.topic]; !ok || !bytes.Equal(m.payload, want) || !m.retained {
				t.Errorf("retained %s: %d bytes (retained flag %v), want %d bytes with the flag", m.topic, len(m.payload), m.retained, len(want))
			}
		}
		b.assertClean(t, 4)
	})
}
