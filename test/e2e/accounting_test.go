package e2e

import (
	"fmt"
	"slices"
	"testing"

	"github.com/forkmq/forkmq/internal/rawmqtt"
)

// TestProcessAccounting: with N clients the broker has exactly 2N children,
// a router and a deliverer per client as its log says, one queue and one
// client record each. After they leave, some with DISCONNECT and some by
// dropping TCP, children, queues, records and topic entries return to zero
// within 2 s, and each departure is logged with a reason.
func TestProcessAccounting(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, engine string) {
		const n = 5
		b := startBroker(t, withEngine(engine))
		ids := make([]string, n)
		conns := make([]*rawmqtt.Conn, n)
		for i := range n {
			ids[i] = newClientID("acct")
			conns[i] = rawmqtt.Connected(t, b.Addr, rawmqtt.MQTT311(ids[i]))
			conns[i].SubscribeCodes(t, 0, fmt.Sprintf("acct/%d", i), "acct/all")
		}
		b.assertClean(t, n)

		if engine == "process" {
			kids := childrenOf(b.PID)
			roles := map[int]string{}
			for _, k := range kids {
				roles[k.pid] = k.role()
			}
			queues, err := listQueues(b.QueuePrefix)
			if err != nil {
				t.Fatal(err)
			}
			subscribed, err := topicQueues(b.StateDir)
			if err != nil {
				t.Fatal(err)
			}
			for _, id := range ids {
				l := b.connectedLine(t, id)
				if r := roles[l.int("router_pid")]; r != "router" {
					t.Errorf("client %s: router_pid %d is a child with role %q, want router (children %v)", id, l.int("router_pid"), r, kids)
				}
				if r := roles[l.int("deliverer_pid")]; r != "deliverer" {
					t.Errorf("client %s: deliverer_pid %d is a child with role %q, want deliverer (children %v)", id, l.int("deliverer_pid"), r, kids)
				}
				q := l.str("queue")
				if !slices.Contains(queues, q) {
					t.Errorf("client %s: queue %q is not among the broker's queues %v", id, q, queues)
				}
				if !slices.Contains(subscribed, q) {
					t.Errorf("client %s: subscribed, but its queue %q has no topic entry (entries %v)", id, q, subscribed)
				}
				if l.str("remote") == "" {
					t.Errorf("client %s: connect line lacks remote: %s", id, l.raw)
				}
			}
		}

		for i, c := range conns {
			if i < 2 {
				c.Send(t, rawmqtt.Disconnect())
			}
			c.Close()
		}
		b.assertClean(t, 0)
		for _, id := range ids {
			if l := b.disconnectedLine(t, id); l.str("reason") == "" {
				t.Errorf("client %s: disconnect line lacks a reason: %s", id, l.raw)
			}
		}
	})
}
