package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/forkmq/forkmq/bench/internal/broker"
	"github.com/forkmq/forkmq/bench/internal/harness"
	"github.com/forkmq/forkmq/bench/internal/machine"
	"github.com/forkmq/forkmq/bench/internal/scenario"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// brokerFlags collects repeated -broker NAME='COMMAND' flags.
type brokerFlags []broker.Spec

func (b *brokerFlags) String() string { return "" }
func (b *brokerFlags) Set(s string) error {
	spec, err := broker.Parse(s)
	if err != nil {
		return err
	}
	*b = append(*b, spec)
	return nil
}

func run(args []string, stdout, stderr *os.File) int {
	fs := flag.NewFlagSet("mqbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	defaultBroker, defaultGen := "", ""
	if runtime.NumCPU() >= 2 {
		defaultBroker, defaultGen = "0", "1"
	}
	limits := machine.DefaultLimits(runtime.NumCPU())
	var (
		custom      brokerFlags
		names       = fs.String("brokers", "", "comma-separated brokers to run (default: every built-in one and every -broker; with -smoke the two forkmq engines)")
		scenarios   = fs.String("scenarios", strings.Join(scenario.All, ","), "comma-separated scenarios: "+strings.Join(scenario.All, ", "))
		only        = fs.String("cases", "", "run only the cases whose name contains one of these comma-separated strings (e.g. 100to1-q1,idle)")
		reps        = fs.Int("reps", 3, "repetitions of every case and broker (with -smoke: 1)")
		quick       = fs.Bool("quick", false, "shorter durations, same cases")
		smoke       = fs.Bool("smoke", false, "every scenario for about a second, to check that the harness works (implies -force and -allow-dirty; results go to a temporary directory)")
		out         = fs.String("out", "", "directory for the results (default bench/results/<timestamp>; with -smoke a temporary one)")
		bin         = fs.String("bin", "bin", "directory holding broker, worker and mochi")
		repo        = fs.String("repo", ".", "the git checkout the brokers were built from: its commit is recorded and must be clean")
		pinBroker   = fs.String("pin-broker", defaultBroker, "CPU list to pin each broker to with taskset (\"none\": not pinned)")
		pinGen      = fs.String("pin-generator", defaultGen, "CPU list to pin the load generator (this process and the tools it runs) to (\"none\": not pinned)")
		force       = fs.Bool("force", false, "measure on a busy machine (every run is checked; busy runs are flagged in the report)")
		allowDirty  = fs.Bool("allow-dirty", false, "measure a tree with uncommitted changes or a broker binary built from another commit (the report says so)")
		busyLimit   = fs.Float64("busy-limit", limits.OtherPct, "most CPU other processes may use during a run, in % of one core, before the machine counts as busy")
		seed        = fs.Uint64("seed", 0, "seed of the brokers' random order in each repetition (default: from the clock; recorded)")
		procClients = fs.Int("forkmq-max-clients", broker.DefaultProcessMaxClients(), "-max-clients of forkmq-process (default: fs.mqueue.queues_max less a few)")
		procBudget  = fs.Int("forkmq-queue-budget", 0, "-queue-budget of forkmq-process, in bytes (default: the whole RLIMIT_MSGQUEUE; give less when other forkmq brokers run as the same user)")
		gorClients  = fs.Int("goroutine-max-clients", 10000, "-max-clients of forkmq-goroutine")
		window      = fs.Int("window", 0, "messages in flight per publisher and subscriber in the probe scenario (default 64)")
		scaleLevels = fs.String("scale-levels", "", "comma-separated idle-client counts of the scale scenario (default 100,1000,5000)")
		pause       = fs.Duration("pause", time.Second, "pause between runs, spent checking that the machine is quiet")
		list        = fs.Bool("list", false, "print the built-in brokers and exit")
	)
	fs.Var(&custom, "broker", "add a broker: NAME='COMMAND' with {port} (and {dir}, a scratch directory); repeatable")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: mqbench [flags]\n\nBenchmarks MQTT brokers: forkmq's two engines, mosquitto, mochi, or your own.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}

	presets := broker.Presets(broker.PresetOptions{BinDir: *bin, ProcessMaxClients: *procClients, GoroutineMaxClients: *gorClients, ProcessQueueBudget: *procBudget})
	if *list {
		for _, p := range presets {
			fmt.Fprintf(stdout, "%-18s %s\n", p.Name, p.Command)
		}
		return 0
	}
	if *seed == 0 {
		*seed = uint64(time.Now().UnixNano())
	}
	limits.OtherPct = *busyLimit
	cfg := harness.Config{Scenarios: splitList(*scenarios), Only: splitList(*only), Reps: *reps, Mode: "full", Scenario: scenario.Full(),
		RepoDir: *repo, BrokerBinary: filepath.Join(*bin, "broker"), PinBroker: noneIsEmpty(*pinBroker), PinGenerator: noneIsEmpty(*pinGen),
		Pause: *pause, Limits: limits, Force: *force, AllowDirty: *allowDirty, OrderSeed: *seed, Progress: stderr, OutDir: *out}
	switch {
	case *smoke:
		cfg.Mode, cfg.Scenario, cfg.Reps, cfg.Pause = "smoke", scenario.Smoke(), 1, min(*pause, 200*time.Millisecond)
		cfg.Force, cfg.AllowDirty = true, true
		if *names == "" {
			*names = broker.ForkmqProcess + "," + broker.ForkmqGoroutine
		}
	case *quick:
		cfg.Mode, cfg.Scenario = "quick", scenario.Quick()
	}
	if *window > 0 {
		cfg.Scenario.Window = *window
	}
	if *scaleLevels != "" {
		cfg.Scenario.ScaleLevels = nil
		for _, f := range splitList(*scaleLevels) {
			n, err := strconv.Atoi(f)
			if err != nil || n < 1 {
				fmt.Fprintf(stderr, "mqbench: -scale-levels: bad count %q\n", f)
				return 2
			}
			cfg.Scenario.ScaleLevels = append(cfg.Scenario.ScaleLevels, n)
		}
	}
	if cfg.Reps < 1 {
		fmt.Fprintln(stderr, "mqbench: -reps must be at least 1")
		return 2
	}
	all := append(presets, custom...)
	if *names == "" {
		cfg.Brokers = all
	} else {
		for _, n := range splitList(*names) {
			i := indexOf(all, n)
			if i < 0 {
				fmt.Fprintf(stderr, "mqbench: unknown broker %q (built in: %s; add one with -broker)\n", n, strings.Join(specNames(presets), ", "))
				return 2
			}
			cfg.Brokers = append(cfg.Brokers, all[i])
		}
	}
	if cfg.OutDir == "" {
		if *smoke {
			dir, err := os.MkdirTemp("", "mqbench-smoke-")
			if err != nil {
				fmt.Fprintln(stderr, "mqbench:", err)
				return 1
			}
			cfg.OutDir = dir
		} else {
			cfg.OutDir = filepath.Join("bench", "results", time.Now().UTC().Format("2006-01-02T1504Z"))
		}
	}
	if err := raiseFileLimit(); err != nil {
		fmt.Fprintln(stderr, "mqbench: raise the open-file limit:", err)
	}
	cfg.GeneratorCPUs = runtime.NumCPU()
	if cfg.PinGenerator != "" {
		n, err := pinSelf(cfg.PinGenerator)
		if err != nil {
			fmt.Fprintln(stderr, "mqbench: -pin-generator:", err)
			return 2
		}
		// The runtime sized itself for every CPU; the generator has n.
		runtime.GOMAXPROCS(n)
		cfg.GeneratorCPUs = n
	}
	if cfg.PinBroker != "" && cfg.PinBroker == cfg.PinGenerator {
		fmt.Fprintln(stderr, "mqbench: warning: the broker and the load generator are pinned to the same CPUs")
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	res, err := harness.Run(ctx, cfg)
	if res == nil && err != nil {
		fmt.Fprintln(stderr, "mqbench: refused:", err)
		return 1
	}
	counts := map[string]int{}
	for _, r := range res.Runs {
		counts[r.Status]++
	}
	fmt.Fprintf(stdout, "mqbench: %d runs (%d ok, %d partial, %d refused, %d failed, %d skipped); results in %s\n",
		len(res.Runs), counts[scenario.StatusOK], counts[scenario.StatusPartial], counts[scenario.StatusRefused],
		counts[scenario.StatusFailed], counts[scenario.StatusSkipped], cfg.OutDir)
	if err != nil {
		fmt.Fprintln(stderr, "mqbench:", err)
		return 1
	}
	if res.Trust.Stopped != "" {
		fmt.Fprintln(stderr, "mqbench: stopped early:", res.Trust.Stopped)
		return 1
	}
	if ctx.Err() != nil {
		fmt.Fprintln(stderr, "mqbench: interrupted; the results cover the runs done")
		return 130
	}
	return 0
}

func noneIsEmpty(s string) string {
	if s == "none" {
		return ""
	}
	return s
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func indexOf(specs []broker.Spec, name string) int {
	for i, s := range specs {
		if s.Name == name {
			return i
		}
	}
	return -1
}

func specNames(specs []broker.Spec) []string {
	var n []string
	for _, s := range specs {
		n = append(n, s.Name)
	}
	return n
}

// raiseFileLimit lifts the soft RLIMIT_NOFILE to the hard one, for the
// thousands of connections of the scale scenario. Setting it explicitly
// (rather than relying on the Go runtime's own raise) makes the brokers
// started from here inherit it too: every broker gets the same limit.
func raiseFileLimit() error {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return err
	}
	rl.Cur = rl.Max
	return syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
}

// pinSelf restricts every thread of this process to the CPUs listed
// ("1", "0-1", "2,3"); threads started later, and the tools it runs,
// inherit the mask. It returns the number of CPUs.
func pinSelf(list string) (int, error) {
	var set unix.CPUSet
	for _, part := range strings.Split(list, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			return 0, fmt.Errorf("bad CPU list %q", list)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return 0, fmt.Errorf("bad CPU list %q", list)
			}
		}
		for c := a; c <= b; c++ {
			set.Set(c)
		}
	}
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return 0, err
	}
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		if err := unix.SchedSetaffinity(tid, &set); err != nil {
			return 0, err
		}
	}
	return set.Count(), nil
}
