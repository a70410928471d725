package report

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/forkmq/forkmq/bench/internal/machine"
	"github.com/forkmq/forkmq/bench/internal/scenario"
)

// Results is everything one benchmark measured, as written to results.json.
type Results struct {
	Started     time.Time         `json:"started"`
	Finished    time.Time         `json:"finished"`
	Mode        string            `json:"mode"` // full, quick or smoke
	Repetitions int               `json:"repetitions"`
	Config      scenario.Config   `json:"config"`
	Environment Environment       `json:"environment"`
	Trust       Trust             `json:"trust"`
	Brokers     []Broker          `json:"brokers"`
	Cases       []Case            `json:"cases"`
	Metrics     []scenario.Metric `json:"metrics"`
	Runs        []Run             `json:"runs"`
	Summary     []Summary         `json:"summary"`
	Cells       []Cell            `json:"cells"`
}

// Environment records the machine the benchmark ran on.
type Environment struct {
	Cores        int               `json:"cores"`
	CPUModel     string            `json:"cpu_model"`
	MemTotal     string            `json:"mem_total"`
	Kernel       string            `json:"kernel"`
	GoVersion    string            `json:"go_version"`
	LoadStart    string            `json:"loadavg_start"`
	LoadEnd      string            `json:"loadavg_end"`
	PinBroker    string            `json:"pin_broker,omitempty"`
	PinGenerator string            `json:"pin_generator,omitempty"`
	Limits       map[string]string `json:"limits"` // kernel and process limits that bound the brokers
}

// Trust is what a reader needs to believe the figures: what was measured,
// on how quiet a machine, and what the benchmark was told to overlook.
type Trust struct {
	Commit         string   `json:"commit"`          // the tree's HEAD
	Subject        string   `json:"subject"`         // its first line
	Dirty          []string `json:"dirty,omitempty"` // files that differ from it
	AllowedDirty   bool     `json:"allowed_dirty,omitempty"`
	BinaryRevision string   `json:"binary_revision"` // what bin/broker was built from
	CPUSource      string   `json:"cpu_source"`      // how broker CPU was read
	// StartActivity is the machine in the seconds before the first run;
	// StartBusy says why it counted as busy ("" when quiet).
	StartActivity machine.Activity `json:"start_activity"`
	StartBusy     string           `json:"start_busy,omitempty"`
	Forced        bool             `json:"forced,omitempty"` // -force: busy runs went ahead
	Limits        machine.Limits   `json:"limits"`
	OrderSeed     uint64           `json:"order_seed"`
	GeneratorCPUs int              `json:"generator_cpus"`
	Stopped       string           `json:"stopped,omitempty"` // why the benchmark ended early
}

// Broker is one broker of the comparison.
type Broker struct {
	Name    string `json:"name"`
	Command string `json:"command"`
	Family  string `json:"family,omitempty"`
	Note    string `json:"note,omitempty"`
	Version string `json:"version,omitempty"`
	Config  string `json:"config,omitempty"`  // its whole configuration
	Skipped string `json:"skipped,omitempty"` // why it did not run
}

// Case identifies one workload.
type Case struct {
	Scenario string `json:"scenario"`
	Name     string `json:"name"`
	Label    string `json:"label"`
	Group    string `json:"group,omitempty"` // cases plotted together
}

// Run is one run of a case against a fresh broker.
type Run struct {
	Scenario string      `json:"scenario"`
	Case     string      `json:"case"`
	Broker   string      `json:"broker"`
	Rep      int         `json:"rep"`
	Order    int         `json:"order"` // position of the broker in this repetition's random order, from 1
	Started  time.Time   `json:"started"`
	Seconds  float64     `json:"seconds"`
	Machine  *RunMachine `json:"machine,omitempty"`
	scenario.Result
}

// RunMachine is the machine during one run.
type RunMachine struct {
	OtherPct   float64 `json:"other_cpu_pct"`
	StealPct   float64 `json:"steal_pct"`
	Load1Start float64 `json:"load1_start"`
	Load1End   float64 `json:"load1_end"`
	Busy       string  `json:"busy,omitempty"`
}

// Summary is one metric of one case and broker over the runs that count.
type Summary struct {
	Scenario string  `json:"scenario"`
	Case     string  `json:"case"`
	Broker   string  `json:"broker"`
	Metric   string  `json:"metric"`
	Median   float64 `json:"median"`
	Min      float64 `json:"min"`
	Max      float64 `json:"max"`
	N        int     `json:"n"`
}

// Cell counts the runs of one case and broker by outcome: how many runs
// stand behind its figures and what happened to the others.
type Cell struct {
	Scenario string `json:"scenario"`
	Case     string `json:"case"`
	Broker   string `json:"broker"`
	Runs     int    `json:"runs"`
	OK       int    `json:"ok"`
	Partial  int    `json:"partial,omitempty"`
	Refused  int    `json:"refused,omitempty"`
	Failed   int    `json:"failed,omitempty"`
	Skipped  int    `json:"skipped,omitempty"`
	Flagged  int    `json:"flagged,omitempty"` // counted runs with a flag (busy machine, saturated generator, …)
	Slowed   int    `json:"slowed,omitempty"`  // ok or partial runs left out of the figures: the machine slowed
}

// Counted is the number of runs behind the cell's figures.
func (c Cell) Counted() int { return c.OK + c.Partial - c.Slowed }

