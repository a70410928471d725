package e2e

// Faults: a worker killed with SIGKILL, alone and under load, and the
// supervisor itself killed. The broker must contain each: the partner
// worker goes, the connection closes, the will is published, the client's
// queue, records and topic entries go, no zombie stays, and no other client
// loses a message.

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/forkmq/forkmq/internal/rawmqtt"
	"github.com/forkmq/forkmq/internal/state"
)

// partnerExitTimeout bounds how long the other worker of a pair may go on
// serving the client after one of them was killed.
const partnerExitTimeout = time.Second

// releaseClient waits until the worker pid no longer serves the client
// at remote: it exited, or dropped the client and went back to the pool
// (its process title names another client, or none), and returns how long
// that took.
func releaseClient(pid int, remote string, timeout time.Duration) (time.Duration, error) {
	start := time.Now()
	err := eventually(timeout, func() error {
		if p, ok := readProc(pid); ok && p.state != 'Z' && len(p.args) > 0 && strings.HasSuffix(p.args[0], " "+remote) {
			return fmt.Errorf("pid %d still serves %s: %v", pid, remote, p)
		}
		return nil
	})
	return time.Since(start), err
}

// TestWorkerDeath: SIGKILL of a connected client's router or deliverer. The
// other worker drops the client within a second (it exits, or goes back to
// the pool), the client's connection closes, its
// will is published [MQTT-3.1.2-8] (the connection ended without
// DISCONNECT), the death is logged as an error naming the signal, the
// client's queue, records and topic entries go, no zombie is left, and the
// other clients go on exchanging messages.
func TestWorkerDeath(t *testing.T) {
	t.Parallel()
	onProcessEngine(t, func(t *testing.T) {
		b := startBroker(t)
		wills := watch(t, b, "death/will/#")
		sub := connectPaho(t, b, newClientID("deathsub"))
		in := subscribe(t, sub, "death/traffic", "death/fence")
		pub := connectPaho(t, b, newClientID("deathpub"))

		for _, role := range []string{"router", "deliverer"} {
			t.Run("Kill"+role, func(t *testing.T) {
				c := rawmqtt.MQTT311(newClientID("victim")).WithWill("death/will/"+role, "killed "+role, 0, false)
				victim := rawmqtt.Connected(t, b.Addr, c)
				victim.SubscribeCodes(t, 0, "death/traffic")
				pair := pairOf(b.connectedLine(t, c.ClientID))
				killed, partner := pair.router, pair.deliverer
				if role == "deliverer" {
					killed, partner = partner, killed
				}
				if err := killPID(killed); err != nil {
					t.Fatal(err)
				}
				took, err := releaseClient(partner, victim.NetConn().LocalAddr().String(), partnerExitTimeout)
				if err != nil {
					t.Errorf("%s killed: its partner %v", role, err)
				}
				t.Logf("%s %d killed; partner %d released the client after %v", role, killed, partner, took)
				// The victim may see the PUBLISHes it was sent before the close.
				for victim.ClosedOrAnswered(t, "a PUBLISH", func(p rawmqtt.Packet) bool { return p.Type() == rawmqtt.TypePublish }) {
				}

				l := b.waitLog(t, ioTimeout, "worker killed by a signal", func(e logEntry) bool { return e.int("pid") == killed })
				if l.str("level") != "error" || l.str("role") != role || !strings.Contains(l.str("signal"), "kill") {
					t.Errorf("want an error line naming role %s and the signal: %s", role, l.raw)
				}
				gone := b.disconnectedLine(t, c.ClientID)
				if gone.str("reason") == "" || gone.fields["will_published"] != true {
					t.Errorf("disconnect line lacks a reason or will_published true: %s", gone.raw)
				}
				if m := wills.ExpectPublish(t); m.Topic != c.WillTopic || m.Payload != c.WillMessage {
					t.Errorf("will watcher got %q on %q, want %q on %q", m.Payload, m.Topic, c.WillMessage, c.WillTopic)
				}
				mustEventually(t, leakTimeout, func() error { return b.connLeftovers(gone.str("queue")) })
				b.assertNoZombies(t)
				b.assertClean(t, 3)

				publish(t, pub, "death/traffic", []byte("after "+role))
				if got := fence(t, pub, in, "death/fence"); len(got) == 0 || string(got[len(got)-1].payload) != "after "+role {
					t.Errorf("bystander received %q, want the message sent after the kill last", payloads(got))
				}
			})
		}
	})
}

