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

// section says what a scenario's part of the report shows: its metrics in
// table order, and those whose ratios are given too.
type section struct {
	intro   string
	metrics []string
	ratios  []string
}

var sections = map[string]section{
	scenario.Seed: {"The original study's three workloads: an idle broker, then 1 and 50 pairs of publisher and " +
		"subscriber, each publisher sending one QoS 1 message of random length (20–512 B) to a random topic of its own " +
		"per second. CPU is the broker's whole process tree, sampled every second; the plots show every run. " +
		"Loss and latency cover the whole measured time.",
		[]string{"cpu_pct", "cpu_pct_max", "latency_p50_ms", "latency_p99_ms", "latency_p999_ms", "latency_max_ms", "loss_pct", "lost", "duplicates", "reordered", "unacked", "gen_cpu_pct", "packets_per_s", "log_drop_lines"},
		[]string{"cpu_pct", "latency_p99_ms"}},
	scenario.Capacity: {"Publishers send as fast as the broker takes their messages (open loop: only TCP slows them), " +
		"subscribers read as fast as they can. 1→1 and 10→10 are independent pairs; 1→100 is one topic with 100 " +
		"subscribers; 100→1 is 100 topics and one wildcard subscriber. Delivered messages/s and CPU are measured " +
		"after a warm-up; loss counts what never arrived (QoS 0 may be dropped by design; a QoS 1 message lost was " +
		"acknowledged to its publisher). Latency here is that of a saturated broker, its queues included.",
		[]string{"msgs_per_s", "cpu_s_per_million", "loss_pct", "lost", "sent_per_s", "latency_p50_ms", "latency_p99_ms", "latency_p999_ms", "cpu_pct", "gen_cpu_pct", "unacked", "duplicates", "reordered", "qos_downgraded", "log_drop_lines"},
		[]string{"msgs_per_s", "cpu_s_per_million"}},
	scenario.Latency: {"Publishers at a fixed offered rate: fractions of the capacity the same broker reached on the " +
		"same flow in this benchmark, and absolute rates shared by every broker (in deliveries per second). Each " +
		"message is stamped with the time it was due, so a publisher held back by the broker counts the wait " +
		"(no coordinated omission); a message that fell due while the generator slept is stamped at its wake-up, " +
		"so the generator's ~1 ms timer is not charged to the broker (its own lateness is given).",
		[]string{"offered_per_s", "msgs_per_s", "latency_p50_ms", "latency_p99_ms", "latency_p999_ms", "latency_max_ms", "loss_pct", "cpu_pct", "gen_lag_p99_ms", "log_drop_lines"},
		[]string{"latency_p99_ms"}},
	scenario.Probe: {"The closed-window latency probe: each publisher keeps a fixed number of messages in flight " +
		"towards its subscriber and sends the next as soon as one arrives. Its rate is the window over the round " +
		"trip, not a capacity (that is the capacity section's); it is kept for the latency with a bounded " +
		"number of messages in flight.",
		[]string{"latency_p50_ms", "latency_p99_ms", "latency_p999_ms", "window_rate", "stalls", "loss_pct", "cpu_pct"},
		[]string{"latency_p99_ms"}},
	scenario.Burst: {"100 publishers each send a burst of QoS 1 messages at once to one wildcard subscriber that " +
		"reads as fast as it can. Nothing acknowledged may be lost and the subscriber must stay connected: a " +
		"broker should slow the publishers instead.",
		[]string{"lost", "loss_pct", "duplicates", "unacked", "burst_s", "msgs_per_s", "cpu_s_per_million", "latency_p99_ms", "log_drop_lines"},
		[]string{"burst_s"}},
	scenario.Connect: {"Connection churn: workers open a TCP connection, send CONNECT, wait for CONNACK, send " +
		"DISCONNECT and close, in a loop. CONNACK latency includes the TCP connect.",
		[]string{"conns_per_s", "connack_p50_ms", "connack_p99_ms", "connack_max_ms", "cpu_ms_per_conn", "refusals", "cpu_pct", "gen_cpu_pct"},
		[]string{"conns_per_s", "connack_p99_ms"}},
	scenario.Takeover: {"One client id taken over again and again: each new connection with the same id must " +
		"be accepted and the old one closed [MQTT-3.1.4-2]. Latency runs from the new client's TCP connect " +
		"to its CONNACK.",
		[]string{"takeover_p50_ms", "takeover_p99_ms", "takeover_max_ms", "old_closed_p99_ms", "takeover_stale", "takeovers", "cpu_ms_per_takeover"},
		[]string{"takeover_p99_ms"}},
	scenario.Hostile: {"Malformed connections one after another (a five-byte remaining length, PUBLISH before " +
		"CONNECT, a wrong protocol name, a reserved flag, a reserved packet type, a second CONNECT), each " +
		"waiting for the broker to close it, while healthy publisher+subscriber pairs publish QoS 1 at a steady " +
		"rate. A run that reached its time limit first is partial. Latency and loss are the healthy clients'.",
		[]string{"hostile_done", "hostile_s", "hostile_per_s", "hostile_close_p99_ms", "hostile_unclosed", "latency_p50_ms", "latency_p99_ms", "loss_pct", "lost", "cpu_ms_per_conn"},
		[]string{"hostile_per_s", "latency_p99_ms"}},
	scenario.Scale: {"Idle clients (keep-alive 60 s) connected a few at a time and held. Memory is summed over the " +
		"broker's process tree from /proc/*/smaps_rollup, per client as the growth over the idle broker; then " +
		"the broker's CPU is measured while nothing happens; last, every client sends PINGREQ and those that " +
		"answer are counted as held. Memory the kernel keeps for sockets and POSIX queues is in neither RSS nor PSS.",
		[]string{"held", "connect_s", "pss_kib_per_client", "rss_kib_per_client", "pss_mib", "rss_mib", "idle_cpu_pct", "idle_cpu_us_per_client_s", "procs"},
		[]string{"pss_kib_per_client", "idle_cpu_us_per_client_s", "connect_s"}},
	scenario.CrossCheck: {"One capacity figure measured with a load tool forkmq did not write: mosquitto's own " +
		"clients (Debian's mosquitto-clients, C on libmosquitto). `mosquitto_pub -l` publishes every line of a " +
		"file (64-byte lines) as fast as the broker takes them, `mosquitto_sub -F '%l %U'` prints the length and " +
		"arrival time of each message; the rate is the messages received over the time from the first to the " +
		"last. Both run with their defaults (QoS 0, Nagle on) on the generator's CPU.",
		[]string{"msgs_per_s", "loss_pct", "received", "cpu_s_per_million", "tool_cpu_pct", "log_drop_lines"},
		nil},
}

