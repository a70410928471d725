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

// TestIdleBroker: a broker without clients starts, has no children, and
// stops cleanly (exit 0, nothing left; see startBroker's cleanup).
func TestIdleBroker(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, engine string) {
		b := startBroker(t, withEngine(engine))
		if kids := childrenOf(b.PID); len(kids) != 0 {
			t.Errorf("idle broker has children %v", kids)
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
// It is not parallel: its 100 clients use most of the POSIX queue memory
// that all root processes share (RLIMIT_MSGQUEUE).
func TestFiftyPublishersFiftySubscribers(t *testing.T) {
	if testing.Short() {
		t.Skip("10 s load scenario; skipped with -short")
	}
	forEachEngine(t, func(t *testing.T, engine string) {
		const (
			clients = 50
			rounds  = 10
		)
		b := startBroker(t, withEngine(engine), withMaxClients(110))

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
		// staggered, then an end marker "p end" on every topic.
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
					if errs[p] = pahoPublish(pubs[p], topic, fmt.Sprintf("%d %d", p, seq)); errs[p] != nil {
						return
					}
					sentBy[p] = append(sentBy[p], sent{topic, seq})
					if seq < rounds-1 {
						<-tick.C
					}
				}
				for _, topic := range topics {
					if errs[p] = pahoPublish(pubs[p], topic, fmt.Sprintf("%d end", p)); errs[p] != nil {
						return
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

		// Every subscriber matches some topic, so it gets an end marker of
		// every publisher; by then it has all that publisher's messages.
		endsOf := func(msgs []message) int {
			seen := map[string]bool{}
			for _, m := range msgs {
				if p, rest, _ := strings.Cut(string(m.payload), " "); rest == "end" {
					seen[p] = true
				}
			}
			return len(seen)
		}
		mustEventually(t, 15*time.Second, func() error {
			var errs errList
			for s, in := range inboxes {
				if n := endsOf(in.all()); n < clients {
					errs.add("subscriber %d has end markers of %d of %d publishers", s, n, clients)
				}
			}
			return errs.err()
		})

		for s, in := range inboxes {
			got := make([][]int, clients) // sequence numbers per publisher
			for _, m := range in.all() {
				p, rest, _ := strings.Cut(string(m.payload), " ")
				if rest == "end" {
					continue
				}
				pi, _ := strconv.Atoi(p)
				seq, _ := strconv.Atoi(rest)
				got[pi] = append(got[pi], seq)
			}
			for p := range clients {
				var want []int
				for _, m := range sentBy[p] {
					if slices.ContainsFunc(filtersOf(s), func(f string) bool { return matches(f, m.topic) }) {
						want = append(want, m.seq)
					}
				}
				if !slices.Equal(got[p], want) {
					t.Errorf("subscriber %d %v got publisher %d's messages %v, want %v", s, filtersOf(s), p, got[p], want)
				}
			}
		}

		for i := range clients {
			leave(subs[i])
			leave(pubs[i])
		}
		b.assertClean(t, 0)
	})
}

// pahoPublish sends a QoS 0 message; unlike publish it may run on any goroutine.
func pahoPublish(c mqtt.Client, topic, payload string) error {
	tok := c.Publish(topic, 0, false, []byte(payload))
	if !tok.WaitTimeout(ioTimeout) {
		return fmt.Errorf("publish to %s: not done within %v", topic, ioTimeout)
	}
	return tok.Error()
}
