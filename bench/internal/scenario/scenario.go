// Package scenario holds the benchmark's workloads: seed (the original
// study's idle broker, 1+1 and 50+50 slow publishers), throughput (fan-in,
// fan-out and parallel streams at full speed under a bounded in-flight
// window), connect (connection churn) and scale (thousands of idle
// clients). Each case runs against one started broker and returns a Result;
// a broker that refuses or fails yields a Result that says so, never a
// panic or an error that stops the benchmark.
package scenario

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/forkmq/forkmq/bench/internal/proctree"
	"github.com/forkmq/forkmq/internal/bench/mqttc"
)

// Status of one run.
const (
	StatusOK      = "ok"
	StatusRefused = "refused" // the broker refused or dropped clients
	StatusFailed  = "failed"  // the broker exited, or the run broke
	StatusSkipped = "skipped" // not run (see the error)
)

// Target is the broker a case runs against.
type Target struct {
	Addr string
	Tree *proctree.Tree
	// Exited returns a description of the broker's exit, or nil while it
	// runs.
	Exited func() error
	// Progress reports how far the case is, from 0 to 1.
	Progress func(done float64)
	// Prefix makes client identifiers and topics unique to this run.
	Prefix string
}

// Result is what one run of a case measured.
type Result struct {
	Status  string               `json:"status"`
	Error   string               `json:"error,omitempty"`
	Note    string               `json:"note,omitempty"` // what the broker logged in a run that went well
	Metrics map[string]float64   `json:"metrics,omitempty"`
	Series  map[string][]float64 `json:"series,omitempty"`
}

// Case is one workload of a scenario with its parameters fixed.
type Case struct {
	Scenario string
	Name     string // unique within the scenario, safe in file names
	Label    string // for tables
	Group    string // cases plotted together: the payload size in throughput
	Estimate time.Duration
	Run      func(ctx context.Context, t Target) Result
}

// Metric describes a measured quantity for the report.
type Metric struct {
	Name   string `json:"name"`
	Label  string `json:"label"`
	Unit   string `json:"unit"`
	Better string `json:"better"` // "higher" or "lower"
}

// Metrics lists every metric a scenario may report, in report order.
var Metrics = []Metric{
	{"msgs_per_s", "delivered messages/s", "msg/s", "higher"},
	{"sent_per_s", "published messages/s", "msg/s", "higher"},
	{"conns_per_s", "connections/s", "conn/s", "higher"},
	{"latency_p50_ms", "latency p50", "ms", "lower"},
	{"latency_p90_ms", "latency p90", "ms", "lower"},
	{"latency_p99_ms", "latency p99", "ms", "lower"},
	{"latency_max_ms", "latency max", "ms", "lower"},
	{"connack_p50_ms", "CONNACK latency p50", "ms", "lower"},
	{"connack_p99_ms", "CONNACK latency p99", "ms", "lower"},
	{"connack_max_ms", "CONNACK latency max", "ms", "lower"},
	{"loss_pct", "loss", "%", "lower"},
	{"lost", "lost messages", "msg", "lower"},
	{"duplicates", "duplicates", "msg", "lower"},
	{"reordered", "reordered", "msg", "lower"},
	{"unexpected", "messages from no followed publisher, or unreadable", "msg", "lower"},
	{"qos_downgraded", "subscriptions granted a lower QoS than asked", "", "lower"},
	{"unacked", "QoS 1 PUBLISH without PUBACK", "msg", "lower"},
	{"stalls", "window stalls (1 s without progress)", "", "lower"},
	{"refusals", "refused connections", "conn", "lower"},
	{"cpu_pct", "broker CPU (mean)", "% of a core", "lower"},
	{"cpu_pct_max", "broker CPU (max 1 s)", "% of a core", "lower"},
	{"cpu_s", "broker CPU time", "s", "lower"},
	{"cpu_s_per_million", "broker CPU per million deliveries", "s", "lower"},
	{"cpu_ms_per_conn", "broker CPU per connection", "ms", "lower"},
	{"gen_cpu_pct", "load generator CPU (mean)", "% of a core", "lower"},
	{"packets_per_s", "MQTT packets on the wire", "pkt/s", "higher"},
	{"held", "clients held", "clients", "higher"},
	{"connect_s", "time to connect them", "s", "lower"},
	{"rss_mib", "broker tree RSS", "MiB", "lower"},
	{"pss_mib", "broker tree PSS", "MiB", "lower"},
	{"rss_kib_per_client", "RSS per client", "KiB", "lower"},
	{"pss_kib_per_client", "PSS per client", "KiB", "lower"},
	{"procs", "broker processes", "", "lower"},
}

