package harness

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/forkmq/forkmq/bench/internal/broker"
	"github.com/forkmq/forkmq/bench/internal/cpuacct"
	"github.com/forkmq/forkmq/bench/internal/machine"
	"github.com/forkmq/forkmq/bench/internal/proctree"
	"github.com/forkmq/forkmq/bench/internal/report"
	"github.com/forkmq/forkmq/bench/internal/scenario"
)

// Config is one benchmark.
type Config struct {
	Brokers   []broker.Spec
	Scenarios []string
	Only      []string // if set, only cases whose name contains one of these
	Reps      int
	Mode      string // full, quick or smoke: recorded only
	Scenario  scenario.Config
	OutDir    string // created if missing
	// RepoDir is the git checkout the brokers were built from; BrokerBinary
	// the forkmq binary whose embedded revision must match its HEAD.
	RepoDir, BrokerBinary string
	PinBroker             string // taskset CPU list for brokers ("" for none)
	PinGenerator          string // the CPUs this process was pinned to ("" for none): recorded, and given to the cross-check's tools
	GeneratorCPUs         int    // how many CPUs the generator may use
	// Pause between runs, during which the machine is checked: one
	// broker's teardown does not fall into the next broker's measurement.
	Pause time.Duration
	// Limits say when the machine is too busy to measure on.
	Limits machine.Limits
	// Force runs on a busy machine (the runs are flagged); AllowDirty
	// measures a tree with uncommitted changes or stale binaries.
	Force, AllowDirty bool
	// OrderSeed seeds the brokers' random order in every repetition.
	OrderSeed uint64
	Progress  *os.File // bars or lines go here
}

// busyWait is how long the harness waits for a busy machine to quieten
// before a run, and quietSample how long it watches it.
const (
	busyWait    = 30 * time.Second
	quietSample = time.Second
)

