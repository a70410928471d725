package report

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/forkmq/forkmq/bench/internal/scenario"
)

// The brokers every figure is also given as a ratio to.
var references = []string{"forkmq-process", "mosquitto"}

// quietWhenZero are metrics whose table is left out, with a one-line note,
// when every broker scored 0.
var quietWhenZero = map[string]bool{"lost": true, "duplicates": true, "reordered": true,
	"unacked": true, "stalls": true, "refusals": true, "qos_downgraded": true, "unexpected": true}

var scenarioIntro = map[string]string{
	scenario.Seed: "The original study's three workloads: an idle broker, then 1 and 50 pairs of " +
		"publisher and subscriber, each publisher sending one message of random length (20–512 B) " +
		"to a random topic of its own per second. CPU is the broker's whole process tree; packets " +
		"are counted by the load generator on the wire. Loss and latency cover the whole run.",
	scenario.Throughput: "Publishers send as fast as a bounded in-flight window allows " +
		"(a fixed number of messages per publisher not yet delivered to each of its subscribers). " +
		"1→1 and 10→10 are independent pairs; 1→100 is one topic with 100 subscribers; 100→1 is " +
		"100 topics and one wildcard subscriber. Rates and CPU are measured after a warm-up.",
	scenario.Connect: "Connection churn: workers open a TCP connection, send CONNECT, wait for " +
		"CONNACK, send DISCONNECT and close, in a loop. CONNACK latency includes the TCP connect.",
	scenario.Scale: "Idle clients connected a few at a time and held; then every client sends " +
		"PINGREQ and those that answer are counted as held. Memory is summed over the broker's " +
		"process tree from /proc/*/smaps_rollup; per client is the growth over the idle broker. " +
		"Memory the kernel keeps for sockets and POSIX queues is not in RSS or PSS.",
}

// WriteMarkdown writes report.md into dir; plots are the PNG files to link.
func (r *Results) WriteMarkdown(dir string, plots map[string][]string) error {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	w("# forkmq benchmark, %s\n\n", r.Started.Format("2006-01-02 15:04 MST"))
	w("Mode **%s**, %d repetition(s) per case and broker, %s in all. ", r.Mode, r.Repetitions,
		r.Finished.Sub(r.Started).Round(1e9))
	w("Brokers run one after another in alternation (each case: A B C D, A B C D, …), each run on a "+
		"freshly started broker; warm-up periods are excluded from rates and latencies. Every figure "+
		"is the median over the repetitions with the range (min–max) when they differ; the ratio "+
		"tables divide each broker's median by %s's.\n\n", strings.Join(references, "'s and by "))

	r.writeEnvironment(w)
	for _, scen := range scenario.All {
		cases := r.casesOf(scen)
		if len(cases) == 0 {
			continue
		}
		w("## %s\n\n%s\n\n", scen, scenarioIntro[scen])
		for _, p := range plots[scen] {
			w("![%s](%s)\n\n", strings.TrimSuffix(p, ".png"), p)
		}
		var quiet []string
		for _, m := range r.Metrics {
			if !r.hasMetric(scen, m.Name) {
				continue
			}
			if quietWhenZero[m.Name] && r.allZero(scen, m.Name) {
				quiet = append(quiet, m.Label)
				continue
			}
			r.writeMetric(w, scen, cases, m)
		}
		if scen == scenario.Scale {
			r.writeCeilings(w)
		}
		if len(quiet) > 0 {
			w("Zero for every broker and case: %s.\n\n", strings.Join(quiet, ", "))
		}
	}
	r.writeProblems(w)
	return os.WriteFile(filepath.Join(dir, "report.md"), []byte(b.String()), 0o644)
}

