// Package report holds a benchmark's results (written as results.json),
// reduces repetitions to medians with their range, and renders report.md
// and the PNG plots.
package report

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"time"

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
	Brokers     []Broker          `json:"brokers"`
	Cases       []Case            `json:"cases"`
	Metrics     []scenario.Metric `json:"metrics"`
	Runs        []Run             `json:"runs"`
	Summary     []Summary         `json:"summary"`
	Series      []Series          `json:"series"` // pointwise medians of the runs' time series
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
	Limits       map[string]string `json:"limits"`   // kernel and process limits that bound the brokers
	Versions     map[string]string `json:"versions"` // of the brokers, where known
}

// Broker is one broker of the comparison.
type Broker struct {
	Name    string `json:"name"`
	Command string `json:"command"`
	Skipped string `json:"skipped,omitempty"` // why it did not run
}

// Case identifies one workload.
type Case struct {
	Scenario string `json:"scenario"`
	Name     string `json:"name"`
	Label    string `json:"label"`
	Group    string `json:"group,omitempty"` // cases plotted together (throughput: by payload)
}

// Run is one run of a case against a fresh broker.
type Run struct {
	Scenario string    `json:"scenario"`
	Case     string    `json:"case"`
	Broker   string    `json:"broker"`
	Rep      int       `json:"rep"`
	Started  time.Time `json:"started"`
	Seconds  float64   `json:"seconds"`
	scenario.Result
}

// Summary is one metric of one case and broker over the repetitions.
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

// Series is the pointwise median of one time series over the repetitions.
type Series struct {
	Scenario string    `json:"scenario"`
	Case     string    `json:"case"`
	Broker   string    `json:"broker"`
	Name     string    `json:"name"`
	Step     float64   `json:"step_s"`
	Values   []float64 `json:"values"`
}

type key struct{ scenario, cas, broker string }

// Summarize fills Summary and Series from Runs. Runs that failed or were
// skipped do not count; refused runs do (their metrics say how far the
// broker went).
func (r *Results) Summarize() {
	r.Summary, r.Series = nil, nil
	metrics := map[key]map[string][]float64{}
	series := map[key]map[string][][]float64{}
	var order []key
	for _, run := range r.Runs {
		if run.Status != scenario.StatusOK && run.Status != scenario.StatusRefused {
			continue
		}
		k := key{run.Scenario, run.Case, run.Broker}
		if metrics[k] == nil {
			metrics[k], series[k] = map[string][]float64{}, map[string][][]float64{}
			order = append(order, k)
		}
		for name, v := range run.Metrics {
			metrics[k][name] = append(metrics[k][name], v)
		}
		for name, v := range run.Series {
			series[k][name] = append(series[k][name], v)
		}
	}
	for _, k := range order {
		for _, m := range r.Metrics {
			vs := metrics[k][m.Name]
			if len(vs) == 0 {
				continue
			}
			r.Summary = append(r.Summary, Summary{Scenario: k.scenario, Case: k.cas, Broker: k.broker,
				Metric: m.Name, Median: Median(vs), Min: slices.Min(vs), Max: slices.Max(vs), N: len(vs)})
		}
		names := make([]string, 0, len(series[k]))
		for name := range series[k] {
			names = append(names, name)
		}
		slices.Sort(names)
		for _, name := range names {
			r.Series = append(r.Series, Series{Scenario: k.scenario, Case: k.cas, Broker: k.broker, Name: name,
				Step: r.Config.Sample.Seconds(), Values: pointwiseMedian(series[k][name])})
		}
	}
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

// pointwiseMedian returns, for each index, the median over the series that
// reach it.
func pointwiseMedian(all [][]float64) []float64 {
	var out []float64
	for i := 0; ; i++ {
		var col []float64
		for _, s := range all {
			if i < len(s) {
				col = append(col, s[i])
			}
		}
		if len(col) == 0 {
			return out
		}
		out = append(out, Median(col))
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

// WriteJSON writes results.json into dir.
func (r *Results) WriteJSON(dir string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "results.json"), append(b, '\n'), 0o644)
}
