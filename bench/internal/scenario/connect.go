package scenario

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/forkmq/forkmq/bench/internal/tally"
	"github.com/forkmq/forkmq/internal/rawmqtt"
)

// The connect scenario measures connection churn: a few workers each open a
// connection, wait for CONNACK, send DISCONNECT and close, over and over.
func connectCases(cfg Config) []Case {
	return []Case{{
		Scenario: Connect,
		Name:     fmt.Sprintf("churn-c%d", cfg.ConnectConcurrency),
		Label:    fmt.Sprintf("CONNECT→CONNACK→DISCONNECT, %d at a time", cfg.ConnectConcurrency),
		Estimate: cfg.ConnectWarmup + cfg.ConnectDuration,
		Run: func(ctx context.Context, t Target) Result {
			return runConnect(ctx, t, cfg)
		},
	}}
}

func runConnect(ctx context.Context, t Target, cfg Config) Result {
	start := time.Now()
	from, to := start.Add(cfg.ConnectWarmup), start.Add(cfg.ConnectWarmup+cfg.ConnectDuration)
	type worker struct {
		lat         *tally.Histogram
		ok, refused int
		lastErr     error
		packets     rawmqtt.Counters
	}
	workers := make([]*worker, cfg.ConnectConcurrency)
	var wg sync.WaitGroup
	for w := range workers {
		wk := &worker{lat: tally.NewHistogram()}
		workers[w] = wk
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				t0 := time.Now()
				if !t0.Before(to) || ctx.Err() != nil {
					return
				}
				c, err := rawmqtt.Dial(ctx, t.Addr, rawmqtt.Options{
					ClientID: fmt.Sprintf("%s-c%d-%d", t.Prefix, w, i), Counters: &wk.packets, KeepAlive: keepAlive,
					ReadBuffer: 512, WriteBuffer: 512, Timeout: 5 * time.Second,
				})
				lat := time.Since(t0)
				counted := !t0.Before(from)
				if err != nil {
					wk.lastErr = err
					if counted {
						wk.refused++
					}
					time.Sleep(10 * time.Millisecond) // no hot loop against a refusing broker
					continue
				}
				c.Disconnect()
				if counted {
					wk.ok++
					wk.lat.Record(int64(lat))
				}
			}
		}()
	}
	a, b, sampleErr := measureWindow(ctx, t, start, from, to, func() (snapshot, error) { return cpuSnapshot(t) })
	wg.Wait()

	lat := tally.NewHistogram()
	ok, refused := 0, 0
	var lastErr error
	var packets int64
	for _, wk := range workers {
		lat.Merge(wk.lat)
		ok += wk.ok
		refused += wk.refused
		packets += wk.packets.Packets()
		if wk.lastErr != nil {
			lastErr = wk.lastErr
		}
	}
	m := map[string]float64{"refusals": float64(refused)}
	dt := b.at.Sub(a.at).Seconds()
	if dt > 0 {
		m["conns_per_s"] = float64(ok) / dt
		m["cpu_s"] = b.cpu - a.cpu
		m["cpu_pct"] = 100 * m["cpu_s"] / dt
		m["gen_cpu_pct"] = 100 * (b.genCPU - a.genCPU) / dt
	}
	if ok > 0 {
		m["cpu_ms_per_conn"] = 1000 * m["cpu_s"] / float64(ok)
		m["connack_p50_ms"] = ms(lat.Percentile(50))
		m["connack_p99_ms"] = ms(lat.Percentile(99))
		m["connack_max_ms"] = ms(lat.Max())
	}
	res := Result{Status: StatusOK, Metrics: m}
	if err := firstErr(ctx.Err(), sampleErr, t.Exited()); err != nil {
		return failure(t, err, m)
	}
	if refused > 0 {
		res.Status = StatusRefused
		res.Error = fmt.Sprintf("%d of %d connections refused; last: %v", refused, refused+ok, lastErr)
	}
	return res
}