func (r *Results) writeEnvironment(w func(string, ...any)) {
	e := r.Environment
	w("## Machine\n\n| | |\n|---|---|\n")
	w("| cores | %d (%s) |\n| memory | %s |\n| kernel | %s |\n| Go | %s |\n", e.Cores, e.CPUModel, e.MemTotal, e.Kernel, e.GoVersion)
	w("| load average at start / end | %s / %s |\n", e.LoadStart, e.LoadEnd)
	pin := func(s string) string {
		if s == "" {
			return "not pinned"
		}
		return "CPUs " + s
	}
	w("| broker CPUs / generator CPUs | %s / %s |\n", pin(e.PinBroker), pin(e.PinGenerator))
	for _, k := range sortedKeys(e.Limits) {
		w("| %s | %s |\n", k, e.Limits[k])
	}
	for _, k := range sortedKeys(e.Versions) {
		w("| version of %s | %s |\n", k, e.Versions[k])
	}
	c := r.Config
	w("\n### Parameters\n\n| | |\n|---|---|\n")
	w("| seed | %v warm-up, %v measured, pairs %v, QoS %d, %.3g msg/s per publisher |\n", c.SeedWarmup, c.SeedDuration, c.SeedPairs, c.SeedQoS, c.SeedRate)
	w("| throughput | %v warm-up, %v measured, QoS %v, payloads %v B, window %d messages in flight per subscriber |\n", c.ThroughputWarmup, c.ThroughputDuration, c.QoS, c.Payloads, c.Window)
	w("| connect | %v warm-up, %v measured, %d at a time |\n", c.ConnectWarmup, c.ConnectDuration, c.ConnectConcurrency)
	w("| scale | levels %v, %d connecting at a time, %v settling |\n", c.ScaleLevels, c.ScaleConcurrency, c.ScaleSettle)
	w("| after publishing | up to %v without progress waited for stragglers before counting them lost |\n", c.Drain)
	w("\n### Brokers\n\n| broker | command |\n|---|---|\n")
	for _, br := range r.Brokers {
		cmd := "`" + br.Command + "`"
		if br.Skipped != "" {
			cmd += " — **not run**: " + br.Skipped
		}
		w("| %s | %s |\n", br.Name, cmd)
	}
	w("\n")
}

// ran returns the brokers that ran, in order.
func (r *Results) ran() []string {
	var names []string
	for _, br := range r.Brokers {
		if br.Skipped == "" {
			names = append(names, br.Name)
		}
	}
	return names
}

func (r *Results) casesOf(scen string) []Case {
	var cs []Case
	for _, c := range r.Cases {
		if c.Scenario == scen {
			cs = append(cs, c)
		}
	}
	return cs
}

func (r *Results) hasMetric(scen, metric string) bool {
	return slices.ContainsFunc(r.Summary, func(s Summary) bool { return s.Scenario == scen && s.Metric == metric })
}

func (r *Results) allZero(scen, metric string) bool {
	return !slices.ContainsFunc(r.Summary, func(s Summary) bool {
		return s.Scenario == scen && s.Metric == metric && (s.Max != 0 || s.Min != 0)
	})
}

func (r *Results) writeMetric(w func(string, ...any), scen string, cases []Case, m scenario.Metric) {
	brokers := r.ran()
	unit := ""
	if m.Unit != "" {
		unit = " (" + m.Unit + ")"
	}
	w("### %s%s — %s is better\n\n| case | %s |\n|---|%s\n", m.Label, unit, m.Better, strings.Join(brokers, " | "), strings.Repeat("---:|", len(brokers)))
	for _, c := range cases {
		cells := make([]string, len(brokers))
		for i, br := range brokers {
			cells[i] = "–"
			if s, ok := r.Lookup(scen, c.Name, br, m.Name); ok {
				cells[i] = Format(s.Median)
				if s.Min != s.Max {
					cells[i] += fmt.Sprintf(" (%s–%s)", Format(s.Min), Format(s.Max))
				}
			}
		}
		w("| %s | %s |\n", c.Label, strings.Join(cells, " | "))
	}
	var refs []string
	for _, ref := range references {
		if slices.Contains(brokers, ref) {
			refs = append(refs, ref)
		}
	}
	if len(refs) > 0 && r.anyRatio(scen, cases, brokers, refs, m.Name) {
		w("\nRatio to %s:\n\n| case | %s |\n|---|%s\n", strings.Join(refs, " / "), strings.Join(brokers, " | "), strings.Repeat("---:|", len(brokers)))
		for _, c := range cases {
			cells := make([]string, len(brokers))
			for i, br := range brokers {
				var parts []string
				for _, ref := range refs {
					parts = append(parts, r.ratio(scen, c.Name, br, ref, m.Name))
				}
				cells[i] = strings.Join(parts, " / ")
			}
			w("| %s | %s |\n", c.Label, strings.Join(cells, " | "))
		}
	}
	w("\n")
}

