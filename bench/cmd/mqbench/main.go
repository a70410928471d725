// Command mqbench measures MQTT brokers against each other: forkmq's
// process engine (two worker processes per client), its goroutine engine,
// mosquitto and mochi-mqtt, or any broker given as a command line. It runs
// the seed, throughput, connect and scale scenarios with its own load
// generator, in alternation and with repetitions, and writes report.md,
// results.json and PNG plots into bench/results/<timestamp>/.
//
//	mqbench                        # everything, 3 repetitions (about an hour)
//	mqbench -quick                 # shorter durations
//	mqbench -smoke                 # every scenario for about a second, forkmq engines only
//	mqbench -brokers mosquitto,mochi -scenarios throughput
//	mqbench -broker 'nano=/opt/nanomq start --url tcp://127.0.0.1:{port}'
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/forkmq/forkmq/bench/internal/broker"
	"github.com/forkmq/forkmq/bench/internal/harness"
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
	var (
		custom      brokerFlags
		names       = fs.String("brokers", "", "comma-separated brokers to run, in this order (default: every built-in one and every -broker; with -smoke the two forkmq engines)")
		scenarios   = fs.String("scenarios", strings.Join(scenario.All, ","), "comma-separated scenarios: "+strings.Join(scenario.All, ", "))
		only        = fs.String("cases", "", "run only the cases whose name contains one of these comma-separated strings (e.g. 100to1-q1,idle)")
		reps        = fs.Int("reps", 3, "repetitions of every case and broker (with -smoke: 1)")
		quick       = fs.Bool("quick", false, "shorter durations (seed 10 s instead of 60 s, throughput 3 s instead of 10 s)")
		smoke       = fs.Bool("smoke", false, "every scenario for about a second, to check that the harness works")
		out         = fs.String("out", "", "directory for the results (default bench/results/<timestamp>; with -smoke a temporary one)")
		bin         = fs.String("bin", "bin", "directory holding broker, worker and mochi")
		pinBroker   = fs.String("pin-broker", "", "CPU list to pin each broker to with taskset, e.g. 0")
		pinGen      = fs.String("pin-generator", "", "CPU list to pin the load generator (this process) to, e.g. 1")
		procClients = fs.Int("forkmq-max-clients", broker.DefaultProcessMaxClients(), "-max-clients of forkmq-process (default: fs.mqueue.queues_max less a few)")
		procBudget  = fs.Int("forkmq-queue-budget", 0, "-queue-budget of forkmq-process, in bytes (default: the whole RLIMIT_MSGQUEUE; give less when other forkmq brokers run as the same user)")
		gorClients  = fs.Int("goroutine-max-clients", 10000, "-max-clients of forkmq-goroutine")
		window      = fs.Int("window", 0, "messages in flight towards each subscriber in the throughput scenario (default 64)")
		scaleLevels = fs.String("scale-levels", "", "comma-separated idle-client counts of the scale scenario (default 100,1000,5000)")
		pause       = fs.Duration("pause", 500*time.Millisecond, "pause between runs")
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
	cfg := harness.Config{Scenarios: splitList(*scenarios), Only: splitList(*only), Reps: *reps, Mode: "full", Scenario: scenario.Full(),
		BinDir: *bin, PinBroker: *pinBroker, PinGenerator: *pinGen, Pause: *pause, Progress: stderr, OutDir: *out}
	switch {
	case *smoke:
		cfg.Mode, cfg.Scenario, cfg.Reps, cfg.Pause = "smoke", scenario.Smoke(), 1, min(*pause, 200*time.Millisecond)
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
			cfg.OutDir = filepath.Join("bench", "results", time.Now().Format("20060102-150405"))
		}
	}
	if err := raiseFileLimit(); err != nil {
		fmt.Fprintln(stderr, "mqbench: raise the open-file limit:", err)
	}
	if *pinGen != "" {
		if err := pinSelf(*pinGen); err != nil {
			fmt.Fprintln(stderr, "mqbench: -pin-generator:", err)
			return 2
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	res, err := harness.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(stderr, "mqbench:", err)
		return 1
	}
	counts := map[string]int{}
	for _, r := range res.Runs {
		counts[r.Status]++
	}
	fmt.Fprintf(stdout, "mqbench: %d runs (%d ok, %d refused, %d failed, %d skipped); results in %s\n",
		len(res.Runs), counts[scenario.StatusOK], counts[scenario.StatusRefused], counts[scenario.StatusFailed],
		counts[scenario.StatusSkipped], cfg.OutDir)
	if ctx.Err() != nil {
		fmt.Fprintln(stderr, "mqbench: interrupted; the results cover the runs done")
		return 130
	}
	return 0
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
// ("1", "0-1", "2,3"); threads started later inherit the mask.
func pinSelf(list string) error {
	var set unix.CPUSet
	for _, part := range strings.Split(list, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			return fmt.Errorf("bad CPU list %q", list)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return fmt.Errorf("bad CPU list %q", list)
			}
		}
		for c := a; c <= b; c++ {
			set.Set(c)
		}
	}
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return err
	}
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		if err := unix.SchedSetaffinity(tid, &set); err != nil {
			return err
		}
	}
	return nil
}