// killLoad is the steady QoS 1 traffic that TestWorkerKillLoop keeps going
// while it kills: publishers on kill/load/p<i>/<a|b|c>, subscribers on
// overlapping filters.
type killLoad struct {
	mu    sync.Mutex
	acked map[string]string // payload → topic, once its PUBACK arrived
	lost  atomic.Int64      // connections of load clients that were lost
}

// receipts is the set of payloads one QoS 1 subscriber received.
type receipts struct {
	filters []string
	mu      sync.Mutex
	got     map[string]bool
}

func (r *receipts) handle(_ mqtt.Client, m mqtt.Message) {
	r.mu.Lock()
	r.got[string(m.Payload())] = true
	r.mu.Unlock()
}

func (r *receipts) has(payload string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.got[payload]
}

// killRecord is one kill of TestWorkerKillLoop.
type killRecord struct {
	role          string
	queue         string
	will          string // the will payload the watcher must get; "" before CONNECT
	partnerExit   time.Duration
	beforeConnect bool
}

// TestWorkerKillLoop: 20 clients exchange QoS 1 messages — 10 publishers at
// a steady rate, 10 subscribers on overlapping filters — while victim
// clients (with a will, subscribed, publishing) connect and have their
// router or deliverer killed, at a random moment, 100 times (20 with
// -short); some are killed before they even sent CONNECT. Then: every
// message a publisher had acknowledged reached every subscriber whose
// filters match at least once [MQTT-4.3.2-2, MQTT-3.3.5-1]; no load client
// lost its connection; each kill ended the partner within a second and the
// victim's connection; each victim's will was delivered [MQTT-3.1.2-8];
// the broker's children are exactly the live pairs and none is a zombie;
// and no queue, client record, client-identifier lock or topic entry of a
// victim is left.
//
// Not parallel: it is a load test, timed on a 2-core machine.
func TestWorkerKillLoop(t *testing.T) {
	kills, slots := 100, 3
	if testing.Short() {
		kills = 20
	}
	onProcessEngine(t, func(t *testing.T) {
		b := startBroker(t, withMaxClients(40), quietLog)
		wills := watch(t, b, "kill/will/#")

		load := &killLoad{acked: make(map[string]string)}
		onLost := func(o *mqtt.ClientOptions) {
			o.SetConnectionLostHandler(func(mqtt.Client, error) { load.lost.Add(1) })
		}
		const clients = 10
		subs := make([]*receipts, clients)
		for j := range subs {
			c := connectPaho(t, b, newClientID("ksub"), onLost)
			r := &receipts{got: make(map[string]bool), filters: []string{
				"kill/load/+/" + string(rune('a'+j%3)),
				fmt.Sprintf("kill/load/p%d/#", j),
			}}
			if j%3 == 0 {
				r.filters = append(r.filters, "kill/load/#")
			}
			m := make(map[string]byte)
			for _, f := range r.filters {
				m[f] = 1
			}
			waitToken(t, c.SubscribeMultiple(m, r.handle), ioTimeout, "subscribe")
			subs[j] = r
		}
		stop := make(chan struct{})
		var pubs sync.WaitGroup
		for i := range clients {
			c := connectPaho(t, b, newClientID("kpub"), onLost)
			pubs.Add(1)
			go func() {
				defer pubs.Done()
				load.publishUntil(c, i, stop)
			}()
		}
		b.assertClean(t, 2*clients+1)

		var (
			mu      sync.Mutex
			records []killRecord
			claimed atomic.Int64 // kills started
			failed  atomic.Int64
			started = time.Now()
		)
		var victims sync.WaitGroup
		for slot := range slots {
			victims.Add(1)
			go func() {
				defer victims.Done()
				id := fmt.Sprintf("victim-%d", slot)
				for gen := 0; ; gen++ {
					if claimed.Add(1) > int64(kills) || failed.Load() >= 5 {
						return
					}
					rec, err := killOnce(b, slot, gen, id)
					if err != nil {
						failed.Add(1)
						t.Errorf("victim %s generation %d: %v", id, gen, err)
						continue
					}
					mu.Lock()
					records = append(records, rec)
					mu.Unlock()
					time.Sleep(time.Duration(50+rand.IntN(200)) * time.Millisecond) // pacing the victims over the load
				}
			}()
		}
		victims.Wait()
		elapsed := time.Since(started)
		close(stop)
		pubs.Wait()

		var (
			byRole        = map[string]int{}
			beforeConnect int
			slowest       time.Duration
			wantWills     []string
		)
		for _, r := range records {
			byRole[r.role]++
			slowest = max(slowest, r.partnerExit)
			if r.beforeConnect {
				beforeConnect++
			} else {
				wantWills = append(wantWills, r.will)
			}
		}
		t.Logf("%d kills in %v (%v routers, %v deliverers, %d before CONNECT); slowest partner exit %v; %d QoS 1 messages acknowledged",
			len(records), elapsed.Round(time.Millisecond), byRole["router"], byRole["deliverer"], beforeConnect, slowest, len(load.acked))
		if len(records) < kills {
			t.Fatalf("only %d of %d kills done", len(records), kills)
		}

		load.checkDelivered(t, subs)
		if n := load.lost.Load(); n > 0 {
			t.Errorf("%d load clients lost their connection", n)
		}
		checkWills(t, wills, wantWills)

		b.assertClean(t, 2*clients+1)
		b.assertNoZombies(t)
		for _, r := range records {
			if err := b.connLeftovers(r.queue); err != nil {
				t.Errorf("killed %s of %s: %v", r.role, r.queue, err)
			}
		}
	})
}

