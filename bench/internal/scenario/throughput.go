package scenario

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/forkmq/forkmq/bench/internal/tally"
)

// Topology is a shape of publishers and subscribers.
type Topology struct {
	Name  string // for file names: 1to1
	Label string // for tables: 1→1
	Pubs  int
	Subs  int
	wire  func(prefix string, pubs, subs int) wiring
}

// Topologies of the throughput scenario.
var Topologies = []Topology{
	{"1to1", "1→1", 1, 1, pairs},
	{"10to10", "10→10", 10, 10, pairs},
	{"1to100", "1→100", 1, 100, fanOut},
	{"100to1", "100→1", 100, 1, fanIn},
}

// pairs: publisher i to subscriber i, on a topic of their own.
func pairs(prefix string, n, _ int) wiring {
	var w wiring
	for i := 0; i < n; i++ {
		topic := fmt.Sprintf("tp/%s/%d", prefix, i)
		w.pubTopics = append(w.pubTopics, topic)
		w.subFilters = append(w.subFilters, topic)
		w.subFollows = append(w.subFollows, []uint32{uint32(i)})
	}
	return w
}

// fanOut: one publisher, every subscriber on its topic.
func fanOut(prefix string, _, subs int) wiring {
	w := wiring{pubTopics: []string{"tp/" + prefix + "/0"}}
	for i := 0; i < subs; i++ {
		w.subFilters = append(w.subFilters, w.pubTopics[0])
		w.subFollows = append(w.subFollows, []uint32{0})
	}
	return w
}

// fanIn: every publisher on a topic of its own, one subscriber to all of
// them through a wildcard.
func fanIn(prefix string, pubs, _ int) wiring {
	w := wiring{subFilters: []string{"tp/" + prefix + "/+"}, subFollows: [][]uint32{nil}}
	for i := 0; i < pubs; i++ {
		w.pubTopics = append(w.pubTopics, fmt.Sprintf("tp/%s/%d", prefix, i))
		w.subFollows[0] = append(w.subFollows[0], uint32(i))
	}
	return w
}

func payloadLabel(n int) string {
	if n >= 1024 && n%1024 == 0 {
		return fmt.Sprintf("%d KiB", n/1024)
	}
	return fmt.Sprintf("%d B", n)
}

func throughputCases(cfg Config) []Case {
	var cases []Case
	add := func(topo Topology, qos byte, payload int) {
		cases = append(cases, Case{
			Scenario: Throughput,
			Name:     fmt.Sprintf("%s-q%d-%dB", topo.Name, qos, payload),
			Label:    fmt.Sprintf("%s QoS %d %s", topo.Label, qos, payloadLabel(payload)),
			Group:    payloadLabel(payload),
			Estimate: cfg.ThroughputWarmup + cfg.ThroughputDuration + cfg.Drain/4,
			Run: func(ctx context.Context, t Target) Result {
				return runThroughput(ctx, t, cfg, topo, qos, payload)
			},
		})
	}
	for i, topo := range cfg.Topologies {
		if cfg.ThroughputSmoke { // each topology once; QoS and payload alternate
			add(topo, cfg.QoS[i%len(cfg.QoS)], cfg.Payloads[(i+i/2)%len(cfg.Payloads)])
			continue
		}
		for _, qos := range cfg.QoS {
			for _, p := range cfg.Payloads {
				add(topo, qos, p)
			}
		}
	}
	return cases
}

func runThroughput(ctx context.Context, t Target, cfg Config, topo Topology, qos byte, payload int) Result {
	w := topo.wire(t.Prefix, topo.Pubs, topo.Subs)
	f, err := newFlow(ctx, t, w, qos, 8)
	if err != nil {
		return failure(t, err, nil)
	}
	// The window bounds what is in flight towards each subscriber: a
	// subscriber that follows n publishers gives each 1/n of it.
	followed := 1
	for _, fl := range w.subFollows {
		followed = max(followed, len(fl))
	}
	window := int64(max(1, cfg.Window/followed))
	filler := randomBytes(rand.New(rand.NewPCG(uint64(payload), 1)), max(0, payload-tally.HeaderSize))
	start := time.Now()
	from, to := start.Add(cfg.ThroughputWarmup), start.Add(cfg.ThroughputWarmup+cfg.ThroughputDuration)
	now := f.clock.Now()
	f.from.Store(now + int64(cfg.ThroughputWarmup))
	f.to.Store(now + int64(cfg.ThroughputWarmup+cfg.ThroughputDuration))

	var pubs sync.WaitGroup
	for _, p := range f.pubs {
		pubs.Add(1)
		go func() {
			defer pubs.Done()
			var forgiven int64
			timer := time.NewTimer(time.Hour)
			defer timer.Stop()
			for time.Now().Before(to) {
				if err := f.waitWindow(ctx, p, window, &forgiven, timer, to); err != nil {
					f.fail("publisher", err)
					return
				}
				if err := f.publish(p, filler); err != nil {
					f.fail("publisher", err)
					return
				}
			}
			if err := p.conn.Flush(); err != nil {
				f.fail("publisher", err)
			}
		}()
	}

	a, b, sampleErr := measureWindow(ctx, t, start, from, to, f.snap)
	pubs.Wait()
	f.drain(ctx, cfg.Drain)
	tot, lat, unacked, stalls := f.finish()

	m := map[string]float64{}
	if dt := b.at.Sub(a.at).Seconds(); dt > 0 && sampleErr == nil {
		delivered := b.delivered - a.delivered
		m["msgs_per_s"] = float64(delivered) / dt
		m["sent_per_s"] = float64(b.sent-a.sent) / dt
		m["packets_per_s"] = float64(b.packets-a.packets) / dt
		m["cpu_s"] = b.cpu - a.cpu
		m["cpu_pct"] = 100 * m["cpu_s"] / dt
		m["gen_cpu_pct"] = 100 * (b.genCPU - a.genCPU) / dt
		if delivered > 0 {
			m["cpu_s_per_million"] = m["cpu_s"] / float64(delivered) * 1e6
		}
	}
	latencyMetrics(m, lat)
	f.accountingMetrics(m, tot, unacked, stalls)
	res := Result{Status: StatusOK, Metrics: m}
	if err := firstErr(ctx.Err(), sampleErr, f.Err(), t.Exited()); err != nil {
		fr := failure(t, err, m)
		res.Status, res.Error = fr.Status, fr.Error
	}
	return res
}
