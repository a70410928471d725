package e2e

// Limits of the kernel's queue budget, RLIMIT_MSGQUEUE.

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/forkmq/forkmq/internal/rawmqtt"
)

// unlinkedQueuesHeld lists, per worker, the queues of this broker that the
// worker holds a descriptor of and that are no longer linked (unlinked
// queues show as "/name (deleted)").
func (b *broker) unlinkedQueuesHeld() map[int][]string {
	out := map[int][]string{}
	for _, k := range childrenOf(b.PID) {
		dir := fmt.Sprintf("/proc/%d/fd", k.pid)
		for _, fd := range dirNames(dir) {
			link, err := os.Readlink(filepath.Join(dir, fd))
			if err == nil && strings.HasPrefix(link, "/"+b.QueuePrefix) && strings.HasSuffix(link, " (deleted)") {
				out[k.pid] = append(out[k.pid], strings.TrimSuffix(link[1:], " (deleted)"))
			}
		}
	}
	return out
}

// TestDepartedQueuesReleased: subscribers come and go while a publisher
// routes to them. Once a subscriber has left and its queue is unlinked, no
// live worker may keep a descriptor of that queue: the kernel charges a
// queue's memory against RLIMIT_MSGQUEUE until its last descriptor closes,
// and the queues are planned so that -max-clients of them fit the budget.
// Descriptors kept for departed clients would let the charge grow past the
// plan, and refuse clients (CONNACK 3, RLIMIT_MSGQUEUE) while fewer than
// -max-clients are connected.
func TestDepartedQueuesReleased(t *testing.T) {
	t.Parallel()
	onProcessEngine(t, func(t *testing.T) {
		b := startBroker(t)
		pubID := newClientID("churnpub")
		pub := rawmqtt.Connected(t, b.Addr, rawmqtt.MQTT311(pubID))
		for i := range 5 {
			sub := watch(t, b, "churn/t")
			pub.Send(t, rawmqtt.Publish{Topic: "churn/t", Payload: strconv.Itoa(i)}.Bytes())
			sub.ExpectPublish(t) // the publisher's router has routed to its queue
			sub.Send(t, rawmqtt.Disconnect())
			sub.ExpectClosed(t, ioTimeout)
			b.assertClean(t, 1)
		}
		// Routers cache queue descriptors and close those idle for a
		// second (internal/worker/writers.go), so the charge returns within
		// about two seconds.
		mustEventually(t, 3*time.Second, func() error {
			if held := b.unlinkedQueuesHeld(); len(held) > 0 {
				return fmt.Errorf("live workers (pid: queues) hold descriptors of departed clients' queues, still charged to RLIMIT_MSGQUEUE: %v", held)
			}
			return nil
		})
	})
}
