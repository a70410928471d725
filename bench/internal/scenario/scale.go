package scenario

import (
	"context"
	"fmt"
	"time"

	"github.com/forkmq/forkmq/internal/rawmqtt"
)

// The scale scenario holds many idle clients (keep-alive 60 s, no traffic):
// how long connecting them takes, what they cost the broker in memory, what
// they cost it in CPU while nothing happens (over IdleDuration), whether
// each still answers PINGREQ afterwards, and — when the broker refuses one —
// how many it held.
func scaleCases(cfg Config) []Case {
	var cases []Case
	for _, n := range cfg.ScaleLevels {
		cases = append(cases, Case{
			Scenario: Scale,
			Name:     fmt.Sprintf("%d-clients", n),
			Label:    fmt.Sprintf("%d idle clients", n),
			Estimate: cfg.ScaleSettle + cfg.IdleDuration + time.Duration(n)*time.Millisecond,
			Run: func(ctx context.Context, t Target) Result {
				return runScale(ctx, t, cfg, n)
			},
		})
	}
	return cases
}

// ScaleLevel returns the client count of a scale case, or 0.
func ScaleLevel(c Case) int {
	var n int
	if c.Scenario != Scale {
		return 0
	}
	fmt.Sscanf(c.Name, "%d-clients", &n)
	return n
}

func runScale(ctx context.Context, t Target, cfg Config, n int) Result {
	base, err := t.Tree.Memory()
	if err != nil {
		return failure(t, fmt.Errorf("measure the idle broker: %w", err), nil)
	}
	start := time.Now()
	conns, dialErr := dialAll(ctx, t.Addr, n, cfg.ScaleConcurrency, func(i int) rawmqtt.Options {
		return rawmqtt.Options{ClientID: fmt.Sprintf("%s-i%d", t.Prefix, i), KeepAlive: keepAlive,
			ReadBuffer: 256, WriteBuffer: 256, Timeout: 10 * time.Second}
	}, func(done float64) { t.Progress(0.5 * done) })
	defer closeAll(conns)
	connectS := time.Since(start).Seconds()
	if sleepUntil(ctx, time.Now().Add(cfg.ScaleSettle)) != nil {
		return failure(t, ctx.Err(), nil)
	}
	mem, memErr := t.Tree.Memory()
	a, idleErr := cpuSnapshot(t)
	for end := time.Now().Add(cfg.IdleDuration); time.Now().Before(end) && ctx.Err() == nil; {
		next := time.Now().Add(200 * time.Millisecond)
		if end.Before(next) {
			next = end
		}
		sleepUntil(ctx, next)
		t.Progress(0.5 + 0.45*(1-float64(time.Until(end))/float64(cfg.IdleDuration)))
	}
	b, err := cpuSnapshot(t)
	idleErr = firstErr(idleErr, err)
	alive := pingAll(conns, 10*time.Second)

	m := map[string]float64{"held": float64(alive), "connect_s": connectS}
	held := connected(conns) // during the measurements; alive is after them
	if idleErr == nil && held > 0 {
		dt := b.at.Sub(a.at).Seconds()
		m["idle_cpu_pct"] = 100 * (b.cpu - a.cpu) / dt
		m["idle_cpu_us_per_client_s"] = 1e6 * (b.cpu - a.cpu) / dt / float64(held)
	}
	if memErr == nil {
		m["rss_mib"] = float64(mem.RSS) / (1 << 20)
		m["pss_mib"] = float64(mem.PSS) / (1 << 20)
		m["procs"] = float64(mem.Procs)
		if held > 0 {
			m["rss_kib_per_client"] = (float64(mem.RSS) - float64(base.RSS)) / 1024 / float64(held)
			m["pss_kib_per_client"] = (float64(mem.PSS) - float64(base.PSS)) / 1024 / float64(held)
		}
	}
	if err := firstErr(ctx.Err(), t.Exited(), memErr, idleErr); err != nil {
		return failure(t, err, m)
	}
	if dialErr != nil {
		return failure(t, fmt.Errorf("held %d of %d: %w", alive, n, dialErr), m)
	}
	if alive < n {
		return Result{Status: StatusRefused, Error: fmt.Sprintf("%d of %d idle clients did not answer PINGREQ", n-alive, n), Metrics: m}
	}
	return Result{Status: StatusOK, Metrics: m}
}

// pingAll sends PINGREQ on every connection, then waits for each PINGRESP;
// it returns how many answered within d.
func pingAll(conns []*rawmqtt.Conn, d time.Duration) int {
	deadline := time.Now().Add(d)
	sent := make([]bool, len(conns))
	for i, c := range conns {
		if c != nil {
			sent[i] = c.Write(rawmqtt.Pingreq()) == nil
		}
	}
	alive := 0
	for i, c := range conns {
		if !sent[i] {
			continue
		}
		_ = c.NetConn().SetReadDeadline(deadline)
		for {
			p, err := c.ReadPacket()
			if err != nil {
				break
			}
			if p.Type() == rawmqtt.TypePingresp {
				alive++
				break
			}
		}
	}
	return alive
}

// connected counts the non-nil connections.
func connected(conns []*rawmqtt.Conn) int {
	n := 0
	for _, c := range conns {
		if c != nil {
			n++
		}
	}
	return n
}