// MetricByName returns the metric's description.
func MetricByName(name string) (Metric, bool) {
	for _, m := range Metrics {
		if m.Name == name {
			return m, true
		}
	}
	return Metric{}, false
}

// Names of the scenarios, in the order they run.
const (
	Seed       = "seed"
	Throughput = "throughput"
	Connect    = "connect"
	Scale      = "scale"
)

// All lists the scenarios.
var All = []string{Seed, Throughput, Connect, Scale}

// Cases returns the cases of the named scenarios under cfg.
func Cases(cfg Config, scenarios []string) ([]Case, error) {
	var cases []Case
	for _, s := range scenarios {
		switch s {
		case Seed:
			cases = append(cases, seedCases(cfg)...)
		case Throughput:
			cases = append(cases, throughputCases(cfg)...)
		case Connect:
			cases = append(cases, connectCases(cfg)...)
		case Scale:
			cases = append(cases, scaleCases(cfg)...)
		default:
			return nil, fmt.Errorf("unknown scenario %q (have %v)", s, All)
		}
	}
	return cases, nil
}

// failure turns an error into a Result, telling a refusal from a failure:
// a broker that exited failed; one that answered a client with a refusing
// CONNACK, closed it or never answered it refused.
func failure(t Target, err error, metrics map[string]float64) Result {
	if exit := t.Exited(); exit != nil {
		return Result{Status: StatusFailed, Error: exit.Error(), Metrics: metrics}
	}
	status := StatusFailed
	var refusal *dialError
	if errors.As(err, &refusal) {
		status = StatusRefused
	}
	return Result{Status: status, Error: err.Error(), Metrics: metrics}
}

// dialError is a client the broker did not accept.
type dialError struct {
	client int
	err    error
}

func (e *dialError) Error() string { return fmt.Sprintf("client %d not accepted: %v", e.client, e.err) }
func (e *dialError) Unwrap() error { return e.err }

// dialAll connects n clients, conc at a time, stopping at the first one the
// broker does not accept. It returns the clients connected so far in index
// order (nil where none) and the first error.
func dialAll(ctx context.Context, addr string, n, conc int, opts func(i int) mqttc.Options, progress func(float64)) ([]*mqttc.Conn, error) {
	conns := make([]*mqttc.Conn, n)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu    sync.Mutex
		next  int
		done  int
		first error
		wg    sync.WaitGroup
	)
	for w := 0; w < max(1, min(conc, n)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				i := next
				next++
				stop := first != nil || i >= n
				mu.Unlock()
				if stop || ctx.Err() != nil {
					return
				}
				c, err := mqttc.Dial(ctx, addr, opts(i))
				mu.Lock()
				if err != nil {
					if first == nil {
						first = &dialError{client: i, err: err}
						cancel()
					}
				} else {
					conns[i] = c
					done++
					if progress != nil {
						progress(float64(done) / float64(n))
					}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return conns, first
}

// closeAll closes every connection without DISCONNECT.
func closeAll(conns []*mqttc.Conn) {
	for _, c := range conns {
		if c != nil {
			c.Close()
		}
	}
}

// connected counts the non-nil connections.
func connected(conns []*mqttc.Conn) int {
	n := 0
	for _, c := range conns {
		if c != nil {
			n++
		}
	}
	return n
}

// sleepUntil waits until t or the context ends.
func sleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}

// ms converts nanoseconds to milliseconds.
func ms(ns int64) float64 { return float64(ns) / 1e6 }

// measureWindow waits for the measurement window [from, to) of a run that
// began at start, reporting progress, and takes a snapshot at each end.
func measureWindow(ctx context.Context, t Target, start, from, to time.Time, snap func() (snapshot, error)) (a, b snapshot, err error) {
	for i, mark := range []time.Time{from, to} {
		for now := time.Now(); now.Before(mark) && ctx.Err() == nil; now = time.Now() {
			t.Progress(float64(now.Sub(start)) / float64(to.Sub(start)))
			next := now.Add(200 * time.Millisecond)
			if mark.Before(next) {
				next = mark
			}
			sleepUntil(ctx, next)
		}
		s, serr := snap()
		if serr != nil && err == nil {
			err = serr
		}
		if i == 0 {
			a = s
		} else {
			b = s
		}
	}
	return a, b, err
}