// anyRatio reports whether any cell of a ratio table has a value.
func (r *Results) anyRatio(scen string, cases []Case, brokers, refs []string, metric string) bool {
	for _, c := range cases {
		for _, br := range brokers {
			for _, ref := range refs {
				if r.ratio(scen, c.Name, br, ref, metric) != "–" {
					return true
				}
			}
		}
	}
	return false
}

// ratio formats broker's median over ref's as ×N, or – when either is
// missing or the reference is 0.
func (r *Results) ratio(scen, cas, broker, ref, metric string) string {
	a, ok1 := r.Lookup(scen, cas, broker, metric)
	b, ok2 := r.Lookup(scen, cas, ref, metric)
	if !ok1 || !ok2 || b.Median == 0 {
		return "–"
	}
	return "×" + sig3(a.Median/b.Median)
}

// writeCeilings says, per broker, the most idle clients it held and whether
// it refused more.
func (r *Results) writeCeilings(w func(string, ...any)) {
	w("### Largest count held\n\n| broker | clients held | refused? |\n|---|---:|---|\n")
	for _, br := range r.ran() {
		most, refusal := 0.0, ""
		for _, run := range r.Runs {
			if run.Scenario != scenario.Scale || run.Broker != br {
				continue
			}
			most = max(most, run.Metrics["held"])
			if run.Status == scenario.StatusRefused && refusal == "" {
				refusal = fmt.Sprintf("yes, at the %s level (run %d)", run.Case, run.Rep)
			}
		}
		if refusal == "" {
			refusal = "no refusal up to the largest level"
		}
		w("| %s | %s | %s |\n", br, Format(most), refusal)
	}
	w("\n")
}

func (r *Results) writeProblems(w func(string, ...any)) {
	var bad []Run
	for _, run := range r.Runs {
		if run.Status != scenario.StatusOK {
			bad = append(bad, run)
		}
	}
	w("## Refusals and failures\n\n")
	if len(bad) == 0 {
		w("None: every run of every broker completed.\n")
	} else {
		w("| scenario | case | broker | rep | status | what happened |\n|---|---|---|---:|---|---|\n")
		for _, run := range bad {
			w("| %s | %s | %s | %d | %s | %s |\n", run.Scenario, run.Case, run.Broker, run.Rep, run.Status, cell(run.Error))
		}
	}
	var noted []Run
	for _, run := range r.Runs {
		if run.Status == scenario.StatusOK && run.Note != "" {
			noted = append(noted, run)
		}
	}
	if len(noted) > 0 {
		w("\n## What brokers logged in runs that completed\n\nEach broker logs warnings and errors only; a broker that drops messages may say so here.\n\n")
		w("| scenario | case | broker | rep | log |\n|---|---|---|---:|---|\n")
		for _, run := range noted {
			w("| %s | %s | %s | %d | %s |\n", run.Scenario, run.Case, run.Broker, run.Rep, cell(run.Note))
		}
	}
}

// cell makes text fit a table cell: no pipes, at most 400 bytes.
func cell(s string) string {
	s = strings.ReplaceAll(s, "|", "\\|")
	if len(s) > 400 {
		s = s[:400] + "…"
	}
	return s
}

// Format prints a number: whole numbers whole, others with about three
// significant digits.
func Format(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return fmt.Sprintf("%.0f", v)
	}
	return sig3(v)
}

// sig3 prints a number with three significant digits (at least the
// integer part).
func sig3(v float64) string {
	a := math.Abs(v)
	switch {
	case v == 0:
		return "0"
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	case a >= 0.9995: // 0.9995 and up round to 1.00
		return fmt.Sprintf("%.2f", v)
	}
	exp := int(math.Floor(math.Log10(a)))
	if math.Abs(roundTo(v, 2-exp)) >= math.Pow(10, float64(exp+1)) {
		exp++ // 0.09999 rounds to 0.100, not 0.1000
	}
	return fmt.Sprintf("%.*f", 2-exp, v)
}

func roundTo(v float64, decimals int) float64 {
	p := math.Pow(10, float64(decimals))
	return math.Round(v*p) / p
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