// publishUntil publishes QoS 1 messages at 10 a second until stop is
// closed, then records those whose PUBACK came.
func (l *killLoad) publishUntil(c mqtt.Client, i int, stop chan struct{}) {
	type sent struct {
		topic, payload string
		tok            mqtt.Token
	}
	var all []sent
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for seq := 0; ; seq++ {
		select {
		case <-stop:
			for _, s := range all {
				if s.tok.WaitTimeout(10*time.Second) && s.tok.Error() == nil {
					l.mu.Lock()
					l.acked[s.payload] = s.topic
					l.mu.Unlock()
				}
			}
			return
		case <-tick.C:
		}
		topic := fmt.Sprintf("kill/load/p%d/%c", i, 'a'+seq%3)
		payload := fmt.Sprintf("p%d-%d", i, seq)
		all = append(all, sent{topic, payload, c.Publish(topic, 1, false, payload)})
	}
}

// checkDelivered requires every acknowledged message at every subscriber
// whose filters match its topic.
func (l *killLoad) checkDelivered(t testing.TB, subs []*receipts) {
	t.Helper()
	err := eventually(15*time.Second, func() error {
		var errs errList
		for j, s := range subs {
			var missing []string
			for payload, topic := range l.acked {
				if slices.ContainsFunc(s.filters, func(f string) bool { return matches(f, topic) }) && !s.has(payload) {
					missing = append(missing, payload)
				}
			}
			if len(missing) > 0 {
				slices.Sort(missing)
				errs.add("subscriber %d %q misses %d messages, e.g. %q", j, s.filters, len(missing), missing[:min(5, len(missing))])
			}
		}
		return errs.err()
	})
	if err != nil {
		t.Error(err)
	}
}

// checkWills reads the will watcher until it has every payload of want.
func checkWills(t testing.TB, watcher *rawmqtt.Conn, want []string) {
	t.Helper()
	got := map[string]bool{}
	deadline := time.Now().Add(ioTimeout)
	for len(got) < len(want) && time.Now().Before(deadline) {
		p, err := watcher.Read(time.Until(deadline))
		if err != nil {
			break
		}
		if m, err := p.Publish(); err == nil {
			got[m.Payload] = true
		}
	}
	var missing []string
	for _, w := range want {
		if !got[w] {
			missing = append(missing, w)
		}
	}
	if len(missing) > 0 {
		t.Errorf("%d of %d wills of killed victims not delivered: %q", len(missing), len(want), missing)
	}
}

