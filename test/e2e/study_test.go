package e2e

// The original study's three scenarios: an idle broker, one publisher and one
// subscriber, and 50 publishers with 50 subscribers.

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// TestIdleBroker: a broker without clients starts, has no children but
// its pool's idle workers, and stops cleanly (exit 0, nothing left; see
// startBroker's cleanup).
func TestIdleBroker(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, engine string) {
		b := startBroker(t, withEngine(engine))
		for _, k := range childrenOf(b.PID) {
			if r := k.role(); r != "idle" && r != "starting" {
				t.Errorf("idle broker has a child that is no idle pool worker: %v", k)
			}
		}
		b.assertClean(t, 0)
		b.stop(t)
	})
}

// TestOnePublisherOneSubscriber: QoS 0 messages from one paho publisher reach
// one paho subscriber complete and in order [MQTT-4.6.0-5], and both
// clients' workers, queues and topic entries go when they leave.
func TestOnePublisherOneSubscriber(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, engine string) {
		b := startBroker(t, withEngine(engine))
		sub := connectPaho(t, b, newClientID("sub"))
		in := subscribe(t, sub, "study/one")
		pub := connectPaho(t, b, newClientID("pub"))
		b.assertClean(t, 2)

		const n = 200
		var want []string
		for i := range n {
			payload := fmt.Sprintf("seq=%04d", i)
			want = append(want, payload)
			publish(t, pub, "study/one", []byte(payload))
		}
		got := in.waitCount(t, n, 10*time.Second)
		for i, m := range got {
			if i >= n || string(m.payload) != want[i] || m.topic != "study/one" {
				t.Fatalf("message %d: got %q on %q, want %q on study/one (all: %d messages)", i, m.payload, m.topic, want[min(i, n-1)], len(got))
			}
		}
		leave(pub)
		leave(sub)
		b.assertClean(t, 0)
	})
}