// quietWhenZero are metrics whose table is left out, with a one-line note,
// when every broker scored 0.
var quietWhenZero = map[string]bool{"lost": true, "loss_pct": true, "duplicates": true, "reordered": true,
	"unacked": true, "stalls": true, "refusals": true, "qos_downgraded": true, "unexpected": true,
	"takeover_stale": true, "hostile_unclosed": true, "log_drop_lines": true}

// WriteMarkdown writes report.md into dir; plots are the PNG files to link.
func (r *Results) WriteMarkdown(dir string, plots map[string][]string) error {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	w("# forkmq benchmark, %s\n\n", r.Started.Format("2006-01-02 15:04 MST"))
	r.writeFirstPage(w, plots["headline"])
	r.writeTrust(w)
	r.writeEnvironment(w)
	for _, scen := range scenario.All {
		cases := r.casesOf(scen)
		if len(cases) == 0 {
			continue
		}
		sec := sections[scen]
		w("## %s\n\n%s\n\n", scen, sec.intro)
		for _, p := range plots[scen] {
			w("![%s](%s)\n\n", strings.TrimSuffix(p, ".png"), p)
		}
		if scen == scenario.CrossCheck {
			r.writeCrossCheck(w)
		}
		var quiet []string
		for _, name := range sec.metrics {
			m, ok := scenario.MetricByName(name)
			if !ok || !r.hasMetric(scen, name) {
				continue
			}
			if quietWhenZero[name] && r.allZero(scen, name) {
				quiet = append(quiet, m.Label)
				continue
			}
			r.writeMetric(w, scen, cases, m, slices.Contains(sec.ratios, name))
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

// writeFirstPage answers the study's question in one table and one
// picture.
func (r *Results) writeFirstPage(w func(string, ...any), plots []string) {
	figs := r.Headline()
	w("## What two processes per client cost\n\n")
	if len(figs) == 0 {
		w("This run measured none of the first page's figures (run the capacity, latency, seed, connect, takeover and scale scenarios).\n\n")
		return
	}
	w("forkmq's process engine serves every client with two worker processes and moves messages through POSIX " +
		"queues; its goroutine engine is the same broker with goroutines and channels, so their ratio is the " +
		"price of the architecture. Each figure is the median of the runs that count (n = how many); mosquitto " +
		"is the better of its two configurations for each figure (named). A ratio is the first broker's figure " +
		"over the second's; *worse* and *better* read it in the figure's direction.\n\n")
	brokers := []string{process, goroutine, mosquitto, mochi}
	w("| figure | %s |", strings.Join(brokers, " | "))
	for _, c := range Comparisons {
		w(" %s |", c.Label)
	}
	w("\n|---|%s%s\n", strings.Repeat("---:|", len(brokers)), strings.Repeat("---:|", len(Comparisons)))
	for _, f := range figs {
		w("| %s |", f.Label)
		for _, br := range brokers {
			s, who, ok := r.Best(f, br)
			switch {
			case !ok:
				w(" %s |", r.missing(f, br))
			case len(r.family(br)) > 1:
				w(" %s (n=%d, %s) |", Format(s.Median), s.N, who)
			default:
				w(" %s (n=%d) |", Format(s.Median), s.N)
			}
		}
		for _, c := range Comparisons {
			ratio, _, _ := r.Ratio(f, c)
			w(" %s |", ratioCell(f.Metric, ratio))
		}
		w("\n")
	}
	w("\n")
	for _, p := range plots {
		w("![what two processes per client cost](%s)\n\n", p)
	}
}

// missing says why a headline cell is empty.
func (r *Results) missing(f Figure, name string) string {
	for _, br := range r.family(name) {
		if c, ok := r.CellOf(f.Scenario, f.Case, br); ok && c.Runs > 0 {
			return cellFailure(c)
		}
	}
	return "–"
}

func ratioCell(metric string, ratio float64) string {
	if math.IsNaN(ratio) || math.IsInf(ratio, 0) {
		return "–"
	}
	c := Cost(metric, ratio)
	word := "same"
	switch {
	case c > 1.05:
		word = sig3(c) + "× worse"
	case c < 0.95:
		word = sig3(1/c) + "× better"
	}
	return fmt.Sprintf("×%s (%s)", sig3(ratio), word)
}

// writeTrust says what the figures rest on, first.
func (r *Results) writeTrust(w func(string, ...any)) {
	t := r.Trust
	w("## Can these figures be trusted?\n\n")
	commit := "unknown"
	if t.Commit != "" {
		commit = fmt.Sprintf("`%s` (%s)", t.Commit, t.Subject)
	}
	switch {
	case len(t.Dirty) > 0:
		shown := t.Dirty[:min(len(t.Dirty), 8)]
		more := ""
		if len(t.Dirty) > len(shown) {
			more = fmt.Sprintf(" and %d more", len(t.Dirty)-len(shown))
		}
		w("- **Commit**: %s, **with %d uncommitted change(s)** (measured anyway: -allow-dirty): %s%s.\n", commit, len(t.Dirty), strings.Join(shown, ", "), more)
	default:
		w("- **Commit**: %s, a clean tree.\n", commit)
	}
	if t.BinaryRevision != "" && !strings.HasPrefix(t.Commit, strings.TrimSuffix(t.BinaryRevision, "+modified")) {
		w("- **The broker binary was built from %s**, not from that commit.\n", t.BinaryRevision)
	}
	if t.StartBusy != "" {
		w("- **The machine was busy at the start**: %s; measured anyway (-force).\n", t.StartBusy)
	} else {
		w("- The machine was quiet at the start: other processes used %.1f%% of a core, load average %.2f.\n",
			t.StartActivity.OtherPct, t.StartActivity.LoadEnd)
	}
	e := r.Environment
	if e.PinBroker != "" && e.PinGenerator != "" {
		w("- Brokers ran pinned to CPU %s, the load generator to CPU %s.\n", e.PinBroker, e.PinGenerator)
	} else {
		w("- **Not pinned**: brokers on CPUs %q, the load generator on CPUs %q; they competed for the same cores.\n", e.PinBroker, e.PinGenerator)
	}
	w("- Broker CPU: %s.\n", t.CPUSource)
	counts := map[string]int{}
	busy, saturated, slowed := 0, 0, 0
	maxOther := 0.0
	for _, run := range r.Runs {
		counts[run.Status]++
		if Slowed(run) {
			slowed++
		}
		for _, f := range run.Flags {
			switch {
			case strings.HasPrefix(f, "busy machine"):
				busy++
			case strings.Contains(f, "saturated"):
				saturated++
			}
		}
		if run.Machine != nil {
			maxOther = max(maxOther, run.Machine.OtherPct)
		}
	}
	w("- %d runs: %d ok, %d partial, %d refused, %d failed, %d skipped. Only ok and partial runs count in the figures; "+
		"every cell says how many runs stand behind it when it is fewer than the %d repetitions.\n",
		len(r.Runs), counts[scenario.StatusOK], counts[scenario.StatusPartial], counts[scenario.StatusRefused],
		counts[scenario.StatusFailed], counts[scenario.StatusSkipped], r.Repetitions)
	w("- %d run(s) on a busy machine (other processes above %.0f%% of a core; the most was %.1f%%), %d with a saturated "+
		"load generator: marked * in the tables and listed at the end.\n", busy, t.Limits.OtherPct, maxOther, saturated)
	if slowed > 0 {
		w("- %d seed run(s) on a slowed machine: the load generator, offered the same messages in every run, needed %.0f× "+
			"or more the CPU of the case's quietest run, so the whole machine was slower (it happens here for seconds at a "+
			"time, to every broker alike). They are listed at the end and left out of the figures (each cell says n=k/N), "+
			"unless every run of a cell was.\n", slowed, slowedFactor)
	}
	w("- Brokers ran in a new random order in every repetition (seed %d), each run on a freshly started broker.\n", t.OrderSeed)
	if t.Stopped != "" {
		w("- **The benchmark stopped early**: %s.\n", t.Stopped)
	}
	w("\n")
}

func (r *Results) writeEnvironment(w func(string, ...any)) {
	e := r.Environment
	w("## How it was measured\n\n### Machine\n\n| | |\n|---|---|\n")
	w("| cores | %d (%s) |\n| memory | %s |\n| kernel | %s |\n| Go | %s |\n", e.Cores, e.CPUModel, e.MemTotal, e.Kernel, e.GoVersion)
	w("| load average at start / end | %s / %s |\n", e.LoadStart, e.LoadEnd)
	for _, k := range sortedKeys(e.Limits) {
		w("| %s | %s |\n", k, e.Limits[k])
	}
	w("\nMode **%s**, %d repetition(s) per case and broker, %s in all.\n\n", r.Mode, r.Repetitions, r.Finished.Sub(r.Started).Round(1e9))
	c := r.Config
	w("### Parameters\n\n| | |\n|---|---|\n")
	w("| seed | %v warm-up, %v measured, pairs %v, QoS %d, %.3g msg/s per publisher |\n", c.SeedWarmup, c.SeedDuration, c.SeedPairs, c.SeedQoS, c.SeedRate)
	w("| capacity | %v warm-up, %v measured, flows %s; QoS 1 publishers leave at most %d messages unacknowledged |\n", c.CapacityWarmup, c.CapacityDuration, flowList(c.CapacityFlows), c.Inflight)
	w("| latency | %v warm-up, %v measured, flows %s, at %v of capacity and at %v deliveries/s |\n", c.LatencyWarmup, c.LatencyDuration, flowList(c.LatencyFlows), c.LatencyFractions, c.LatencyRates)
	w("| probe | %v warm-up, %v measured, flows %s, %d messages in flight |\n", c.ProbeWarmup, c.ProbeDuration, flowList(c.ProbeFlows), c.Window)
	w("| burst | %d publishers × %d QoS 1 messages |\n", c.BurstPublishers, c.BurstMessages)
	w("| connect | %v warm-up, %v measured, %d at a time |\n", c.ConnectWarmup, c.ConnectDuration, c.ConnectConcurrency)
	w("| takeover | %d in a row |\n", c.Takeovers)
	w("| hostile | %d malformed connections (at most %v), %d healthy pairs at %g msg/s |\n", c.HostileConnections, c.HostileLimit, c.HostilePairs, c.HostileRate)
	w("| scale | levels %v, %d connecting at a time, %v settling, idle CPU over %v |\n", c.ScaleLevels, c.ScaleConcurrency, c.ScaleSettle, c.IdleDuration)
	w("| cross-check | %d messages |\n", c.CrossCheckMessages)
	w("| after publishing | stragglers waited for until none arrives for %v (at most %v), then counted lost |\n", c.Drain, c.DrainMax)
	w("\n### Brokers\n\n| broker | version | command | configured |\n|---|---|---|---|\n")
	for _, br := range r.Brokers {
		cmd := "`" + br.Command + "`"
		if br.Skipped != "" {
			cmd += " — **not run**: " + br.Skipped
		}
		w("| %s | %s | %s | %s |\n", br.Name, cell(br.Version), cmd, cell(br.Note))
	}
	w("\n")
	for _, br := range r.Brokers {
		if br.Config != "" {
			w("<details><summary>%s: its whole configuration</summary>\n\n```\n%s\n```\n</details>\n\n", br.Name, strings.TrimSpace(br.Config))
		}
	}
}

func flowList(fs []scenario.Flow) string {
	var s []string
	for _, f := range fs {
		s = append(s, f.Label())
	}
	return strings.Join(s, ", ")
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

// valueCell is a table cell: the median, its range when the runs differ,
// how many runs stand behind it when fewer than all, * for flagged runs;
// or why there is no figure.
func (r *Results) valueCell(scen, cas, broker, metric string) string {
	c, _ := r.CellOf(scen, cas, broker)
	s, ok := r.Lookup(scen, cas, broker, metric)
	if !ok {
		if c.Runs > 0 && c.Counted() == 0 {
			return cellFailure(c)
		}
		return "–"
	}
	v := Format(s.Median)
	if s.Min != s.Max {
		v += fmt.Sprintf(" (%s–%s)", Format(s.Min), Format(s.Max))
	}
	if c.Counted() < c.Runs {
		v += fmt.Sprintf(" n=%d/%d", c.Counted(), c.Runs)
	}
	if c.Flagged > 0 {
		v += "*"
	}
	return v
}

func (r *Results) writeMetric(w func(string, ...any), scen string, cases []Case, m scenario.Metric, ratios bool) {
	brokers := r.ran()
	unit := ""
	if m.Unit != "" {
		unit = " (" + m.Unit + ")"
	}
	better := ""
	if m.Better != "" {
		better = " — " + m.Better + " is better"
	}
	w("### %s%s%s\n\n| case | %s |", m.Label, unit, better, strings.Join(brokers, " | "))
	if ratios {
		for _, c := range Comparisons {
			w(" %s |", c.Label)
		}
	}
	w("\n|---|%s", strings.Repeat("---:|", len(brokers)))
	if ratios {
		w("%s", strings.Repeat("---:|", len(Comparisons)))
	}
	w("\n")
	for _, c := range cases {
		cells := make([]string, len(brokers))
		for i, br := range brokers {
			cells[i] = r.valueCell(scen, c.Name, br, m.Name)
		}
		w("| %s | %s |", c.Label, strings.Join(cells, " | "))
		if ratios {
			f := Figure{Scenario: scen, Case: c.Name, Metric: m.Name}
			for _, cmp := range Comparisons {
				ratio, _, _ := r.Ratio(f, cmp)
				w(" %s |", ratioCell(m.Name, ratio))
			}
		}
		w("\n")
	}
	w("\n")
}

// writeCrossCheck puts the independent tool's figure beside mqbench's own
// for the same flow.
func (r *Results) writeCrossCheck(w func(string, ...any)) {
	fl := scenario.CrossCheckFlow
	w("| broker | mqbench, capacity %s (msg/s) | mosquitto_pub → mosquitto_sub (msg/s) | tool ÷ mqbench | loss, mqbench / tool |\n|---|---:|---:|---:|---:|\n", fl.Label())
	for _, br := range r.ran() {
		own := r.valueCell(scenario.Capacity, fl.Name(), br, "msgs_per_s")
		tool := r.valueCell(scenario.CrossCheck, fl.Name(), br, "msgs_per_s")
		ratio := "–"
		a, ok1 := r.Lookup(scenario.CrossCheck, fl.Name(), br, "msgs_per_s")
		b, ok2 := r.Lookup(scenario.Capacity, fl.Name(), br, "msgs_per_s")
		if ok1 && ok2 && b.Median > 0 {
			ratio = "×" + sig3(a.Median/b.Median)
		}
		lossOf := func(scen string) string {
			if s, ok := r.Lookup(scen, fl.Name(), br, "loss_pct"); ok {
				return Format(s.Median) + " %"
			}
			return "–"
		}
		w("| %s | %s | %s | %s | %s / %s |\n", br, own, tool, ratio, lossOf(scenario.Capacity), lossOf(scenario.CrossCheck))
	}
	w("\nThe two tools differ in how they publish (mqbench writes through a 32 KiB buffer and stamps every message; " +
		"mosquitto_pub sends line by line through libmosquitto with Nagle on) and where they measure (mqbench over a " +
		"fixed window after a warm-up, mosquitto_sub from its first message to its last); agreement within tens of " +
		"percent, and the same order between brokers, is what to look for. A tool at a whole core (see its CPU below) " +
		"measured itself.\n\n")
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
				refusal = fmt.Sprintf("yes, at the %s level (run %d): %s", run.Case, run.Rep, cell(run.Error))
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
	var flagged, bad, noted []Run
	for _, run := range r.Runs {
		switch {
		case !scenario.Counts(run.Status):
			bad = append(bad, run)
		case len(run.Flags) > 0:
			flagged = append(flagged, run)
		}
		if scenario.Counts(run.Status) && run.Note != "" {
			noted = append(noted, run)
		}
	}
	w("## Flagged runs\n\nRuns that count but whose figure may be doubtful (marked * in the tables), and runs on a slowed machine (left out of the figures).\n\n")
	if len(flagged) == 0 {
		w("None.\n\n")
	} else {
		w("| scenario | case | broker | rep | status | flags |\n|---|---|---|---:|---|---|\n")
		for _, run := range flagged {
			w("| %s | %s | %s | %d | %s | %s |\n", run.Scenario, run.Case, run.Broker, run.Rep, run.Status, cell(strings.Join(run.Flags, "; ")+partialNote(run)))
		}
		w("\n")
	}
	w("## Refusals and failures\n\nRuns that do not count in any figure, with what happened.\n\n")
	if len(bad) == 0 {
		w("None: every run of every broker completed.\n\n")
	} else {
		w("| scenario | case | broker | rep | status | what happened |\n|---|---|---|---:|---|---|\n")
		for _, run := range bad {
			w("| %s | %s | %s | %d | %s | %s |\n", run.Scenario, run.Case, run.Broker, run.Rep, run.Status, cell(run.Error))
		}
		w("\n")
	}
	if len(noted) > 0 {
		w("## What brokers logged in runs that counted\n\nforkmq logs warnings and errors, mosquitto notices too (it says there when it drops messages), mochi warnings.\n\n")
		w("| scenario | case | broker | rep | log |\n|---|---|---|---:|---|\n")
		for _, run := range noted {
			w("| %s | %s | %s | %d | %s |\n", run.Scenario, run.Case, run.Broker, run.Rep, cell(run.Note))
		}
	}
}

func partialNote(run Run) string {
	if run.Status == scenario.StatusPartial && run.Error != "" {
		return "; " + run.Error
	}
	return ""
}

// cell makes text fit a table cell: no pipes or newlines, at most 400 bytes.
func cell(s string) string {
	s = strings.ReplaceAll(strings.ReplaceAll(s, "|", "\\|"), "\n", " ")
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
