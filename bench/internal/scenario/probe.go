package scenario

import (
	"context"
	"time"
)

// The probe scenario is the closed-window latency probe: each publisher
// keeps at most Window messages per subscriber undelivered and sends the
// next one as soon as one arrives. Its rate is the window over the round
// trip time, not a capacity (see the capacity scenario); what it measures
// is latency with a fixed number of messages in flight.
func probeCases(cfg Config) []Case {
	return flowCases(Probe, cfg.ProbeFlows, cfg.ProbeWarmup+cfg.ProbeDuration+cfg.Drain,
		func(ctx context.Context, t Target, fl Flow) Result { return runProbe(ctx, t, cfg, fl) })
}

func runProbe(ctx context.Context, t Target, cfg Config, fl Flow) Result {
	window := int64(max(1, cfg.Window))
	r, err := runTimed(ctx, t, cfg, fl, cfg.ProbeWarmup, cfg.ProbeDuration, true,
		func(f *flow, p *publisher, fill []byte, _, to time.Time) error {
			return f.pumpWindow(ctx, p, fill, window, to)
		})
	if err != nil {
		return failure(t, err, nil)
	}
	m := r.m
	m["stalls"] = float64(r.o.stalls)
	if v, ok := m["msgs_per_s"]; ok {
		m["window_rate"] = v
		delete(m, "msgs_per_s") // not a capacity: kept apart under its own name
		delete(m, "cpu_s_per_million")
	}
	return r.f.result(ctx, m, r.sampleErr)
}
