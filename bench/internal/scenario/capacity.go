package scenario

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/forkmq/forkmq/bench/internal/tally"
)

// The capacity scenario: every publisher sends as fast as its connection
// takes messages (open loop, bounded only by TCP: a broker that reads no
// more stops its publishers; at QoS 1 also by Inflight messages not yet
// acknowledged, as every client library bounds them), every subscriber
// reads as fast as it can.
// Delivered messages/s, the broker's CPU per delivery and the loss at
// saturation are measured after a warm-up; the latency reported is that of
// a saturated broker, queueing included.
func capacityCases(cfg Config) []Case {
	return flowCases(Capacity, cfg.CapacityFlows, cfg.CapacityWarmup+cfg.CapacityDuration+cfg.Drain,
		func(ctx context.Context, t Target, fl Flow) Result { return runCapacity(ctx, t, cfg, fl) })
}

// flowCases makes a case of each flow, grouped by payload size.
func flowCases(scen string, flows []Flow, estimate time.Duration, run func(context.Context, Target, Flow) Result) []Case {
	var cases []Case
	for _, fl := range flows {
		cases = append(cases, Case{
			Scenario: scen, Name: fl.Name(), Label: fl.Label(), Group: payloadLabel(fl.Payload), Estimate: estimate,
			Run: func(ctx context.Context, t Target) Result { return run(ctx, t, fl) },
		})
	}
	return cases
}

// filler returns the bytes after the header of every payload of a flow:
// random, the same for every broker.
func filler(payload int) []byte {
	return randomBytes(rand.New(rand.NewPCG(uint64(payload), 1)), max(0, payload-tally.HeaderSize))
}

func runCapacity(ctx context.Context, t Target, cfg Config, fl Flow) Result {
	r, err := runTimed(ctx, t, cfg, fl, cfg.CapacityWarmup, cfg.CapacityDuration, false,
		func(f *flow, p *publisher, fill []byte, _, to time.Time) error { return f.pumpOpen(ctx, p, fill, to) })
	if err != nil {
		return failure(t, err, nil)
	}
	return r.f.result(ctx, r.m, r.sampleErr)
}

// timedRun is a flow that ran for a warm-up and a measured window.
type timedRun struct {
	f         *flow
	m         map[string]float64 // rates of the window, latency, accounting
	o         outcome
	sampleErr error
}

// runTimed connects a flow's clients, drives every publisher with pump
// from the start until the end of the measured window, waits for the
// stragglers and returns the window's figures. An error is a flow the
// broker did not take.
func runTimed(ctx context.Context, t Target, cfg Config, fl Flow, warmup, duration time.Duration, windowed bool,
	pump func(f *flow, p *publisher, fill []byte, start, to time.Time) error) (*timedRun, error) {
	f, err := newFlow(ctx, t, fl.wire(t.Prefix), fl.QoS, 8)
	if err != nil {
		return nil, err
	}
	f.grace, f.windowed = cfg.DrainMax, windowed
	if cfg.Inflight > 0 {
		f.inflight = int64(min(cfg.Inflight, maxUnacked))
	}
	fill := filler(fl.Payload)
	start := time.Now()
	from, to := start.Add(warmup), start.Add(warmup+duration)
	f.measure(from, to)
	wait := f.runPublishers(func(p *publisher) error { return pump(f, p, fill, start, to) })
	a, b, sampleErr := measureWindow(ctx, t, start, from, to, f.snap)
	wait()
	f.drain(ctx, cfg.Drain, cfg.DrainMax)
	r := &timedRun{f: f, m: map[string]float64{}, o: f.finish(), sampleErr: sampleErr}
	if sampleErr == nil {
		rateMetrics(r.m, a, b)
	}
	latencyMetrics(r.m, r.o.lat)
	f.accountingMetrics(r.m, r.o)
	return r, nil
}

// CapacityCase is the name of the capacity case a latency case takes its
// fractions from.
func CapacityCase(fl Flow) string { return fl.Name() }
