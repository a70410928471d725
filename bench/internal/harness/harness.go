// Package bench is mqbench's harness: it runs every case of the chosen
// scenarios against each broker in alternation, a fresh broker per run,
// repeats the cycle, and writes results.json, report.md and the plots.
//
// The pieces are sub-packages: mqttc (the load generator's MQTT client),
// tally (loss, duplicate, order and latency accounting), proctree (CPU and
// memory of a broker's whole process tree), broker (starting and stopping
// brokers from command lines), scenario (the workloads) and report.
package harness

import (
	"context"
	"fmt"
	"os"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/forkmq/forkmq/bench/internal/broker"
	"github.com/forkmq/forkmq/bench/internal/proctree"
	"github.com/forkmq/forkmq/bench/internal/report"
	"github.com/forkmq/forkmq/bench/internal/scenario"
)

// Config is one benchmark.
type Config struct {
	Brokers      []broker.Spec // in the order of the alternation
	Scenarios    []string
	Only         []string // if set, only cases whose name contains one of these
	Reps         int
	Mode         string // full, quick or smoke: recorded only
	Scenario     scenario.Config
	OutDir       string // created if missing
	BinDir       string // where the built-in brokers' binaries are
	PinBroker    string // taskset CPU list for brokers
	PinGenerator string // recorded only: the caller pins itself
	// Pause between runs, so that one broker's teardown does not fall into
	// the next broker's measurement.
	Pause    time.Duration
	Progress *os.File // bars or lines go here
}

// Run runs the benchmark and writes its outputs. An error means the
// benchmark itself could not go on; brokers that refuse or fail are recorded
// in the results instead. When ctx ends early the results so far are still
// written.
func Run(ctx context.Context, cfg Config) (*report.Results, error) {
	cases, err := scenario.Cases(cfg.Scenario, cfg.Scenarios)
	if err != nil {
		return nil, err
	}
	if len(cfg.Only) > 0 {
		cases = slices.DeleteFunc(cases, func(c scenario.Case) bool {
			return !slices.ContainsFunc(cfg.Only, func(s string) bool { return strings.Contains(c.Name, s) })
		})
		if len(cases) == 0 {
			return nil, fmt.Errorf("no case name contains any of %q", cfg.Only)
		}
	}
	if err := os.MkdirAll(cfg.OutDir, 0o755); err != nil {
		return nil, err
	}
	// Scratch directories (forkmq's state directories among them) go on a
	// tmpfs when there is one, as the broker's own default does: file
	// writes there cost no disk flush, for every broker alike.
	scratchParent := ""
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		scratchParent = "/dev/shm"
	}
	scratch, err := os.MkdirTemp(scratchParent, "mqbench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(scratch)

	res := &report.Results{Started: time.Now(), Mode: cfg.Mode, Repetitions: cfg.Reps,
		Config: cfg.Scenario, Metrics: scenario.Metrics, Environment: environment(cfg.BinDir)}
	res.Environment.PinBroker, res.Environment.PinGenerator = cfg.PinBroker, cfg.PinGenerator
	var brokers []broker.Spec
	for _, b := range cfg.Brokers {
		info := report.Broker{Name: b.Name, Command: b.Command}
		if err := b.Available(); err != nil {
			info.Skipped = err.Error()
		} else {
			brokers = append(brokers, b)
		}
		res.Brokers = append(res.Brokers, info)
	}
	var total time.Duration
	for _, c := range cases {
		res.Cases = append(res.Cases, report.Case{Scenario: c.Scenario, Name: c.Name, Label: c.Label, Group: c.Group})
		total += time.Duration(cfg.Reps*len(brokers)) * estimate(c, cfg)
	}
	prog := newProgress(cfg.Progress, total)
	for _, b := range res.Brokers {
		if b.Skipped != "" {
			prog.note("%s: not run: %s", b.Name, b.Skipped)
		}
	}

	refusedAt := map[string]int{} // scale level at which a broker refused
	seq := 0
cases:
	for _, c := range cases {
		for rep := 1; rep <= cfg.Reps; rep++ {
			for _, b := range brokers {
				if ctx.Err() != nil {
					break cases
				}
				seq++
				run := report.Run{Scenario: c.Scenario, Case: c.Name, Broker: b.Name, Rep: rep, Started: time.Now()}
				prog.begin(fmt.Sprintf("%s %s · %s · %d/%d", c.Scenario, c.Name, b.Name, rep, cfg.Reps), estimate(c, cfg))
				if level := scenario.ScaleLevel(c); level > 0 && refusedAt[b.Name] > 0 && level > refusedAt[b.Name] {
					run.Status = scenario.StatusSkipped
					run.Error = fmt.Sprintf("refused at the %d-client level already", refusedAt[b.Name])
				} else {
					run.Result = runOne(ctx, cfg, b, c, scratch, seq, prog)
					if level := scenario.ScaleLevel(c); level > 0 && run.Status == scenario.StatusRefused {
						if refusedAt[b.Name] == 0 || level < refusedAt[b.Name] {
							refusedAt[b.Name] = level
						}
					}
				}
				run.Seconds = time.Since(run.Started).Seconds()
				res.Runs = append(res.Runs, run)
				prog.end(run.Status, time.Since(run.Started))
				if cfg.Pause > 0 {
					select {
					case <-ctx.Done():
					case <-time.After(cfg.Pause):
					}
				}
			}
		}
	}
	prog.finish()
	res.Finished = time.Now()
	res.Environment.LoadEnd = loadavg()
	res.Summarize()
	if err := res.WriteJSON(cfg.OutDir); err != nil {
		return res, err
	}
	plots, err := res.WritePlots(cfg.OutDir)
	if err != nil {
		prog.note("plots: %v", err)
	}
	return res, res.WriteMarkdown(cfg.OutDir, plots)
}

// runOne starts the broker, runs the case once and stops the broker. A
// panic in the case is recorded as a failure of the run.
func runOne(ctx context.Context, cfg Config, b broker.Spec, c scenario.Case, scratch string, seq int, prog *progress) (res scenario.Result) {
	inst, err := broker.Start(ctx, b, broker.Options{ScratchRoot: scratch, Pin: cfg.PinBroker})
	if err != nil {
		return scenario.Result{Status: scenario.StatusFailed, Error: "broker did not start: " + err.Error()}
	}
	defer func() {
		if p := recover(); p != nil {
			res = scenario.Result{Status: scenario.StatusFailed, Error: fmt.Sprintf("harness panic: %v\n%s", p, debug.Stack())}
		}
		if tail := inst.LogTail(); tail != "" {
			if res.Status != scenario.StatusOK {
				res.Error = joinNote(res.Error, "broker log ends: "+tail)
			} else {
				res.Note = "broker log ends: " + tail
			}
		}
		if err := inst.Stop(); err != nil {
			res.Error = joinNote(res.Error, err.Error())
		}
	}()
	t := scenario.Target{
		Addr:     inst.Addr,
		Tree:     proctree.New(inst.PID),
		Exited:   inst.Exited,
		Progress: prog.set,
		Prefix:   fmt.Sprintf("mqb%d", seq),
	}
	return c.Run(ctx, t)
}

// estimate is a run's expected time, with the broker's start and stop.
func estimate(c scenario.Case, cfg Config) time.Duration {
	return c.Estimate + cfg.Pause + 300*time.Millisecond
}

func joinNote(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}