// killOnce connects a victim, lets it subscribe and publish, kills one of
// its workers at a random moment, and checks what must follow.
func killOnce(b *broker, slot, gen int, id string) (killRecord, error) {
	rec := killRecord{role: "router"}
	rec.beforeConnect = gen%8 == 7
	if rand.IntN(2) == 0 && !rec.beforeConnect { // before CONNECT only the router serves
		rec.role = "deliverer"
	}
	c := rawmqtt.MQTT311(id).WithWill(fmt.Sprintf("kill/will/v%d", slot), fmt.Sprintf("v%d-g%d", slot, gen), 0, false)

	var rc *rawmqtt.Conn
	var pair workerPair
	var err error
	if rec.beforeConnect {
		if rc, err = dialQuiet(b.Addr); err != nil {
			return rec, err
		}
		pair, rec.queue, err = b.routerServing(rc.NetConn().LocalAddr().String())
		if err != nil {
			rc.Close()
			return rec, err
		}
	} else {
		if rc, err = connectQuiet(b.Addr, c.Bytes()); err != nil {
			return rec, err
		}
		// The remote port alone may be an earlier victim's, reused: the
		// router pid must be a live one of this client id too.
		l, _, err := b.findLog(0, ioTimeout, "client connected", func(e logEntry) bool {
			return e.str("remote") == rc.NetConn().LocalAddr().String() && e.str("client_id") == id && processAlive(e.int("router_pid"))
		})
		if err != nil {
			rc.Close()
			return rec, err
		}
		pair, rec.will, rec.queue = pairOf(l), c.WillMessage, l.str("queue")
	}
	defer rc.Close()

	// The victim acknowledges what it receives, until its connection ends.
	readerDone := make(chan error, 1)
	go func() { readerDone <- rc.Serve(nil) }()
	if !rec.beforeConnect {
		_ = rc.Write(rawmqtt.Subscribe(1, 1, "kill/load/+/a"))
		for i := range rand.IntN(4) {
			_ = rc.Write(rawmqtt.Publish{Topic: fmt.Sprintf("kill/load/v%d/a", slot), Payload: "from a victim", QoS: 1, ID: uint16(i + 1)}.Bytes())
		}
		time.Sleep(time.Duration(rand.IntN(100)) * time.Millisecond) // a random moment in its life
	}

	killed, partner := pair.router, pair.deliverer
	if rec.role == "deliverer" {
		killed, partner = partner, killed
	}
	if err := killPID(killed); err != nil {
		return rec, fmt.Errorf("kill %s %d: %w", rec.role, killed, err)
	}
	// A router killed before CONNECT has no partner yet: the deliverer
	// kept for its client goes back to the pool without being handed it.
	if partner != 0 {
		if rec.partnerExit, err = releaseClient(partner, rc.NetConn().LocalAddr().String(), partnerExitTimeout); err != nil {
			return rec, fmt.Errorf("%s killed, partner: %w", rec.role, err)
		}
	}
	select {
	case err := <-readerDone:
		if !rawmqtt.IsClosed(err) {
			return rec, fmt.Errorf("%s killed: connection not closed: %w", rec.role, err)
		}
	case <-time.After(ioTimeout):
		return rec, fmt.Errorf("%s killed: connection still open after %v", rec.role, ioTimeout)
	}
	// The pair's workers serve client after client: the connection's
	// queue, or its address (the latest line naming it), tells this one.
	remote := rc.NetConn().LocalAddr().String()
	err = eventually(ioTimeout, func() error {
		lines := b.logLines("client disconnected")
		for i := len(lines) - 1; i >= 0; i-- {
			if rec.queue != "" && lines[i].str("queue") == rec.queue || rec.queue == "" && lines[i].str("remote") == remote {
				rec.queue = lines[i].str("queue")
				return nil
			}
		}
		return fmt.Errorf("no \"client disconnected\" line for %s (%s)", remote, rec.queue)
	})
	if err != nil {
		return rec, err
	}
	return rec, eventually(leakTimeout, func() error { return b.connLeftovers(rec.queue) })
}

// routerServing finds the router serving the connection from the client
// address remote, by its process title, which ends with it. Before the
// client claims an identifier only the router serves it: the supervisor
// keeps the deliverer's hand-over until the claim (deliverer 0 here).
// The queue is known once the client is gone (its "client disconnected"
// line): "" here.
func (b *broker) routerServing(remote string) (workerPair, string, error) {
	var pair workerPair
	err := eventually(ioTimeout, func() error {
		pair = workerPair{}
		for _, p := range servingWorkers(b.PID) {
			if !strings.HasSuffix(p.args[0], " "+remote) {
				continue
			}
			switch p.role() {
			case "router":
				pair.router = p.pid
			case "deliverer":
				return fmt.Errorf("deliverer %d serves %s before CONNECT", p.pid, remote)
			}
		}
		if pair.router == 0 {
			return fmt.Errorf("no router serves %s yet", remote)
		}
		return nil
	})
	return pair, "", err
}

