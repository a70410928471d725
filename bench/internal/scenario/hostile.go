package scenario

import (
	"context"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/forkmq/forkmq/bench/internal/tally"
	"github.com/forkmq/forkmq/internal/rawmqtt"
)

// The hostile scenario: malformed connections, one after another, while
// healthy pairs of publisher and subscriber go on publishing QoS 1 at a
// steady rate. Each malformed connection sends one of a few kinds of bad
// first packet and waits for the broker to close it. The figures: how long
// the malformed connections took (and how many the broker left open), and
// the healthy clients' latency and loss meanwhile. A run that reaches its
// time limit before the last malformed connection is partial.
func hostileCases(cfg Config) []Case {
	return []Case{{
		Scenario: Hostile, Name: fmt.Sprintf("%d-malformed", cfg.HostileConnections),
		Label:    fmt.Sprintf("%d malformed connections in a row, %d healthy pairs at %g msg/s", cfg.HostileConnections, cfg.HostilePairs, cfg.HostileRate),
		Estimate: time.Second + min(cfg.HostileLimit, time.Duration(cfg.HostileConnections)*2*time.Millisecond) + cfg.Drain,
		Run: func(ctx context.Context, t Target) Result {
			return runHostile(ctx, t, cfg)
		},
	}}
}

// malformed are the first packets the hostile connections send, in turn.
var malformed = func() [][]byte {
	c := rawmqtt.MQTT311("h")
	c.KeepAlive = keepAlive
	connect := c.Bytes()
	badName := append([]byte(nil), connect...)
	badName[7] = 'X' // protocol name MQTX [MQTT-3.1.2-1]
	reserved := append([]byte(nil), connect...)
	reserved[9] |= 0x01 // the reserved CONNECT flag [MQTT-3.1.2-3]
	return [][]byte{
		{0x10, 0xff, 0xff, 0xff, 0xff, 0x01},              // remaining length of five bytes [MQTT-2.2.3]
		{0x30, 0x07, 0x00, 0x03, 'a', '/', 'b', 'h', 'i'}, // PUBLISH before CONNECT [MQTT-3.1.0-1]
		badName,      // unknown protocol name
		reserved,     // reserved flag set
		{0x00, 0x00}, // packet type 0 is reserved
		append(append([]byte(nil), connect...), connect...), // a second CONNECT [MQTT-3.1.0-2]
	}
}()

// closeWait bounds the wait for the broker to close one malformed connection.
const closeWait = 10 * time.Second

func runHostile(ctx context.Context, t Target, cfg Config) Result {
	f, err := newFlow(ctx, t, pairs(t.Prefix, cfg.HostilePairs, cfg.HostilePairs), 1, 8)
	if err != nil {
		return failure(t, err, nil)
	}
	fill := filler(64)
	healthyCtx, stopHealthy := context.WithCancel(ctx)
	defer stopHealthy()
	start := time.Now()
	wait := f.runPublishers(func(p *publisher) error {
		return f.pumpPaced(healthyCtx, p, fill, cfg.HostileRate, start, start.Add(time.Hour))
	})
	sleepUntil(ctx, start.Add(time.Second)) // the healthy clients settle

	h0 := time.Now()
	f.measure(h0, h0.Add(time.Hour))
	a, sampleErr := f.snap()
	closeLat := tally.NewHistogram()
	done, unclosed := 0, 0
	var hostileErr error
	deadline := h0.Add(cfg.HostileLimit)
	for ; done < cfg.HostileConnections && time.Now().Before(deadline) && ctx.Err() == nil; done++ {
		closeTook, ok, err := oneMalformed(ctx, t.Addr, malformed[done%len(malformed)])
		if err != nil {
			hostileErr = &dialError{client: done, err: fmt.Errorf("malformed connection: %w", err)}
			break
		}
		if ok {
			closeLat.Record(int64(closeTook))
		} else {
			unclosed++
		}
		if done%50 == 0 {
			t.Progress(max(float64(done)/float64(cfg.HostileConnections), float64(time.Since(h0))/float64(cfg.HostileLimit)))
		}
	}
	took := time.Since(h0).Seconds() // of all the malformed connections
	b, err := f.snap()
	sampleErr = firstErr(sampleErr, err)
	f.measure(h0, time.Now()) // latency of messages sent while the malformed connections came
	stopHealthy()
	wait()
	f.drain(ctx, cfg.Drain, cfg.DrainMax)
	o := f.finish()

	m := map[string]float64{"hostile_done": float64(done), "hostile_s": took, "hostile_unclosed": float64(unclosed)}
	if took > 0 {
		m["hostile_per_s"] = float64(done) / took
	}
	if closeLat.Count() > 0 {
		m["hostile_close_p99_ms"] = ms(closeLat.Percentile(99))
	}
	if sampleErr == nil {
		m["cpu_s"] = b.cpu - a.cpu
		m["cpu_pct"] = 100 * m["cpu_s"] / took
		if done > 0 {
			m["cpu_ms_per_conn"] = 1000 * m["cpu_s"] / float64(done)
		}
	}
	latencyMetrics(m, o.lat)
	f.accountingMetrics(m, o)
	res := f.result(ctx, m, sampleErr, hostileErr)
	if res.Status == StatusOK && done < cfg.HostileConnections {
		res.Status = StatusPartial
		res.Error = fmt.Sprintf("%d of %d malformed connections within the %v limit", done, cfg.HostileConnections, cfg.HostileLimit)
	}
	if unclosed > 0 {
		res.Flags = append(res.Flags, fmt.Sprintf("%d malformed connections left open for %v", unclosed, closeWait))
	}
	return res
}

// oneMalformed connects, sends bad and waits until the broker closes the
// connection: closed reports whether it did within closeWait (anything it
// sends first, a CONNACK say, is read and ignored), took how long from the
// TCP connect until then. An error is a connection the broker did not take
// at all.
func oneMalformed(ctx context.Context, addr string, bad []byte) (took time.Duration, closed bool, err error) {
	var d net.Dialer
	dctx, cancel := context.WithTimeout(ctx, closeWait)
	defer cancel()
	t0 := time.Now()
	nc, err := d.DialContext(dctx, "tcp", addr)
	if err != nil {
		return 0, false, err
	}
	defer nc.Close()
	_ = nc.SetDeadline(t0.Add(closeWait))
	if _, err := nc.Write(bad); err == nil {
		_, err = io.Copy(io.Discard, nc)
		if err != nil && isTimeout(err) {
			return time.Since(t0), false, nil
		}
	}
	return time.Since(t0), true, nil // closed, before or after we wrote
}
