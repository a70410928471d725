package report

import (
	"fmt"
	"math"
	"slices"

	"github.com/forkmq/forkmq/bench/internal/scenario"
)

// The brokers of the study's question.
const (
	process   = "forkmq-process"
	goroutine = "forkmq-goroutine"
	mosquitto = "mosquitto" // the family: the better of its configurations per figure
	mochi     = "mochi"
)

// Figure is one line of the first page: one metric of one case.
type Figure struct {
	Label    string
	Scenario string
	Case     string
	Metric   string
}

// Comparison is one ratio of the first page: A ÷ B.
type Comparison struct {
	Label string
	A, B  string // broker names; a family name stands for its best member
}

// Comparisons are the three ratios the study asks for.
var Comparisons = []Comparison{
	{"process ÷ goroutine", process, goroutine},
	{"process ÷ mosquitto", process, mosquitto},
	{"goroutine ÷ mochi", goroutine, mochi},
}

// Headline returns the figures of the first page that this benchmark
// measured: what two processes per client cost per message, per
// connection and per idle client.
func (r *Results) Headline() []Figure {
	c := r.Config
	connect := fmt.Sprintf("churn-c%d", c.ConnectConcurrency)
	takeover := fmt.Sprintf("%d-takeovers", c.Takeovers)
	scale := "1000-clients"
	if !slices.Contains(c.ScaleLevels, 1000) && len(c.ScaleLevels) > 0 {
		scale = fmt.Sprintf("%d-clients", c.ScaleLevels[0])
	}
	all := []Figure{
		{"capacity, 1→1 QoS 0 64 B (delivered msg/s)", scenario.Capacity, "1to1-q0-64B", "msgs_per_s"},
		{"CPU per delivery, 1→1 QoS 0 64 B (s per million)", scenario.Capacity, "1to1-q0-64B", "cpu_s_per_million"},
		{"CPU per delivery, 10→10 QoS 0 64 B", scenario.Capacity, "10to10-q0-64B", "cpu_s_per_million"},
		{"CPU per delivery, 1→100 QoS 0 64 B", scenario.Capacity, "1to100-q0-64B", "cpu_s_per_million"},
		{"CPU per delivery, 100→1 QoS 1 64 B", scenario.Capacity, "100to1-q1-64B", "cpu_s_per_million"},
		{"capacity, 100→1 QoS 1 64 B (delivered msg/s)", scenario.Capacity, "100to1-q1-64B", "msgs_per_s"},
		{"latency p99 at 50 % load, 1→1 QoS 0 64 B (ms)", scenario.Latency, "1to1-q0-64B-at50pct", "latency_p99_ms"},
		{"seed 50+50 at 1 msg/s: broker CPU (% of a core)", scenario.Seed, "50pub-50sub", "cpu_pct"},
		{"seed 50+50 at 1 msg/s: latency p99 (ms)", scenario.Seed, "50pub-50sub", "latency_p99_ms"},
		{"connections/s (CONNECT→CONNACK→DISCONNECT)", scenario.Connect, connect, "conns_per_s"},
		{"CONNACK p99 under churn (ms)", scenario.Connect, connect, "connack_p99_ms"},
		{"takeover p99 (ms)", scenario.Takeover, takeover, "takeover_p99_ms"},
		{"PSS per idle client, " + scale + " (KiB)", scenario.Scale, scale, "pss_kib_per_client"},
		{"CPU per idle client, " + scale + " (µs per second)", scenario.Scale, scale, "idle_cpu_us_per_client_s"},
	}
	var have []Figure
	for _, f := range all {
		if slices.ContainsFunc(r.Summary, func(s Summary) bool {
			return s.Scenario == f.Scenario && s.Case == f.Case && s.Metric == f.Metric
		}) {
			have = append(have, f)
		}
	}
	return have
}

// Best returns the summary of a figure for a broker or, for a family, for
// its member with the better median, and that member's name.
func (r *Results) Best(f Figure, name string) (Summary, string, bool) {
	members := r.family(name)
	m, _ := scenario.MetricByName(f.Metric)
	var best Summary
	var who string
	found := false
	for _, b := range members {
		s, ok := r.Lookup(f.Scenario, f.Case, b, f.Metric)
		if !ok {
			continue
		}
		if !found || (m.Better == "higher" && s.Median > best.Median) || (m.Better != "higher" && s.Median < best.Median) {
			best, who, found = s, b, true
		}
	}
	return best, who, found
}

// family returns the brokers a name stands for: the members of a family,
// or the broker itself.
func (r *Results) family(name string) []string {
	var members []string
	for _, b := range r.Brokers {
		if b.Family == name && b.Skipped == "" {
			members = append(members, b.Name)
		}
	}
	if len(members) == 0 {
		members = []string{name}
	}
	return members
}

// Ratio returns A ÷ B for a figure (NaN when either is missing or B is 0)
// and the members that stood for families.
func (r *Results) Ratio(f Figure, c Comparison) (ratio float64, a, b string) {
	sa, a, okA := r.Best(f, c.A)
	sb, b, okB := r.Best(f, c.B)
	if !okA || !okB || sb.Median == 0 {
		return math.NaN(), a, b
	}
	return sa.Median / sb.Median, a, b
}

// Cost turns a ratio into how many times worse A is than B for the
// figure: the ratio itself where lower is better, its inverse where higher
// is better. Above 1 A is worse.
func Cost(metric string, ratio float64) float64 {
	if m, _ := scenario.MetricByName(metric); m.Better == "higher" {
		return 1 / ratio
	}
	return ratio
}