// Run checks the preconditions, runs the benchmark and writes its outputs.
// An error means the benchmark refused to start or could not go on; brokers
// that refuse or fail are recorded in the results instead. When ctx ends
// early, or the machine turns busy without -force, the results so far are
// still written.
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
	res := &report.Results{Started: time.Now(), Mode: cfg.Mode, Repetitions: cfg.Reps,
		Config: cfg.Scenario, Metrics: scenario.Metrics, Environment: environment()}
	res.Environment.PinBroker, res.Environment.PinGenerator = cfg.PinBroker, cfg.PinGenerator
	res.Trust = report.Trust{Limits: cfg.Limits, OrderSeed: cfg.OrderSeed, GeneratorCPUs: cfg.GeneratorCPUs,
		AllowedDirty: cfg.AllowDirty, Forced: cfg.Force}

	// What is measured: a clean tree, and binaries built from it.
	if err := checkTree(&res.Trust, cfg.RepoDir, cfg.BrokerBinary); err != nil && !cfg.AllowDirty {
		return nil, fmt.Errorf("%w (give -allow-dirty to measure it anyway; the report will say so)", err)
	}
	// Where it is measured: a quiet machine.
	prog := newProgress(cfg.Progress, 0)
	prog.note("checking that the machine is quiet (%v)…", 2*quietSample)
	act, err := watch(ctx, 2*quietSample, selfCPUAll)
	if err != nil {
		return nil, err
	}
	res.Trust.StartActivity, res.Trust.StartBusy = act, cfg.Limits.BusyAtStart(act)
	if res.Trust.StartBusy != "" && !cfg.Force {
		return nil, fmt.Errorf("the machine is busy: %s (give -force to measure anyway; every run will be flagged)", res.Trust.StartBusy)
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
	cgroup, cgErr := joinGroup()
	if cgErr == nil {
		defer cgroup.leave()
		res.Trust.CPUSource = "cgroup v1 cpuacct.usage of a group the broker is started in (nanoseconds, exited processes included)"
	} else {
		res.Trust.CPUSource = "/proc/<pid>/stat of the broker's live tree, children reaped included (10 ms ticks): " + cgErr.Error()
	}

	var brokers []broker.Spec
	for _, b := range cfg.Brokers {
		info := report.Broker{Name: b.Name, Command: b.Command, Family: b.Family, Note: b.Note}
		if err := b.Available(); err != nil {
			info.Skipped = err.Error()
		} else {
			brokers = append(brokers, b)
			if b.Version != nil {
				info.Version = b.Version()
			}
			if b.Config != nil {
				info.Config = b.Config()
			}
		}
		res.Brokers = append(res.Brokers, info)
	}
	var total time.Duration
	for _, c := range cases {
		res.Cases = append(res.Cases, report.Case{Scenario: c.Scenario, Name: c.Name, Label: c.Label, Group: c.Group})
		total += time.Duration(cfg.Reps*len(brokers)) * estimate(c, cfg)
	}
	prog = newProgress(cfg.Progress, total)
	prog.note("%d cases × %d brokers × %d repetitions, about %v", len(cases), len(brokers), cfg.Reps, total.Round(time.Minute))
	if res.Trust.StartBusy != "" {
		prog.note("warning: the machine is busy (%s); going on because of -force", res.Trust.StartBusy)
	}
	for _, b := range res.Brokers {
		if b.Skipped != "" {
			prog.note("%s: not run: %s", b.Name, b.Skipped)
		}
	}

	h := &runner{cfg: cfg, res: res, scratch: scratch, prog: prog, refusedAt: map[string]int{}, capacity: map[string][]float64{}}
	if cgErr == nil {
		h.groups = cgroup
	}
	order := rand.New(rand.NewPCG(cfg.OrderSeed, 0x0de5))
	seq := 0
cases:
	for _, c := range cases {
		for rep := 1; rep <= cfg.Reps; rep++ {
			shuffled := slices.Clone(brokers)
			order.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
			for pos, b := range shuffled {
				if ctx.Err() != nil {
					break cases
				}
				seq++
				if err := h.one(ctx, c, b, rep, pos+1, seq); err != nil {
					res.Trust.Stopped = err.Error()
					prog.note("stopped: %v", err)
					break cases
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

// runner runs one case against one broker at a time.
type runner struct {
	cfg       Config
	res       *report.Results
	scratch   string
	prog      *progress
	groups    *groups        // nil: CPU from /proc ticks
	refusedAt map[string]int // scale level at which a broker refused
	// capacity holds the delivered messages/s of counted capacity runs,
	// by broker and case, for the latency scenario's fractions.
	capacity map[string][]float64
}

// errBusy stops a benchmark whose machine stayed busy.
var errBusy = errors.New("the machine stayed busy")

// one runs case c against broker b once and records the run. It returns an
// error only when the benchmark must stop.
func (h *runner) one(ctx context.Context, c scenario.Case, b broker.Spec, rep, pos, seq int) error {
	run := report.Run{Scenario: c.Scenario, Case: c.Name, Broker: b.Name, Rep: rep, Order: pos}
	label := fmt.Sprintf("%s %s · %s · %d/%d", c.Scenario, c.Name, b.Name, rep, h.cfg.Reps)

	// Wait for a quiet machine: the pause between runs is spent watching it.
	busy, err := h.waitQuiet(ctx, label, h.ours)
	if err != nil {
		return err
	}
	if busy != "" && !h.cfg.Force {
		return fmt.Errorf("%w before %s for %v: %s (give -force to measure anyway)", errBusy, label, busyWait, busy)
	}

	run.Started = time.Now()
	h.prog.begin(label, estimate(c, h.cfg))
	before, _ := machine.Read()
	ours0 := h.ours()
	if level := scenario.ScaleLevel(c); level > 0 && h.refusedAt[b.Name] > 0 && level > h.refusedAt[b.Name] {
		run.Status = scenario.StatusSkipped
		run.Error = fmt.Sprintf("refused at the %d-client level already", h.refusedAt[b.Name])
	} else {
		run.Result = h.start(ctx, b, c, seq)
		if level := scenario.ScaleLevel(c); level > 0 && run.Status == scenario.StatusRefused {
			if h.refusedAt[b.Name] == 0 || level < h.refusedAt[b.Name] {
				h.refusedAt[b.Name] = level
			}
		}
	}
	after, err := machine.Read()
	if err == nil {
		act := after.Since(before, h.ours()-ours0)
		run.Machine = &report.RunMachine{OtherPct: act.OtherPct, StealPct: act.StealPct, Load1Start: before.Load1, Load1End: after.Load1,
			Busy: h.cfg.Limits.Busy(act)}
		if run.Machine.Busy != "" {
			run.Flags = append(run.Flags, "busy machine: "+run.Machine.Busy)
		}
	}
	if why := h.saturated(run.Metrics); why != "" {
		run.Flags = append(run.Flags, why)
	}
	run.Seconds = time.Since(run.Started).Seconds()
	h.res.Runs = append(h.res.Runs, run)
	if c.Scenario == scenario.Capacity && scenario.Counts(run.Status) {
		if v, ok := run.Metrics["msgs_per_s"]; ok {
			k := b.Name + "\x00" + c.Name
			h.capacity[k] = append(h.capacity[k], v)
		}
	}
	status := run.Status
	if len(run.Flags) > 0 {
		status += "*"
	}
	h.prog.end(status, time.Since(run.Started))
	return nil
}

// waitQuiet watches the machine for the pause between runs (at least
// quietSample) and, while it is busy, for up to busyWait more. It returns
// why the machine is still busy, or "".
func (h *runner) waitQuiet(ctx context.Context, label string, ours func() float64) (string, error) {
	deadline := time.Now().Add(busyWait)
	for {
		act, err := watch(ctx, max(h.cfg.Pause, quietSample), ours)
		if err != nil {
			return "", err
		}
		why := h.cfg.Limits.Busy(act)
		if why == "" || h.cfg.Force || time.Now().After(deadline) {
			return why, nil
		}
		h.prog.note("waiting for a quiet machine before %s: %s", label, why)
	}
}

// saturated says when the load generator (or the cross-check's tools) used
// nearly all the CPUs it may use: then it, not the broker, may have set
// the pace.
func (h *runner) saturated(m map[string]float64) string {
	limit := 90 * float64(max(1, h.cfg.GeneratorCPUs))
	for _, k := range []string{"gen_cpu_pct", "tool_cpu_pct"} {
		if v, ok := m[k]; ok && v >= limit {
			who := "load generator"
			if k == "tool_cpu_pct" {
				who = "mosquitto_pub/mosquitto_sub"
			}
			return fmt.Sprintf("%s saturated: %.0f%% of its %d CPU(s)", who, v, max(1, h.cfg.GeneratorCPUs))
		}
	}
	return ""
}

// ours is the CPU seconds the benchmark has used: this process, the
// brokers and the tools it started.
func (h *runner) ours() float64 {
	if h.groups != nil {
		if s, err := h.groups.bench.Seconds(); err == nil {
			return s
		}
	}
	return selfCPUAll()
}

// start starts the broker, runs the case once and stops the broker. A
// panic in the case is recorded as a failure.
func (h *runner) start(ctx context.Context, b broker.Spec, c scenario.Case, seq int) (res scenario.Result) {
	opts := broker.Options{ScratchRoot: h.scratch, Pin: h.cfg.PinBroker}
	var group *cpuacct.Group
	if h.groups != nil {
		g, err := h.groups.bench.Child("run-" + strconv.Itoa(seq))
		if err != nil {
			return scenario.Result{Status: scenario.StatusFailed, Error: err.Error()}
		}
		group = g
		opts.JoinFile = g.ProcsFile()
		defer g.Remove()
	}
	inst, err := broker.Start(ctx, b, opts)
	if err != nil {
		return scenario.Result{Status: scenario.StatusFailed, Error: "broker did not start: " + err.Error()}
	}
	tree := proctree.New(inst.PID)
	cpuNow := func() (float64, error) {
		if group != nil {
			return group.Seconds()
		}
		c, err := tree.CPU()
		return c.Seconds, err
	}
	defer func() {
		if p := recover(); p != nil {
			res = scenario.Result{Status: scenario.StatusFailed, Error: fmt.Sprintf("harness panic: %v\n%s", p, debug.Stack())}
		}
		if err := inst.Stop(); err != nil {
			res.Error = joinNote(res.Error, err.Error())
		}
		if n, first := inst.LogCount("drop"); n > 0 || scenario.Counts(res.Status) {
			if res.Metrics == nil {
				res.Metrics = map[string]float64{}
			}
			res.Metrics["log_drop_lines"] = float64(n)
			if n > 0 {
				res.Flags = append(res.Flags, fmt.Sprintf("the broker logged %d line(s) about dropped messages, first: %s", n, first))
			}
		}
		if tail := inst.LogTail(); tail != "" {
			if !scenario.Counts(res.Status) {
				res.Error = joinNote(res.Error, "broker log ends: "+tail)
			} else {
				res.Note = "broker log ends: " + tail
			}
		}
	}()
	t := scenario.Target{
		Addr:     inst.Addr,
		Tree:     tree,
		CPU:      cpuNow,
		Exited:   inst.Exited,
		Progress: h.prog.set,
		Prefix:   fmt.Sprintf("mqb%d", seq),
		Capacity: func(cas string) float64 { return report.Median(h.capacity[b.Name+"\x00"+cas]) },
		ToolPin:  h.cfg.PinGenerator,
	}
	return c.Run(ctx, t)
}

// watch measures the machine for d; ours is the benchmark's own CPU.
func watch(ctx context.Context, d time.Duration, ours func() float64) (machine.Activity, error) {
	a, err := machine.Read()
	if err != nil {
		return machine.Activity{}, err
	}
	ours0 := ours()
	select {
	case <-ctx.Done():
		return machine.Activity{}, ctx.Err()
	case <-time.After(d):
	}
	b, err := machine.Read()
	if err != nil {
		return machine.Activity{}, err
	}
	return b.Since(a, ours()-ours0), nil
}

// estimate is a run's expected time, with the broker's start and stop and
// the quiet check before it.
func estimate(c scenario.Case, cfg Config) time.Duration {
	return c.Estimate + max(cfg.Pause, quietSample) + 500*time.Millisecond
}

func joinNote(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}
