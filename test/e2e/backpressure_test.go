package e2e

// Back-pressure: when publishers write faster than a subscriber reads, the
// publishers are slowed down and nothing is lost, at QoS 0 as at QoS 1, and
// the subscriber, which keeps reading, stays connected.

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/forkmq/forkmq/internal/rawmqtt"
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
				sub := rawmqtt.Connected(t, b.Addr, rawmqtt.MQTT311(subID))
				sub.SubscribeCodes(t, qos, "fanin/#")
				got := collect(sub)

				clients := make([]*rawmqtt.Conn, pubs)
				for i := range clients {
					clients[i] = rawmqtt.Connected(t, b.Addr, rawmqtt.MQTT311(newClientID(fmt.Sprintf("fanin-pub%d", i))))
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
							m := rawmqtt.Publish{Topic: fmt.Sprintf("fanin/%d", i), Payload: string(payload), QoS: qos}
							if qos == 1 {
								m.ID = uint16(seq + 1)
							}
							batch = append(batch, m.Bytes()...)
						}
						// One write: as fast as TCP takes it. A publisher
						// held by back-pressure waits here; the bound is
						// generous, not a speed requirement.
						_ = pc.NetConn().SetWriteDeadline(time.Now().Add(time.Minute))
						if _, err := pc.NetConn().Write(batch); err != nil {
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
