package scenario

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/forkmq/forkmq/bench/internal/tally"
	"github.com/forkmq/forkmq/internal/rawmqtt"
)

// The takeover scenario: one client id is taken over again and again. A
// client connects; a second connects with the same id; the broker must
// close the first [MQTT-3.1.4-2] and accept the second; then a third takes
// over from the second, and so on. Takeover latency runs from the new
// client's TCP connect to its CONNACK, as CONNACK latency does in the
// connect scenario; the time until the old connection is closed is kept
// too.
func takeoverCases(cfg Config) []Case {
	return []Case{{
		Scenario: Takeover, Name: fmt.Sprintf("%d-takeovers", cfg.Takeovers),
		Label:    fmt.Sprintf("%d takeovers of one client id in a row", cfg.Takeovers),
		Estimate: time.Duration(cfg.Takeovers) * 30 * time.Millisecond,
		Run: func(ctx context.Context, t Target) Result {
			return runTakeover(ctx, t, cfg)
		},
	}}
}

// oldCloseWait bounds the wait for the broker to close a taken-over
// connection.
const oldCloseWait = 5 * time.Second

func runTakeover(ctx context.Context, t Target, cfg Config) Result {
	id := t.Prefix + "-taken"
	opts := rawmqtt.Options{ClientID: id, KeepAlive: keepAlive, ReadBuffer: 512, WriteBuffer: 512, Timeout: 10 * time.Second}
	old, err := rawmqtt.Dial(ctx, t.Addr, opts)
	if err != nil {
		return failure(t, &dialError{client: 0, err: err}, nil)
	}
	a, sampleErr := cpuSnapshot(t)
	took, closed := tally.NewHistogram(), tally.NewHistogram()
	stale := 0
	var runErr error
	for i := 1; i <= cfg.Takeovers && ctx.Err() == nil; i++ {
		t0 := time.Now()
		c, err := rawmqtt.Dial(ctx, t.Addr, opts)
		if err != nil {
			runErr = &dialError{client: i, err: err}
			break
		}
		took.Record(int64(time.Since(t0)))
		// The old connection must end: EOF (or a reset) without any
		// packet for it.
		_ = old.NetConn().SetReadDeadline(t0.Add(oldCloseWait))
		_, rerr := old.ReadPacket()
		switch {
		case rerr == nil:
			runErr = fmt.Errorf("takeover %d: the old connection received a packet instead of being closed", i)
		case errors.Is(rerr, io.EOF) || !isTimeout(rerr):
			closed.Record(int64(time.Since(t0)))
		default:
			stale++
		}
		old.Close()
		old = c
		t.Progress(float64(i) / float64(cfg.Takeovers))
		if runErr != nil {
			break
		}
	}
	old.Disconnect()
	b, err := cpuSnapshot(t)
	sampleErr = firstErr(sampleErr, err)

	m := map[string]float64{"takeovers": float64(took.Count()), "takeover_stale": float64(stale)}
	if took.Count() > 0 {
		m["takeover_p50_ms"] = ms(took.Percentile(50))
		m["takeover_p99_ms"] = ms(took.Percentile(99))
		m["takeover_max_ms"] = ms(took.Max())
		if sampleErr == nil {
			m["cpu_ms_per_takeover"] = 1000 * (b.cpu - a.cpu) / float64(took.Count())
		}
	}
	if closed.Count() > 0 {
		m["old_closed_p99_ms"] = ms(closed.Percentile(99))
	}
	if err := firstErr(ctx.Err(), runErr, sampleErr, t.Exited()); err != nil {
		return failure(t, err, m)
	}
	res := Result{Status: StatusOK, Metrics: m}
	if stale > 0 {
		res.Flags = append(res.Flags, fmt.Sprintf("%d taken-over connections still open after %v", stale, oldCloseWait))
	}
	return res
}

func isTimeout(err error) bool {
	var te interface{ Timeout() bool }
	return errors.As(err, &te) && te.Timeout()
}
