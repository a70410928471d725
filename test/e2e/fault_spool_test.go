package e2e

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/forkmq/forkmq/internal/rawmqtt"
)

// TestDepartingSubscriberSpool: subscribers leave (closing TCP) while a
// publisher streams messages too large for a queue message, so each copy
// for them is a file linked into their spool folder. When a subscriber's
// workers are gone, its spool folder must be gone too, whatever the
// publisher's router was linking into it at the time.
func TestDepartingSubscriberSpool(t *testing.T) {
	t.Parallel()
	onProcessEngine(t, func(t *testing.T) {
		b := startBroker(t, quietLog) // 20 clients: queue messages < 1 KiB
		pub := rawmqtt.Connected(t, b.Addr, rawmqtt.MQTT311(newClientID("spoolpub")))
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			msg := rawmqtt.Publish{Topic: "spool/stream", Payload: strings.Repeat("s", 2048)}.Bytes()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if pub.Write(msg) != nil {
					return
				}
			}
		}()
		for range 10 {
			sub := watch(t, b, "spool/#")
			for range 50 {
				sub.ExpectPublish(t)
			}
			sub.Close() // with its backlog of spooled copies
			time.Sleep(50 * time.Millisecond)
		}
		close(stop)
		wg.Wait()
		b.assertClean(t, 1)
		for _, l := range b.logLines("remove spool") {
			t.Errorf("the supervisor failed to remove a departed client's spool folder: %s", l.raw)
		}
	})
}
