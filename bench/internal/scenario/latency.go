package scenario

import (
	"context"
	"fmt"
	"strconv"
	"time"
)

// The latency scenario: publishers at a fixed offered rate, for each flow
// at fractions of the capacity the same broker reached on that flow in this
// benchmark, and at absolute rates shared by every broker: latency against
// offered load, the curve that tells how a broker behaves before it
// saturates. Offered load is counted in deliveries per second (a message to
// 100 subscribers is 100), as capacity is.
func latencyCases(cfg Config) []Case {
	var cases []Case
	for _, fl := range cfg.LatencyFlows {
		add := func(name, label string, offered func(Target) (float64, error)) {
			cases = append(cases, Case{
				Scenario: Latency, Name: fl.Name() + "-at" + name, Label: fl.Label() + " at " + label, Group: fl.Name(),
				Estimate: cfg.LatencyWarmup + cfg.LatencyDuration + cfg.Drain,
				Run: func(ctx context.Context, t Target) Result {
					rate, err := offered(t)
					if err != nil {
						return Result{Status: StatusSkipped, Error: err.Error()}
					}
					return runLatency(ctx, t, cfg, fl, rate)
				},
			})
		}
		for _, frac := range cfg.LatencyFractions {
			pct := strconv.FormatFloat(100*frac, 'f', -1, 64)
			add(pct+"pct", pct+" % of capacity", func(t Target) (float64, error) {
				c := t.Capacity(CapacityCase(fl))
				if c <= 0 {
					return 0, fmt.Errorf("no capacity measured for %s on this broker (the capacity scenario runs first)", fl.Label())
				}
				return frac * c, nil
			})
		}
		for _, r := range cfg.LatencyRates {
			n := strconv.FormatFloat(r, 'f', -1, 64)
			add(n+"ps", n+" deliveries/s", func(Target) (float64, error) { return r, nil })
		}
	}
	return cases
}

// Sustained is the share of the offered load a broker must deliver for a
// latency point to count as sustained.
const Sustained = 0.95

func runLatency(ctx context.Context, t Target, cfg Config, fl Flow, offered float64) Result {
	perPub := offered / fl.fanout() / float64(topology(fl.Topology).Pubs)
	r, err := runTimed(ctx, t, cfg, fl, cfg.LatencyWarmup, cfg.LatencyDuration, false,
		func(f *flow, p *publisher, fill []byte, start, to time.Time) error {
			return f.pumpPaced(ctx, p, fill, perPub, start, to)
		})
	if err != nil {
		return failure(t, err, nil)
	}
	m := r.m
	m["offered_per_s"] = offered
	if r.o.lag.Count() > 0 {
		m["gen_lag_p99_ms"] = ms(r.o.lag.Percentile(99))
	}
	res := r.f.result(ctx, m, r.sampleErr)
	if got := m["msgs_per_s"]; r.sampleErr == nil && got < Sustained*offered {
		res.Flags = append(res.Flags, fmt.Sprintf("unsustained: delivered %.0f of %.0f offered/s", got, offered))
	}
	return res
}