// TestSupervisorDeath: SIGKILL of the supervisor while clients are
// connected (one of them before CONNECT, one with a persistent session).
// Every worker exits within 2 s (the lifeline pipe reaches EOF), every
// client's connection closes, and none is served by an orphan. A new broker
// on the same state directory sweeps what the dead one left (no queue of
// its connections remains) and keeps the persistent session: the client
// reconnecting with clean session 0 gets session present 1
// [MQTT-3.2.2-2] and its subscription still delivers [MQTT-3.1.2-4].
func TestSupervisorDeath(t *testing.T) {
	t.Parallel()
	onProcessEngine(t, func(t *testing.T) {
		stateDir := filepath.Join(t.TempDir(), "state")
		old := startBroker(t, withStateDir(stateDir))

		clean := rawmqtt.Connected(t, old.Addr, rawmqtt.MQTT311(newClientID("orphan")))
		clean.SubscribeCodes(t, 0, "orphan/#")
		willer, _ := connectWithWill(t, old, "orphan/will", "bye")
		old.assertClean(t, 2)
		silent := rawmqtt.Open(t, old.Addr) // never sends CONNECT
		_, _, err := old.routerServing(silent.NetConn().LocalAddr().String())
		if err != nil {
			t.Fatal(err)
		}
		// Last, a persistent session left offline (the harness's leak
		// check before this point knows no sessions).
		persistent := rawmqtt.MQTT311(newClientID("persist")).Persistent()
		p := rawmqtt.Connected(t, old.Addr, persistent)
		p.Send(t, rawmqtt.Subscribe(1, 1, "orphan/persist"))
		p.Expect(t, rawmqtt.HeaderSuback)
		p.Send(t, rawmqtt.Disconnect()) // the session stays, offline
		p.ExpectClosed(t, ioTimeout)

		workers := old.workerPIDs()
		// Two pairs, and the silent connection's router (its deliverer is
		// handed the client only with the claim of an identifier).
		if kids := servingWorkers(old.PID); len(kids) != 5 {
			t.Fatalf("want 2 worker pairs and a router serving, have %v", kids)
		}
		queues, err := listQueues(old.QueuePrefix)
		if err != nil {
			t.Fatal(err)
		}

		start := time.Now()
		old.killSupervisor(t, workers)
		t.Logf("every worker gone %v after the supervisor's SIGKILL", time.Since(start).Round(time.Millisecond))
		for _, rc := range []*rawmqtt.Conn{clean, willer, silent} {
			rc.ExpectClosed(t, ioTimeout)
		}

		b := startBroker(t, withStateDir(stateDir))
		if b.QueuePrefix != old.QueuePrefix {
			t.Fatalf("queue prefix %q after restart, was %q: the state directory must name the queues", b.QueuePrefix, old.QueuePrefix)
		}
		b.waitLog(t, ioTimeout, "swept state left by an earlier broker", nil)
		left, err := listQueues(b.QueuePrefix)
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range left {
			if slices.Contains(queues, q) && !state.IsSessionQueue(q) {
				t.Errorf("queue %s of a connection of the killed broker is left after the sweep", q)
			}
		}
		if kids := servingWorkers(b.PID); len(kids) > 0 {
			t.Errorf("new broker has workers serving before any client: %v", kids)
		}

		p2 := rawmqtt.Open(t, b.Addr)
		p2.Send(t, persistent.Bytes())
		p2.ExpectConnack(t, rawmqtt.Accepted, true)
		pub := connectPaho(t, b, newClientID("orphanpub"))
		if err := pahoPublishQoS1(pub, "orphan/persist", []byte("after restart")); err != nil {
			t.Fatal(err)
		}
		got := p2.ExpectPlainPublish(t, 1)
		if got.Topic != "orphan/persist" || got.Payload != "after restart" {
			t.Errorf("persistent subscriber got %v, want \"after restart\" on orphan/persist", got)
		}
		p2.Send(t, rawmqtt.Ack(rawmqtt.HeaderPuback, got.ID), rawmqtt.Disconnect())
		p2.ExpectClosed(t, ioTimeout)
		// Connecting with clean session 1 discards the session
		// [MQTT-3.1.2-6], so the broker ends with nothing stored.
		rawmqtt.Connected(t, b.Addr, rawmqtt.MQTT311(persistent.ClientID)).Send(t, rawmqtt.Disconnect())
		b.assertClean(t, 1)
	})
}

