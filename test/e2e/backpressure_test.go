package e2e

// Back-pressure: when publishers write faster than a subscriber reads, the
// publishers are slowed down and nothing is lost, at QoS 0 as at QoS 1, and
// the subscriber, which keeps reading, stays connected.

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// TestFanInBackPressure: 50 publishers each send 200 messages as fast as
// TCP lets them to one subscriber through a backlog of 10 messages. The
// subscriber gets all 10,000, each publisher's in order [MQTT-4.6.0-6], and
// the broker drops nothing and disconnects no one.
func TestFanInBackPressure(t *testing.T) {
	t.Parallel()
	const pubs, each = 50, 200
	for _, qos := range []byte{0, 1} {
		t.Run(fmt.Sprintf("QoS%d", qos), func(t *testing.T) {
			forEachEngine(t, func(t *testing.T, engine string) {
				b := startBroker(t, withEngine(engine), withMaxClients(pubs+2), quietLog,
					brokerFlags("-max-queued-messages", "10"))
				subID := newClientID("fanin-sub")
				sub := connectRaw(t, b, mqtt311(subID))
				sub.subscribeAt(t, qos, "fanin/#")
				got := collect(sub)

				clients := make([]*rawClient, pubs)
				for i := range clients {
					clients[i] = connectRaw(t, b, mqtt311(newClientID(fmt.Sprintf("fanin-pub%d", i))))
					collect(clients[i]) // PUBACKs
				}
				start := time.Now()
				var wg sync.WaitGroup
				errs := make(chan error, pubs)
				for i, pc := range clients {
					wg.Add(1)
					go func() {
						defer wg.Done()
						var batch []byte
						for seq := range each {
							payload := fmt.Appendf(nil, "%03d%05d", i, seq)
							if qos == 1 {
								batch = append(batch, qos1PublishBytes(fmt.Sprintf("fanin/%d", i), uint16(seq+1), payload)...)
							} else {
								batch = append(batch, publishBytes(fmt.Sprintf("fanin/%d", i), payload)...)
							}
						}
						// One write: as fast as TCP takes it. A publisher
						// held by back-pressure waits here; the bound is
						// generous, not a speed requirement.
						_ = pc.conn.SetWriteDeadline(time.Now().Add(time.Minute))
						if _, err := pc.conn.Write(batch); err != nil {
							errs <- fmt.Errorf("publisher %d: %w", i, err)
						}
					}()
				}
				wg.Wait()
				close(errs)
				for err := range errs {
					t.Fatal(err)
				}
				mustEventually(t, time.Minute, func() error {
					if n := got.count(); n < pubs*each {
						return fmt.Errorf("subscriber received %d of %d messages", n, pubs*each)
					}
					return nil
				})
				t.Logf("%d messages from %d publishers delivered in %v", pubs*each, pubs, time.Since(start).Round(time.Millisecond))

				next := make([]int, pubs)
				got.mu.Lock()
				for _, s := range got.seqs {
					var p, seq int
					fmt.Sscanf(s, "%03d%05d", &p, &seq)
					if p < 0 || p >= pubs || seq != next[p] {
						t.Fatalf("publisher %d: message %d arrived when %d was due (each once, in order [MQTT-4.6.0-6])", p, seq, next[p])
					}
					next[p]++
				}
				if len(got.seqs) != pubs*each {
					t.Errorf("subscriber received %d messages, want %d", len(got.seqs), pubs*each)
				}
				got.mu.Unlock()
				for _, prefix := range []string{"slow consumer", "message dropped", "disconnecting a slow consumer"} {
					if l := b.logLinesWithPrefix(prefix); len(l) > 0 {
						t.Errorf("%d %q lines, the first: %s", len(l), prefix, l[0].raw)
					}
				}
				got.mu.Lock()
				end := got.end
				got.mu.Unlock()
				if end != nil || len(b.clientLines("client disconnected", subID)) > 0 {
					t.Errorf("the subscriber, which kept reading, was disconnected (%v)", end)
				}
			})
		})
	}
}
