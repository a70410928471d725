package scenario

import (
	"context"
	"fmt"
	"time"
)

// The burst scenario: BurstPublishers publishers each send BurstMessages
// QoS 1 messages at once, as fast as their connections take them, to one
// subscriber on a wildcard that reads as fast as it can. A broker must
// slow the publishers rather than lose anything or disconnect the
// subscriber: every message acknowledged with PUBACK must arrive.
func burstCases(cfg Config) []Case {
	n := cfg.BurstPublishers * cfg.BurstMessages
	return []Case{{
		Scenario: Burst, Name: fmt.Sprintf("%dto1-q1-%d", cfg.BurstPublishers, n),
		Label:    fmt.Sprintf("%d→1 QoS 1, %d messages at once", cfg.BurstPublishers, n),
		Estimate: 2*time.Second + cfg.Drain,
		Run: func(ctx context.Context, t Target) Result {
			return runBurst(ctx, t, cfg)
		},
	}}
}

func runBurst(ctx context.Context, t Target, cfg Config) Result {
	f, err := newFlow(ctx, t, fanIn(t.Prefix, cfg.BurstPublishers, 1), 1, 8)
	if err != nil {
		return failure(t, err, nil)
	}
	fill := filler(64)
	a, sampleErr := f.snap()
	start := time.Now()
	f.measure(start, start.Add(time.Hour))
	wait := f.runPublishers(func(p *publisher) error {
		for i := 0; i < cfg.BurstMessages; i++ {
			if err := f.publish(p, fill, f.clock.Now()); err != nil {
				return err
			}
		}
		return p.conn.Flush()
	})
	wait()
	f.drain(ctx, cfg.Drain, cfg.DrainMax)
	took := time.Since(start).Seconds()
	b, err := f.snap()
	sampleErr = firstErr(sampleErr, err)
	o := f.finish()

	m := map[string]float64{"burst_s": took}
	if sampleErr == nil {
		m["cpu_s"] = b.cpu - a.cpu
		if d := b.delivered - a.delivered; d > 0 {
			m["msgs_per_s"] = float64(d) / took
			m["cpu_s_per_million"] = m["cpu_s"] / float64(d) * 1e6
		}
	}
	latencyMetrics(m, o.lat)
	f.accountingMetrics(m, o)
	res := f.result(ctx, m, sampleErr)
	if o.tot.Lost() > 0 {
		res.Flags = append(res.Flags, fmt.Sprintf("lost %d of %d QoS 1 messages", o.tot.Lost(), o.tot.Expected))
	}
	return res
}
