package report

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/forkmq/forkmq/bench/internal/scenario"
)

func sampleResults() *Results {
	r := &Results{Started: time.Unix(0, 0), Finished: time.Unix(60, 0), Mode: "test", Repetitions: 3,
		Config: scenario.Smoke(), Metrics: scenario.Metrics,
		Brokers: []Broker{{Name: "forkmq-process"}, {Name: "mosquitto"}, {Name: "gone", Skipped: "not installed"}},
		Cases:   []Case{{Scenario: scenario.Throughput, Name: "1to1-q0-64B", Label: "1→1 QoS 0 64 B", Group: "64 B"}}}
	add := func(broker string, rep int, status string, rate float64, series []float64) {
		r.Runs = append(r.Runs, Run{Scenario: scenario.Throughput, Case: "1to1-q0-64B", Broker: broker, Rep: rep,
			Result: scenario.Result{Status: status, Metrics: map[string]float64{"msgs_per_s": rate, "lost": 0},
				Series: map[string][]float64{"cpu_pct": series}}})
	}
	add("forkmq-process", 1, scenario.StatusOK, 100, []float64{1, 5})
	add("mosquitto", 1, scenario.StatusOK, 400, nil)
	add("forkmq-process", 2, scenario.StatusOK, 300, []float64{3})
	add("mosquitto", 2, scenario.StatusFailed, 9999, nil) // does not count
	add("forkmq-process", 3, scenario.StatusRefused, 200, []float64{2, 7, 9})
	add("mosquitto", 3, scenario.StatusOK, 600, nil)
	r.Summarize()
	return r
}

func TestSummarizeMediansRangesAndSeries(t *testing.T) {
	r := sampleResults()
	fp, ok := r.Lookup(scenario.Throughput, "1to1-q0-64B", "forkmq-process", "msgs_per_s")
	if !ok || fp.Median != 200 || fp.Min != 100 || fp.Max != 300 || fp.N != 3 {
		t.Fatalf("forkmq-process summary = %+v", fp)
	}
	mq, ok := r.Lookup(scenario.Throughput, "1to1-q0-64B", "mosquitto", "msgs_per_s")
	if !ok || mq.Median != 500 || mq.N != 2 {
		t.Fatalf("mosquitto summary = %+v (the failed run must not count)", mq)
	}
	if got := r.ratio(scenario.Throughput, "1to1-q0-64B", "forkmq-process", "mosquitto", "msgs_per_s"); got != "×0.400" {
		t.Fatalf("ratio = %q, want ×0.400", got)
	}
	var series []float64
	for _, s := range r.Series {
		if s.Broker == "forkmq-process" && s.Name == "cpu_pct" {
			series = s.Values
		}
	}
	// index 0: median of 1, 3, 2; index 1: of 5, 7; index 2: of 9
	if len(series) != 3 || series[0] != 2 || series[1] != 6 || series[2] != 9 {
		t.Fatalf("pointwise median = %v, want [2 6 9]", series)
	}
}

func TestWriteReport(t *testing.T) {
	r := sampleResults()
	dir := t.TempDir()
	plots, err := r.WritePlots(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(plots[scenario.Throughput]) == 0 {
		t.Fatal("no throughput plots")
	}
	for _, p := range plots[scenario.Throughput] {
		if fi, err := os.Stat(filepath.Join(dir, p)); err != nil || fi.Size() == 0 {
			t.Fatalf("plot %s: %v", p, err)
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
	for _, want := range []string{
		"| 1→1 QoS 0 64 B | 200 (100–300) | 500 (400–600) |",  // medians with ranges
		"| 1→1 QoS 0 64 B | ×1.00 / ×0.400 | ×2.50 / ×1.00 |", // ratios to both references
		"**not run**: not installed",
		"Zero for every broker and case: lost messages.",
		"| throughput | 1to1-q0-64B | mosquitto | 2 | failed |",
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
