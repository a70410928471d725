package report

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/forkmq/forkmq/bench/internal/scenario"
)

const capCase = "1to1-q0-64B"

func sampleResults() *Results {
	r := &Results{Started: time.Unix(0, 0), Finished: time.Unix(60, 0), Mode: "test", Repetitions: 3,
		Config: scenario.Smoke(), Metrics: scenario.Metrics,
		Trust: Trust{Commit: "abc123", Subject: "a commit", BinaryRevision: "abc123"},
		Brokers: []Broker{{Name: process}, {Name: goroutine}, {Name: "mosquitto", Family: mosquitto},
			{Name: "mosquitto-nodelay", Family: mosquitto}, {Name: mochi}, {Name: "gone", Skipped: "not installed"}},
		Cases: []Case{{Scenario: scenario.Capacity, Name: capCase, Label: "1→1 QoS 0 64 B", Group: "64 B"}}}
	add := func(broker string, rep int, status string, rate, cpu, loss float64, flags ...string) {
		r.Runs = append(r.Runs, Run{Scenario: scenario.Capacity, Case: capCase, Broker: broker, Rep: rep,
			Result: scenario.Result{Status: status, Flags: flags,
				Metrics: map[string]float64{"msgs_per_s": rate, "cpu_s_per_million": cpu, "loss_pct": loss, "lost": 0}}})
	}
	add(process, 1, scenario.StatusOK, 100, 40, 0)
	add(process, 2, scenario.StatusOK, 300, 20, 0, "busy machine: other processes used 30% of a core")
	add(process, 3, scenario.StatusRefused, 5, 900, 0) // never averaged in
	add(goroutine, 1, scenario.StatusOK, 1000, 2, 30)
	add(goroutine, 2, scenario.StatusOK, 1000, 2, 30)
	add(goroutine, 3, scenario.StatusOK, 1000, 2, 30)
	add("mosquitto", 1, scenario.StatusOK, 400, 10, 0)
	add("mosquitto", 2, scenario.StatusFailed, 9999, 1, 0) // does not count
	add("mosquitto", 3, scenario.StatusOK, 600, 10, 0)
	add("mosquitto-nodelay", 1, scenario.StatusOK, 300, 8, 0)
	add("mosquitto-nodelay", 2, scenario.StatusOK, 300, 8, 0)
	add("mosquitto-nodelay", 3, scenario.StatusOK, 300, 8, 0)
	for rep := 1; rep <= 3; rep++ {
		add(mochi, rep, scenario.StatusRefused, 1, 1, 0)
	}
	r.Summarize()
	return r
}

func TestSummarizeCountsOnlyRunsThatCount(t *testing.T) {
	r := sampleResults()
	fp, ok := r.Lookup(scenario.Capacity, capCase, process, "msgs_per_s")
	if !ok || fp.Median != 200 || fp.Min != 100 || fp.Max != 300 || fp.N != 2 {
		t.Fatalf("forkmq-process summary = %+v (the refused run must not count)", fp)
	}
	c, _ := r.CellOf(scenario.Capacity, capCase, process)
	if c.Runs != 3 || c.OK != 2 || c.Refused != 1 || c.Flagged != 1 || c.Counted() != 2 {
		t.Fatalf("cell = %+v", c)
	}
	if _, ok := r.Lookup(scenario.Capacity, capCase, mochi, "msgs_per_s"); ok {
		t.Fatal("a broker whose runs were all refused must have no figure")
	}
}

// Ratios to mosquitto take the better of its configurations for each
// figure: the default for throughput here, nodelay for CPU.
func TestBestOfFamilyAndRatios(t *testing.T) {
	r := sampleResults()
	f := Figure{Scenario: scenario.Capacity, Case: capCase, Metric: "msgs_per_s"}
	s, who, ok := r.Best(f, mosquitto)
	if !ok || who != "mosquitto" || s.Median != 500 {
		t.Fatalf("best mosquitto for msgs/s = %v %q %v", s.Median, who, ok)
	}
	ratio, _, b := r.Ratio(f, Comparisons[1])
	if b != "mosquitto" || math.Abs(ratio-0.4) > 1e-9 {
		t.Fatalf("process ÷ mosquitto = %v against %s, want 0.4 against mosquitto", ratio, b)
	}
	cpu := Figure{Scenario: scenario.Capacity, Case: capCase, Metric: "cpu_s_per_million"}
	if _, who, _ := r.Best(cpu, mosquitto); who != "mosquitto-nodelay" {
		t.Fatalf("best mosquitto for CPU = %q, want mosquitto-nodelay", who)
	}
	if got := Cost("msgs_per_s", 0.4); got != 2.5 {
		t.Fatalf("cost of a 0.4 throughput ratio = %v, want 2.5 (times worse)", got)
	}
	if got := ratioCell("msgs_per_s", 0.4); got != "×0.400 (2.50× worse)" {
		t.Fatalf("ratioCell = %q", got)
	}
}