// TestKilledBrokerQueuesReclaimed: a broker killed with SIGKILL cannot
// unlink its queues, and no broker may ever start again on its state
// directory (a benchmark's or a test's temporary one). The next broker to
// start on the machine, on any state directory, unlinks the dead one's
// connection queues, so that they stop holding the RLIMIT_MSGQUEUE budget
// every broker of the uid shares; the queue of a persistent session stays
// while its state directory exists, for the broker that resumes it.
func TestKilledBrokerQueuesReclaimed(t *testing.T) {
	t.Parallel()
	onProcessEngine(t, func(t *testing.T) {
		stateDir := filepath.Join(t.TempDir(), "state")
		old := startBroker(t, withStateDir(stateDir))
		rawmqtt.Connected(t, old.Addr, rawmqtt.MQTT311(newClientID("reclaim")))
		persistent := rawmqtt.MQTT311(newClientID("reclaimp")).Persistent()
		p := rawmqtt.Connected(t, old.Addr, persistent)
		p.Send(t, rawmqtt.Subscribe(1, 1, "reclaim/persist"))
		p.Expect(t, rawmqtt.HeaderSuback)
		p.Send(t, rawmqtt.Disconnect())
		p.ExpectClosed(t, ioTimeout)
		before, err := listQueues(old.QueuePrefix)
		if err != nil {
			t.Fatal(err)
		}
		var conns, sessions []string
		for _, q := range before {
			if state.IsSessionQueue(q) {
				sessions = append(sessions, q)
			} else {
				conns = append(conns, q)
			}
		}
		if len(conns) == 0 || len(sessions) != 1 {
			t.Fatalf("want connection queues and one session queue before the kill, have %v", before)
		}

		old.killSupervisor(t, old.workerPIDs())

		// A broker on another state directory. Brokers of parallel tests
		// may reclaim first; either way the queues must go.
		other := startBroker(t)
		mustEventually(t, ioTimeout, func() error {
			left, err := listQueues(old.QueuePrefix)
			if err != nil {
				return err
			}
			if !slices.Equal(left, sessions) {
				return fmt.Errorf("queues of the killed broker left: %v, want only its session's %v", left, sessions)
			}
			return nil
		})
		if lines := other.logLines("reclaimed the queues of a broker that was killed"); len(lines) > 0 && lines[0].str("level") != "warn" {
			t.Errorf("want the reclaim logged as a warning: %s", lines[0].raw)
		}

		// The broker that resumes the state directory finds the session.
		b := startBroker(t, withStateDir(stateDir))
		p2 := rawmqtt.Open(t, b.Addr)
		p2.Send(t, persistent.Bytes())
		p2.ExpectConnack(t, rawmqtt.Accepted, true)
		p2.Send(t, rawmqtt.Disconnect())
		p2.ExpectClosed(t, ioTimeout)
		// Clean session 1 discards the session [MQTT-3.1.2-6].
		c := rawmqtt.Connected(t, b.Addr, rawmqtt.MQTT311(persistent.ClientID))
		c.Send(t, rawmqtt.Disconnect())
		c.ExpectClosed(t, ioTimeout)
		b.assertClean(t, 0)
	})
}

// pahoPublishQoS1 publishes at QoS 1 and waits for the PUBACK.
func pahoPublishQoS1(c mqtt.Client, topic string, payload []byte) error {
	tok := c.Publish(topic, 1, false, payload)
	if !tok.WaitTimeout(ioTimeout) {
		return fmt.Errorf("publish to %s: no PUBACK within %v", topic, ioTimeout)
	}
	return tok.Error()
}

// processAlive reports whether a process with this pid exists.
func processAlive(pid int) bool {
	return pid > 0 && syscall.Kill(pid, 0) == nil
}