type key struct{ scenario, cas, broker string }

// Summarize fills Summary and Cells from Runs. Only ok and partial runs
// count in the figures; refused, failed and skipped runs are counted in the
// cell, never averaged in.
func (r *Results) Summarize() {
	r.Summary, r.Cells = nil, nil
	r.markSlowed()
	steady := map[key]int{} // counted runs not on a slowed machine
	for _, run := range r.Runs {
		if scenario.Counts(run.Status) && !Slowed(run) {
			steady[key{run.Scenario, run.Case, run.Broker}]++
		}
	}
	metrics := map[key]map[string][]float64{}
	cells := map[key]*Cell{}
	var order []key
	for _, run := range r.Runs {
		k := key{run.Scenario, run.Case, run.Broker}
		c := cells[k]
		if c == nil {
			c = &Cell{Scenario: k.scenario, Case: k.cas, Broker: k.broker}
			cells[k] = c
			metrics[k] = map[string][]float64{}
			order = append(order, k)
		}
		c.Runs++
		switch run.Status {
		case scenario.StatusOK:
			c.OK++
		case scenario.StatusPartial:
			c.Partial++
		case scenario.StatusRefused:
			c.Refused++
		case scenario.StatusFailed:
			c.Failed++
		default:
			c.Skipped++
		}
		if !scenario.Counts(run.Status) {
			continue
		}
		if Slowed(run) && steady[k] > 0 {
			c.Slowed++
			continue
		}
		if len(run.Flags) > 0 {
			c.Flagged++
		}
		for name, v := range run.Metrics {
			metrics[k][name] = append(metrics[k][name], v)
		}
	}
	for _, k := range order {
		r.Cells = append(r.Cells, *cells[k])
		for _, m := range r.Metrics {
			vs := metrics[k][m.Name]
			if len(vs) == 0 {
				continue
			}
			r.Summary = append(r.Summary, Summary{Scenario: k.scenario, Case: k.cas, Broker: k.broker,
				Metric: m.Name, Median: Median(vs), Min: slices.Min(vs), Max: slices.Max(vs), N: len(vs)})
		}
	}
}

// A paced workload — the seed: every broker is offered the same messages —
// gives the load generator the same work in every run, so its CPU is a
// control: in a run where it needed slowedFactor times what it needed in
// the case's quietest run, the machine itself slowed (on this kind of
// virtual machine, for seconds at a time, every process at once: the
// hypervisor, a noisy neighbour), and the broker's CPU and latency in that
// run measure the machine more than the broker. Such a run is flagged and
// left out of the figures, unless every counted run of its cell is.
const (
	slowedFactor = 2.0
	slowedFloor  = 0.5 // % of a core: below it the generator's CPU is too small to compare
	slowedPrefix = "machine slowed"
)

// markSlowed flags the seed runs on a slowed machine; it replaces any
// earlier such flag, so Summarize can run again as runs arrive.
func (r *Results) markSlowed() {
	quietest := map[string]float64{}
	for _, run := range r.Runs {
		g, ok := run.Metrics["gen_cpu_pct"]
		if run.Scenario != scenario.Seed || !scenario.Counts(run.Status) || !ok || run.Metrics["packets_per_s"] <= 0 {
			continue
		}
		if q, seen := quietest[run.Case]; !seen || g < q {
			quietest[run.Case] = g
		}
	}
	for i := range r.Runs {
		run := &r.Runs[i]
		run.Flags = slices.DeleteFunc(run.Flags, func(f string) bool { return strings.HasPrefix(f, slowedPrefix) })
		q, ok := quietest[run.Case]
		g := run.Metrics["gen_cpu_pct"]
		if run.Scenario != scenario.Seed || !scenario.Counts(run.Status) || !ok || q < slowedFloor || g < slowedFactor*q {
			continue
		}
		run.Flags = append(run.Flags, fmt.Sprintf("%s: the load generator used %.1f× the CPU of the case's quietest run "+
			"(%.2f%% of a core against %.2f%%) for the same messages; left out of the figures unless every run of its cell was slowed", slowedPrefix, g/q, g, q))
	}
}

// Slowed reports whether a run was flagged as run on a slowed machine.
func Slowed(run Run) bool {
	return slices.ContainsFunc(run.Flags, func(f string) bool { return strings.HasPrefix(f, slowedPrefix) })
}

// Median returns the median of vs (the mean of the middle two for an even
// count); 0 for none.
func Median(vs []float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	if n := len(s); n%2 == 1 {
		return s[n/2]
	} else {
		return (s[n/2-1] + s[n/2]) / 2
	}
}

// Lookup returns the summary of a metric, if any.
func (r *Results) Lookup(scen, cas, broker, metric string) (Summary, bool) {
	for _, s := range r.Summary {
		if s.Scenario == scen && s.Case == cas && s.Broker == broker && s.Metric == metric {
			return s, true
		}
	}
	return Summary{}, false
}

// CellOf returns the run counts of a case and broker.
func (r *Results) CellOf(scen, cas, broker string) (Cell, bool) {
	for _, c := range r.Cells {
		if c.Scenario == scen && c.Case == cas && c.Broker == broker {
			return c, true
		}
	}
	return Cell{}, false
}

// WriteJSON writes results.json into dir.
func (r *Results) WriteJSON(dir string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "results.json"), append(b, '\n'), 0o644)
}
