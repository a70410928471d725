package scenario

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/forkmq/forkmq/bench/internal/tally"
)

// The seed scenario repeats the original study: an idle broker, then pairs
// of one publisher and one subscriber, each publisher sending a message of
// random length and bytes to a random topic of its own at a slow steady
// rate. It reports the broker's CPU second by second (each run's series is
// kept: at 1 % of a core a median of series hides what happens), and loss,
// duplicates and latency of the whole run.
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
	f.measure(from, to)

	offsets := make([]time.Duration, len(f.pubs))
	for i := range offsets {
		offsets[i] = time.Duration(r.Int64N(int64(period)))
	}
	wait := f.runPublishers(func(p *publisher) error {
		sizes := rand.New(rand.NewPCG(uint64(p.id), 0x517e))
		for next := start.Add(offsets[p.id]); next.Before(to); next = next.Add(period) {
			if sleepUntil(ctx, next) != nil {
				return nil
			}
			n := sizes.IntN(seedMaxPayload - tally.HeaderSize)
			if err := f.publish(p, filler[:n], f.clock.Now()); err != nil {
				return err
			}
			if err := p.conn.Flush(); err != nil {
				return err
			}
		}
		return nil
	})

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
	wait()
	f.drain(ctx, cfg.Drain, cfg.DrainMax)
	o := f.finish()

	m := map[string]float64{}
	var cpuPct []float64
	for i := 1; i < len(snaps); i++ {
		cpuPct = append(cpuPct, 100*(snaps[i].cpu-snaps[i-1].cpu)/snaps[i].at.Sub(snaps[i-1].at).Seconds())
	}
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
		latencyMetrics(m, o.lat)
		f.accountingMetrics(m, o)
	}
	res := f.result(ctx, m, sampleErr)
	res.Series = map[string][]float64{"cpu_pct": cpuPct}
	return res
}
