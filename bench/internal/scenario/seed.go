package scenario

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/forkmq/forkmq/bench/internal/tally"
)

// The seed scenario repeats the original study: an idle broker, then pairs
// of one publisher and one subscriber, each publisher sending a message of
// random length and bytes to a random topic of its own at a slow steady
// rate. It reports the broker's CPU and the packets on the wire second by
// second, and loss, duplicates and latency of the whole run.
func seedCases(cfg Config) []Case {
	var cases []Case
	for _, n := range cfg.SeedPairs {
		name, label := "idle", "idle broker"
		if n > 0 {
			name, label = fmt.Sprintf("%dpub-%dsub", n, n), fmt.Sprintf("%d pub + %d sub", n, n)
		}
		cases = append(cases, Case{
			Scenario: Seed, Name: name, Label: label,
			Estimate: cfg.SeedWarmup + cfg.SeedDuration + cfg.Drain/2,
			Run: func(ctx context.Context, t Target) Result {
				return runSeed(ctx, t, cfg, n)
			},
		})
	}
	return cases
}

// seedWiring gives each pair a random topic; the generator is seeded by the
// pair count so that every broker sees the same topics and payload sizes.
func seedWiring(r *rand.Rand, prefix string, pairs int) wiring {
	var w wiring
	for i := 0; i < pairs; i++ {
		topic := fmt.Sprintf("seed/%s/%08x/%04x", prefix, r.Uint32(), r.Uint32()&0xffff)
		w.pubTopics = append(w.pubTopics, topic)
		w.subFilters = append(w.subFilters, topic)
		w.subFollows = append(w.subFollows, []uint32{uint32(i)})
	}
	return w
}

const seedMaxPayload = 512

func runSeed(ctx context.Context, t Target, cfg Config, pairs int) Result {
	r := rand.New(rand.NewPCG(uint64(pairs), 0x5eed))
	f, err := newFlow(ctx, t, seedWiring(r, t.Prefix, pairs), cfg.SeedQoS, 8)
	if err != nil {
		return failure(t, err, nil)
	}
	filler := randomBytes(r, seedMaxPayload)
	period := time.Duration(float64(time.Second) / cfg.SeedRate)
	start := time.Now()
	from, to := start.Add(cfg.SeedWarmup), start.Add(cfg.SeedWarmup+cfg.SeedDuration)
	f.from.Store(f.clock.Now() + int64(cfg.SeedWarmup))
	f.to.Store(f.clock.Now() + int64(cfg.SeedWarmup+cfg.SeedDuration))

	var pubs sync.WaitGroup
	for _, p := range f.pubs {
		offset := time.Duration(r.Int64N(int64(period)))
		sizes := rand.New(rand.NewPCG(uint64(p.id), 0x517e))
		pubs.Add(1)
		go func() {
			defer pubs.Done()
			for next := start.Add(offset); next.Before(to); next = next.Add(period) {
				if sleepUntil(ctx, next) != nil {
					return
				}
				n := sizes.IntN(seedMaxPayload - tally.HeaderSize)
				if err := f.publish(p, filler[:n]); err != nil {
					f.fail("publisher", err)
					return
				}
				if err := p.conn.Flush(); err != nil {
					f.fail("publisher", err)
					return
				}
			}
		}()
	}

	var snaps []snapshot
	var sampleErr error
	if sleepUntil(ctx, from) == nil {
		for k := 0; ; k++ {
			at := from.Add(time.Duration(k) * cfg.Sample)
			if at.After(to) || sleepUntil(ctx, at) != nil {
				break
			}
			s, err := f.snap()
			if err != nil {
				sampleErr = err
				break
			}
			snaps = append(snaps, s)
			t.Progress(float64(time.Since(start)) / float64(cfg.SeedWarmup+cfg.SeedDuration))
		}
	}
	pubs.Wait()
	f.drain(ctx, cfg.Drain)
	tot, lat, unacked, _ := f.finish()

	m := map[string]float64{}
	cpuPct, packets := rates(snaps)
	if n := len(snaps); n >= 2 {
		first, last := snaps[0], snaps[n-1]
		dt := last.at.Sub(first.at).Seconds()
		m["cpu_s"] = last.cpu - first.cpu
		m["cpu_pct"] = 100 * m["cpu_s"] / dt
		m["cpu_pct_max"] = maxOf(cpuPct)
		m["gen_cpu_pct"] = 100 * (last.genCPU - first.genCPU) / dt
		m["packets_per_s"] = float64(last.packets-first.packets) / dt
	}
	if pairs > 0 {
		latencyMetrics(m, lat)
		f.accountingMetrics(m, tot, unacked, 0)
		delete(m, "stalls")
	}
	res := Result{Status: StatusOK, Metrics: m, Series: map[string][]float64{"cpu_pct": cpuPct, "packets_per_s": packets}}
	if err := firstErr(ctx.Err(), sampleErr, f.Err(), t.Exited()); err != nil {
		fr := failure(t, err, m)
		res.Status, res.Error = fr.Status, fr.Error
	}
	return res
}

func maxOf(v []float64) float64 {
	m := 0.0
	for _, x := range v {
		m = max(m, x)
	}
	return m
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}