// TestFiftyPublishersFiftySubscribers: 50 paho publishers each send one
// message a second for 10 s on random topics of a fixed set; 50 paho
// subscribers hold exact and wildcard filters, some overlapping. Every
// subscriber gets every matching message exactly once [MQTT-3.3.5-1], in
// each publisher's order [MQTT-4.6.0-5].
//
// It is not parallel: its 100 clients take three quarters of the POSIX queue
// memory that all root processes share (RLIMIT_MSGQUEUE).
func TestFiftyPublishersFiftySubscribers(t *testing.T) {
	if testing.Short() {
		t.Skip("10 s load scenario; skipped with -short")
	}
	forEachEngine(t, func(t *testing.T, engine string) {
		const (
			clients = 50
			rounds  = 10
		)
		b := startBroker(t, withEngine(engine), withMaxClients(110), withQueueBudget(msgqueueLimit*3/4))

		var topics []string
		for k := range 5 {
			topics = append(topics, fmt.Sprintf("load/%d/x", k), fmt.Sprintf("load/%d/y", k))
		}
		filtersOf := func(i int) []string {
			k := (i / 5) % 5
			switch i % 5 {
			case 0:
				return []string{"load/#"}
			case 1:
				return []string{"load/+/x"}
			case 2:
				return []string{topics[i%len(topics)]}
			case 3:
				return []string{fmt.Sprintf("load/%d/+", k), fmt.Sprintf("load/%d/x", k)}
			default:
				return []string{"+/+/y", "load/#", fmt.Sprintf("load/%d/y", k)}
			}
		}

		subs := make([]mqtt.Client, clients)
		pubs := make([]mqtt.Client, clients)
		inboxes := make([]*inbox, clients)
		for i := range clients {
			subs[i] = connectPaho(t, b, newClientID("lsub"))
			inboxes[i] = subscribe(t, subs[i], filtersOf(i)...)
			pubs[i] = connectPaho(t, b, newClientID("lpub"))
		}
		b.assertClean(t, 2*clients)

		// Each publisher sends `rounds` messages "p seq" one second apart,
		// staggered over the second.
		type sent struct {
			topic string
			seq   int
		}
		sentBy := make([][]sent, clients)
		errs := make([]error, clients)
		var wg sync.WaitGroup
		for p := range clients {
			wg.Go(func() {
				rng := rand.New(rand.NewPCG(uint64(p), 42))
				time.Sleep(time.Duration(p) * time.Second / clients) // pacing, not synchronisation
				tick := time.NewTicker(time.Second)
				defer tick.Stop()
				for seq := range rounds {
					topic := topics[rng.IntN(len(topics))]
					if errs[p] = pahoPublish(pubs[p], topic, fmt.Appendf(nil, "%d %d", p, seq), ioTimeout); errs[p] != nil {
						return
					}
					sentBy[p] = append(sentBy[p], sent{topic, seq})
					if seq < rounds-1 {
						<-tick.C
					}
				}
			})
		}
		wg.Wait()
		for p, err := range errs {
			if err != nil {
				t.Fatalf("publisher %d: %v", p, err)
			}
		}

		// want[s][p] and got[s][p]: the sequence numbers of publisher p's
		// messages that subscriber s should get and got.
		want := make([][][]int, clients)
		for s := range clients {
			want[s] = make([][]int, clients)
			for p := range clients {
				for _, m := range sentBy[p] {
					if slices.ContainsFunc(filtersOf(s), func(f string) bool { return matches(f, m.topic) }) {
						want[s][p] = append(want[s][p], m.seq)
					}
				}
			}
		}
		received := func(s int) [][]int {
			got := make([][]int, clients)
			for _, m := range inboxes[s].all() {
				p, rest, _ := strings.Cut(string(m.payload), " ")
				pi, err1 := strconv.Atoi(p)
				seq, err2 := strconv.Atoi(rest)
				if err1 == nil && err2 == nil && pi < clients {
					got[pi] = append(got[pi], seq)
				}
			}
			return got
		}
		// Wait for the expected counts (losses are reported below), then
		// for a last message on every topic from one more publisher, so
		// that late duplicates are in too.
		_ = eventually(15*time.Second, func() error {
			for s := range clients {
				got := received(s)
				for p := range clients {
					if len(got[p]) < len(want[s][p]) {
						return fmt.Errorf("subscriber %d lacks messages", s)
					}
				}
			}
			return nil
		})
		last := connectPaho(t, b, newClientID("llast"))
		for _, topic := range topics {
			publish(t, last, topic, []byte("last"))
		}
		mustEventually(t, ioTimeout, func() error {
			for s, in := range inboxes {
				if !slices.ContainsFunc(in.all(), func(m message) bool { return string(m.payload) == "last" }) {
					return fmt.Errorf("subscriber %d did not get the last message", s)
				}
			}
			return nil
		})

		// Classify each (subscriber, publisher) pair, so that one kind of
		// fault reads as one line.
		var duplicated, wrong []string
		for s := range clients {
			got := received(s)
			for p := range clients {
				if slices.Equal(got[p], want[s][p]) {
					continue
				}
				pair := fmt.Sprintf("subscriber %d %q got publisher %d's %v, want %v", s, filtersOf(s), p, got[p], want[s][p])
				if slices.Equal(slices.Compact(slices.Clone(got[p])), want[s][p]) {
					duplicated = append(duplicated, pair)
				} else {
					wrong = append(wrong, pair)
				}
			}
		}
		if len(duplicated) > 0 {
			t.Errorf("%d (subscriber, publisher) pairs got messages more than once [MQTT-3.3.5-1], e.g. %s",
				len(duplicated), duplicated[0])
		}
		if len(wrong) > 0 {
			t.Errorf("%d (subscriber, publisher) pairs lost or reordered messages, e.g. %s", len(wrong), strings.Join(wrong[:min(3, len(wrong))], "; "))
		}

		leave(last)
		for i := range clients {
			leave(subs[i])
			leave(pubs[i])
		}
		b.assertClean(t, 0)
	})
}
