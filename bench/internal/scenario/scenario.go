package scenario

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/forkmq/forkmq/bench/internal/proctree"
	"github.com/forkmq/forkmq/internal/rawmqtt"
)

// Status of one run.
const (
	StatusOK      = "ok"
	StatusPartial = "partial" // measured, but the workload did not complete (see the error)
	StatusRefused = "refused" // the broker refused or dropped clients
	StatusFailed  = "failed"  // the broker exited, or the run broke
	StatusSkipped = "skipped" // not run (see the error)
)

// Counts reports whether a run's metrics count in the figures: ok and
// partial runs do; a refused run measured a broker that did not take the
// workload, and is shown as a refusal instead.
func Counts(status string) bool { return status == StatusOK || status == StatusPartial }

// Target is the broker a case runs against.
type Target struct {
	Addr string
	// Tree is the broker's process tree, for memory and process counts.
	Tree *proctree.Tree
	// CPU returns the CPU seconds the broker's whole tree has used since
	// it started.
	CPU func() (float64, error)
	// Exited returns a description of the broker's exit, or nil while it
	// runs.
	Exited func() error
	// Progress reports how far the case is, from 0 to 1.
	Progress func(done float64)
	// Prefix makes client identifiers and topics unique to this run.
	Prefix string
	// Capacity returns the delivered messages/s this broker reached in
	// the named capacity case earlier in this benchmark (the median of
	// its runs), or 0 when it has none.
	Capacity func(capacityCase string) float64
	// ToolPin is the CPU list tools other than mqbench (the cross-check's
	// clients) are pinned to, as mqbench itself is; "" for none.
	ToolPin string
}

// Result is what one run of a case measured.
type Result struct {
	Status  string               `json:"status"`
	Error   string               `json:"error,omitempty"`
	Note    string               `json:"note,omitempty"` // what the broker logged in a run that went well
	Flags   []string             `json:"flags,omitempty"`
	Metrics map[string]float64   `json:"metrics,omitempty"`
	Series  map[string][]float64 `json:"series,omitempty"`
}

// Case is one workload of a scenario with its parameters fixed.
type Case struct {
	Scenario string
	Name     string // unique within the scenario, safe in file names
	Label    string // for tables
	Group    string // cases plotted together
	Estimate time.Duration
	Run      func(ctx context.Context, t Target) Result
}

// Names of the scenarios, in the order they run: capacity before latency,
// whose loads are fractions of the capacity measured.
const (
	Seed       = "seed"
	Capacity   = "capacity"
	Latency    = "latency"
	Probe      = "probe"
	Burst      = "burst"
	Connect    = "connect"
	Takeover   = "takeover"
	Hostile    = "hostile"
	Scale      = "scale"
	CrossCheck = "crosscheck"
)

// All lists the scenarios.
var All = []string{Seed, Capacity, Latency, Probe, Burst, Connect, Takeover, Hostile, Scale, CrossCheck}

// Cases returns the cases of the named scenarios under cfg, in the order
// of All whatever the order asked.
func Cases(cfg Config, scenarios []string) ([]Case, error) {
	want := map[string]bool{}
	for _, s := range scenarios {
		if !isScenario(s) {
			return nil, fmt.Errorf("unknown scenario %q (have %v)", s, All)
		}
		want[s] = true
	}
	var cases []Case
	for _, s := range All {
		if !want[s] {
			continue
		}
		switch s {
		case Seed:
			cases = append(cases, seedCases(cfg)...)
		case Capacity:
			cases = append(cases, capacityCases(cfg)...)
		case Latency:
			cases = append(cases, latencyCases(cfg)...)
		case Probe:
			cases = append(cases, probeCases(cfg)...)
		case Burst:
			cases = append(cases, burstCases(cfg)...)
		case Connect:
			cases = append(cases, connectCases(cfg)...)
		case Takeover:
			cases = append(cases, takeoverCases(cfg)...)
		case Hostile:
			cases = append(cases, hostileCases(cfg)...)
		case Scale:
			cases = append(cases, scaleCases(cfg)...)
		case CrossCheck:
			cases = append(cases, crossCheckCases(cfg)...)
		}
	}
	return cases, nil
}

func isScenario(s string) bool {
	for _, a := range All {
		if a == s {
			return true
		}
	}
	return false
}

// errClosedByBroker marks a connection the broker closed during a run (a
// subscriber judged too slow, for instance).
var errClosedByBroker = errors.New("connection closed by the broker")

// failure turns an error into a Result, telling a refusal from a failure:
// a broker that exited failed; one that answered a client with a refusing
// CONNACK, never answered it, or closed a connection during the run
// refused (the workload, if not the client).
func failure(t Target, err error, metrics map[string]float64) Result {
	if exit := t.Exited(); exit != nil {
		return Result{Status: StatusFailed, Error: exit.Error(), Metrics: metrics}
	}
	status := StatusFailed
	var refusal *dialError
	if errors.As(err, &refusal) || errors.Is(err, errClosedByBroker) {
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

// keepAlive is the keep-alive every client of the benchmark asks for: long
// enough that no run needs a PINGREQ, and above mochi's 5 s, under which it
// logs a warning for every connection.
const keepAlive = 60

// dialAll connects n clients, conc at a time, stopping at the first one the
// broker does not accept. It returns the clients connected so far in index
// order (nil where none) and the first error.
func dialAll(ctx context.Context, addr string, n, conc int, opts func(i int) rawmqtt.Options, progress func(float64)) ([]*rawmqtt.Conn, error) {
	conns := make([]*rawmqtt.Conn, n)
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
				o := opts(i)
				if o.KeepAlive == 0 {
					o.KeepAlive = keepAlive
				}
				c, err := rawmqtt.Dial(ctx, addr, o)
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
func closeAll(conns []*rawmqtt.Conn) {
	for _, c := range conns {
		if c != nil {
			c.Close()
		}
	}
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

// cpuSnapshot reads the broker's and the generator's CPU.
func cpuSnapshot(t Target) (snapshot, error) {
	s := snapshot{at: time.Now(), genCPU: selfCPU()}
	cpu, err := t.CPU()
	if err != nil {
		return s, fmt.Errorf("sample broker CPU: %w", err)
	}
	s.cpu = cpu
	return s, nil
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

func maxOf(v []float64) float64 {
	m := 0.0
	for _, x := range v {
		m = max(m, x)
	}
	return m
}
