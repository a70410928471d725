package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/forkmq/forkmq/internal/rawmqtt"
)

// The process engine's pool of ready worker pairs (issue 12): a pair that
// served a client serves the next with nothing of the first left, the pool
// refills under a burst of connections, and an idle worker that dies is
// replaced.

// idleWorkers lists the broker's children that wait in its pool.
func (b *broker) idleWorkers() []proc {
	return slices.DeleteFunc(childrenOf(b.PID), func(p proc) bool { return p.role() != "idle" })
}

// waitIdle waits until the pool holds n idle workers, and none is still
// starting, and returns them.
func (b *broker) waitIdle(t testing.TB, n int) []proc {
	t.Helper()
	var idle []proc
	mustEventually(t, ioTimeout, func() error {
		if idle = b.idleWorkers(); len(idle) != n {
			return fmt.Errorf("%d idle workers %v, want %d", len(idle), idle, n)
		}
		if starting := slices.DeleteFunc(childrenOf(b.PID), func(p proc) bool { return p.role() != "starting" }); len(starting) > 0 {
			return fmt.Errorf("workers still starting: %v", starting)
		}
		return nil
	})
	return idle
}

// clientDescriptors lists what a worker's open descriptors point at, less
// the state directory's files (the topic files and retained store a worker
// opens once and shares between its clients): sockets, queues, memfds,
// epoll and event descriptors — what a client brings or makes.
func clientDescriptors(t testing.TB, pid int, stateDir string) []string {
	t.Helper()
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("worker %d: %v", pid, err)
	}
	var out []string
	for _, e := range entries {
		target, err := os.Readlink(filepath.Join(dir, e.Name()))
		if err != nil || strings.HasPrefix(target, stateDir) {
			continue
		}
		out = append(out, e.Name()+" "+target)
	}
	slices.Sort(out)
	return out
}

// pairOfLine is the pids of a "client connected" line's pair, lower first
// (the workers of a pair are alike in the pool: either may route).
func pairOfLine(l logEntry) [2]int {
	r, d := l.int("router_pid"), l.int("deliverer_pid")
	return [2]int{min(r, d), max(r, d)}
}

// TestPoolReuseLeaksNothing: a pair that served client A goes back to the
// pool and serves client B, and nothing of A reaches B — its subscriptions
// (B gets nothing A subscribed to), its flows and backlog (A left 5 QoS 1
// messages unacknowledged; B's first delivery is its own, with packet
// identifier 1), its credentials (A's user name opened users/alice/# by a
// %u pattern; anonymous B is refused it [MQTT-3.9.3-1 0x80]), its will (A
// disconnected in order, so its will is discarded [MQTT-3.1.2-10]; B ends
// abnormally without one, and no will is published), and its descriptors
// (the workers hold the same descriptors idle after A and after B as
// before A: no socket, queue, cached subscriber queue, epoll set or memfd
// of a client stays).
func TestPoolReuseLeaksNothing(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, engine string) {
		requireProcessEngine(t, engine, "a pool of worker processes")
		acl := filepath.Join(t.TempDir(), "acl")
		if err := os.WriteFile(acl, []byte("pattern readwrite pool/#\npattern readwrite fence/#\npattern readwrite users/%u/#\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		b := startBroker(t, withEngine(engine), withArgs("-pool-min-spare", "1", "-acl-file", acl))
		// A subscriber C that A publishes to (A's router caches C's queue),
		// and a publisher.
		c := rawmqtt.Connected(t, b.Addr, rawmqtt.MQTT311(newClientID("pool-c")))
		c.SubscribeGranted(t, 1, "pool/c")
		pub := connectPublisher(t, b)
		before := map[int][]string{}
		for _, p := range b.waitIdle(t, 2) {
			before[p.pid] = clientDescriptors(t, p.pid, b.StateDir)
		}

		aConnect := rawmqtt.MQTT311(newClientID("pool-a")).WithWill("pool/a/will", "a gone", 1, false)
		aConnect.Flags |= rawmqtt.ConnectUsername
		aConnect.Username = "alice"
		a := rawmqtt.Connected(t, b.Addr, aConnect)
		pairA := pairOfLine(b.connectedLine(t, aConnect.ClientID))
		if _, ok := before[pairA[0]]; !ok {
			t.Fatalf("A served by %v, not by the pool's pair %v", pairA, before)
		}
		a.SubscribeGranted(t, 1, "pool/a/#", "users/alice/#")
		for i := range 5 { // delivered to A, never acknowledged
			pub.Publish(t, rawmqtt.Publish{Topic: "pool/a/x", Payload: fmt.Sprint("for A ", i), QoS: 1})
		}
		for range 5 {
			a.ExpectPlainPublish(t, 1)
		}
		a.Publish(t, rawmqtt.Publish{Topic: "pool/c", Payload: "from A", QoS: 1})
		if d := c.Next(t); d.Payload != "from A" {
			t.Fatalf("C got %v, want A's message", d)
		}
		watcher := watchAt(t, b, 1, "pool/a/will")
		// A's pair goes back after the pool's refill is ready, so it is the
		// most recently idle pair, which the next client gets.
		b.waitIdle(t, 2)
		a.Send(t, rawmqtt.Disconnect())
		a.ExpectClosed(t, ioTimeout)
		idleAgain := func(who string) {
			t.Helper()
			// Back in the pool once the supervisor says so (a worker's
			// title says idle a moment before).
			for _, pid := range pairA {
				n := 1
				if who == "B" {
					n = 2
				}
				mustEventually(t, ioTimeout, func() error {
					got := 0
					for _, e := range b.logLines("pool: worker idle") {
						if e.int("pid") == pid {
							got++
						}
					}
					if got < n {
						return fmt.Errorf("worker %d of A's pair back in the pool %d times, want %d", pid, got, n)
					}
					return nil
				})
			}
			for _, pid := range pairA {
				if got := clientDescriptors(t, pid, b.StateDir); !slices.Equal(got, before[pid]) {
					t.Errorf("worker %d idle after %s holds descriptors\n%q\nwant as before its first client\n%q", pid, who, got, before[pid])
				}
			}
		}
		idleAgain("A")

		bID := newClientID("pool-b")
		bc := rawmqtt.Connected(t, b.Addr, rawmqtt.MQTT311(bID))
		if got := pairOfLine(b.connectedLine(t, bID)); got != pairA {
			t.Fatalf("B served by %v, want A's pair %v back from the pool", got, pairA)
		}
		if codes := bc.SubscribeCodes(t, 1, "users/alice/#"); len(codes) != 1 || codes[0] != 0x80 {
			t.Errorf("anonymous B subscribing to users/alice/#: SUBACK % x, want 80 (A's user name must not carry over)", codes)
		}
		bc.SubscribeGranted(t, 1, "pool/b")
		fence := newFenceTopic()
		bc.SubscribeGranted(t, 0, fence)
		pub.Publish(t, rawmqtt.Publish{Topic: "pool/a/x", Payload: "after A", QoS: 1})
		pub.Publish(t, rawmqtt.Publish{Topic: "pool/b", Payload: "for B", QoS: 1})
		got := bc.SelfFence(t, fence)
		if len(got) != 1 || got[0].Topic != "pool/b" || got[0].Payload != "for B" || got[0].ID != 1 || got[0].Dup {
			t.Errorf("B got %v, want only its own message, with packet identifier 1 and DUP 0", got)
		}
		bc.Close() // abnormal end: B has no will, and A's must not be published

		gone := b.waitLog(t, ioTimeout, "client disconnected", func(e logEntry) bool { return e.str("client_id") == bID })
		if gone.fields["will_published"] != false {
			t.Errorf("B's end published a will: %s", gone.raw)
		}
		if ws := watcher.SelfFence(t, "pool/a/will"); len(ws) != 0 {
			t.Errorf("will watcher got %v, want nothing", ws)
		}
		idleAgain("B")
	})
}