func TestWriteReport(t *testing.T) {
	r := sampleResults()
	dir := t.TempDir()
	plots, err := r.WritePlots(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(plots[scenario.Capacity]) == 0 || len(plots["headline"]) == 0 {
		t.Fatalf("plots = %v", plots)
	}
	for _, ps := range plots {
		for _, p := range ps {
			if fi, err := os.Stat(filepath.Join(dir, p)); err != nil || fi.Size() == 0 {
				t.Fatalf("plot %s: %v", p, err)
			}
		}
	}
	if err := r.WriteMarkdown(dir, plots); err != nil {
		t.Fatal(err)
	}
	if err := r.WriteJSON(dir); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	md := string(b)
	if !strings.HasPrefix(md[strings.Index(md, "\n## "):], "\n## What two processes per client cost") {
		t.Error("report.md must open with the first page")
	}
	for _, want := range []string{
		"| capacity, 1→1 QoS 0 64 B (delivered msg/s) | 200 (n=2) | 1000 (n=3) | 500 (n=2, mosquitto) | refused ×3 |", // headline
		"×0.200 (5.00× worse)", // process ÷ goroutine
		"| 1→1 QoS 0 64 B | 200 (100–300) n=2/3* | 1000 | 500 (400–600) n=2/3 | 300 | refused ×3 |", // values, counts, flags, refusals
		"**not run**: not installed",
		"| capacity | 1to1-q0-64B | mosquitto | 2 | failed |",
		"busy machine: other processes used 30% of a core",
		"`abc123` (a commit), a clean tree",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
}

func TestFormat(t *testing.T) {
	for v, want := range map[float64]string{0: "0", 12345.6: "12346", 42: "42", 12.34: "12.3", 1.234: "1.23", 0.01234: "0.0123", 0.99999: "1.00", -3.5: "-3.50", 0.4: "0.400", 0.0999999: "0.100", 0.00123456: "0.00123"} {
		if got := Format(v); got != want {
			t.Errorf("Format(%v) = %q, want %q", v, got, want)
		}
	}
}

// In a paced workload the load generator's CPU is a control: a run where
// it needed twice its quietest run's CPU ran on a slowed machine and is
// left out of its cell's figures — unless every run of the cell was slowed.
func TestSlowedMachineRunsLeftOut(t *testing.T) {
	const cas = "50pub-50sub"
	seed := func(broker string, rep int, gen, cpu float64) Run {
		return Run{Scenario: scenario.Seed, Case: cas, Broker: broker, Rep: rep, Result: scenario.Result{Status: scenario.StatusOK,
			Metrics: map[string]float64{"gen_cpu_pct": gen, "cpu_pct": cpu, "packets_per_s": 200}}}
	}
	tests := []struct {
		name        string
		runs        []Run
		broker      string
		median      float64
		n, slowed   int
		flaggedRuns int
	}{
		{"one slowed run of three is left out",
			[]Run{seed(process, 1, 1.6, 3), seed(process, 2, 1.9, 4), seed(process, 3, 7.5, 15), seed("mosquitto", 1, 1.5, 1)},
			process, 3.5, 2, 1, 1},
		{"the quietest run of any broker sets the control",
			[]Run{seed(process, 1, 2.9, 3), seed("mosquitto", 1, 1.4, 1), seed("mosquitto", 2, 1.5, 1)},
			process, 3, 1, 0, 1},
		{"a cell whose runs were all slowed keeps them, flagged",
			[]Run{seed(process, 1, 8, 14), seed(process, 2, 9, 16), seed("mosquitto", 1, 1.5, 1)},
			process, 15, 2, 0, 2},
		{"below the floor nothing is compared",
			[]Run{seed(process, 1, 0.1, 0.2), seed(process, 2, 0.4, 0.3)},
			process, 0.25, 2, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &Results{Metrics: scenario.Metrics, Runs: tc.runs}
			r.Summarize()
			r.Summarize() // idempotent: flags are replaced, not added again
			s, ok := r.Lookup(scenario.Seed, cas, tc.broker, "cpu_pct")
			c, _ := r.CellOf(scenario.Seed, cas, tc.broker)
			if !ok || s.Median != tc.median || s.N != tc.n || c.Slowed != tc.slowed || c.Counted() != tc.n {
				t.Fatalf("summary %+v, cell %+v; want median %v of %d, %d slowed", s, c, tc.median, tc.n, tc.slowed)
			}
			flagged := 0
			for _, run := range r.Runs {
				if Slowed(run) {
					flagged++
					if len(run.Flags) != 1 {
						t.Fatalf("flags %q", run.Flags)
					}
				}
			}
			if flagged != tc.flaggedRuns {
				t.Fatalf("%d runs flagged slowed, want %d", flagged, tc.flaggedRuns)
			}
		})
	}
}