// TestPoolRefillUnderBurst: more clients connect at once than the pool
// holds; every one is served (those that find no pair wait for one started
// for them), the pool's refill ramps up (prefork's 1, 2, 4 … pairs a
// second), and once they leave the pool is back to its spares.
func TestPoolRefillUnderBurst(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, engine string) {
		requireProcessEngine(t, engine, "a pool of worker processes")
		const clients, spare = 12, 2
		b := startBroker(t, withEngine(engine), withArgs("-pool-min-spare", fmt.Sprint(spare), "-pool-spawn-rate", "8"))
		b.waitIdle(t, 2*spare)
		conns := make([]*rawmqtt.Conn, clients)
		var wg sync.WaitGroup
		for i := range conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				conns[i] = rawmqtt.Connected(t, b.Addr, rawmqtt.MQTT311(newClientID("burst")))
			}()
		}
		wg.Wait()
		if t.Failed() {
			return
		}
		for _, c := range conns {
			c.Send(t, rawmqtt.Pingreq())
			c.Expect(t, rawmqtt.HeaderPingresp)
		}
		b.assertClean(t, clients)
		// The pool refills to its spares while the clients stay.
		b.waitIdle(t, 2*spare)
		for _, c := range conns {
			c.Send(t, rawmqtt.Disconnect())
			c.ExpectClosed(t, ioTimeout)
		}
		b.assertClean(t, 0)
		if n := len(b.idleWorkers()); n < 2*spare {
			t.Errorf("%d idle workers after the burst, want at least %d", n, 2*spare)
		}
	})
}

// TestIdlePoolWorkerKilled: an idle pool worker that is killed is logged
// (an error line saying it was idle), forgotten, and replaced; clients are
// served throughout.
func TestIdlePoolWorkerKilled(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, engine string) {
		requireProcessEngine(t, engine, "a pool of worker processes")
		b := startBroker(t, withEngine(engine), withArgs("-pool-min-spare", "2"))
		idle := b.waitIdle(t, 4)
		victim := idle[0].pid
		if err := syscall.Kill(victim, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		l := b.waitLog(t, ioTimeout, "worker killed by a signal", func(e logEntry) bool { return e.int("pid") == victim })
		if l.str("level") != "error" || l.fields["idle"] != true {
			t.Errorf("want an error line saying the killed worker was idle: %s", l.raw)
		}
		// The pool has its two pairs again, without the victim (the
		// victim's partner stays, unpaired, until the pool trims it).
		mustEventually(t, ioTimeout, func() error {
			idle := b.idleWorkers()
			if len(idle) < 4 || slices.ContainsFunc(idle, func(p proc) bool { return p.pid == victim }) {
				return fmt.Errorf("idle workers %v, want at least 4 without %d", idle, victim)
			}
			return nil
		})
		id := newClientID("after-kill")
		c := rawmqtt.Connected(t, b.Addr, rawmqtt.MQTT311(id))
		c.Send(t, rawmqtt.Pingreq())
		c.Expect(t, rawmqtt.HeaderPingresp)
		c.Send(t, rawmqtt.Disconnect())
		c.ExpectClosed(t, ioTimeout)
		b.assertClean(t, 0)
	})
}
