//go:build linux

package main

import (
	"bufio"
	"cmp"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ticksPerSecond is USER_HZ, the unit of /proc/stat: 100 on every Linux
// port Go supports.
const ticksPerSecond = 100

// pinnedEnv marks the process re-executed under taskset.
const pinnedEnv = "FLOOR_PINNED"

func main() {
	role := flag.String("role", "", "internal: tree, worker, conn-supervisor, conn-router or conn-deliverer")
	hops := flag.String("hops", "", "internal: a worker's hops")
	wait := flag.String("wait", "poll", "internal: how a worker waits (poll, block, rawblock)")
	shapeName := flag.String("shape", "pair", "internal: the tree's shape")
	callsName := flag.String("calls", "raw", "internal: how the connect floor makes its socket calls (raw, sched)")
	gomaxprocs := flag.Int("gomaxprocs", 1, "internal: the workers' GOMAXPROCS")

	var o options
	flag.IntVar(&o.n, "n", 50, "publisher+subscriber pairs")
	flag.Float64Var(&o.rate, "rate", 1, "messages per second per publisher")
	flag.IntVar(&o.size, "size", 256, "payload bytes of each PUBLISH")
	flag.DurationVar(&o.warmup, "warmup", 5*time.Second, "load before measuring")
	flag.DurationVar(&o.window, "window", 20*time.Second, "measured window")
	flag.IntVar(&o.reps, "reps", 3, "repetitions of every target")
	targets := flag.String("targets", "", "comma-separated: pair, client (each with +block, +rawblock, +gmp2), mosquitto, forkmq (default pair,mosquitto); -scenario connect: floor, forkmq, forkmq-goroutine, mosquitto (default floor,forkmq)")
	flag.StringVar(&o.broker, "broker", "bin/broker", "forkmq's broker binary, for the target forkmq")
	flag.StringVar(&o.treeCPU, "tree-cpu", "0", "CPU list the measured tree is pinned to (taskset; empty: none)")
	loadCPU := flag.String("load-cpu", "1", "CPU list this program (the load) is pinned to (empty: none)")
	scenario := flag.String("scenario", "seed", "seed (publishers and subscribers) or connect (CONNECT, CONNACK, DISCONNECT in a loop; -targets floor,forkmq,forkmq-goroutine,mosquitto)")
	flag.IntVar(&o.conc, "conc", 8, "connect: clients connecting at a time")
	flag.IntVar(&o.pool, "pool", 12, "connect: the floor's pre-started pairs")
	flag.Parse()

	var err error
	switch *role {
	case "worker":
		err = runWorker(*hops, *wait)
		if err == errClosed {
			err = nil
		}
	case "conn-supervisor", "conn-router", "conn-deliverer":
		var calls sockCalls
		if calls, err = callsNamed(*callsName); err != nil {
			break
		}
		switch *role {
		case "conn-supervisor":
			err = runConnSupervisor(o.pool, calls, *callsName)
		case "conn-router":
			err = runConnRouter(calls)
		default:
			err = runConnDeliverer(calls)
		}
		if errors.Is(err, io.EOF) {
			err = nil // a control socket's other end is gone: the supervisor stops the pool
		}
	case "tree":
		err = runTree(o.n, *shapeName, *wait, *gomaxprocs)
	case "":
		if *loadCPU != "" && os.Getenv(pinnedEnv) == "" {
			err = repin(*loadCPU)
			break
		}
		switch *scenario {
		case "seed":
			o.targets, err = parseTargets(cmp.Or(*targets, "pair,mosquitto"))
			if err == nil {
				err = measure(o, os.Stdout)
			}
		case "connect":
			o.targets, err = parseConnTargets(cmp.Or(*targets, "floor,forkmq"))
			if err == nil {
				err = measureConnect(o, os.Stdout)
			}
		default:
			err = fmt.Errorf("unknown -scenario %q (seed, connect)", *scenario)
		}
	default:
		err = fmt.Errorf("unknown role %q", *role)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "floor %s: %v\n", *role, err)
		os.Exit(1)
	}
}

// repin runs this program again under taskset, pinned to cpus.
func repin(cpus string) error {
	taskset, err := exec.LookPath("taskset")
	if err != nil {
		return fmt.Errorf("pinning the load: %w (or -load-cpu '')", err)
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	return syscall.Exec(taskset, append([]string{"taskset", "-c", cpus, self}, os.Args[1:]...), append(os.Environ(), pinnedEnv+"=1"))
}

type options struct {
	n, size, reps   int
	rate            float64
	warmup, window  time.Duration
	targets         []target
	broker, treeCPU string
	conc, pool      int // the connect scenario's clients at a time and pairs
}

// A target is what one run measures: the floor in one of its variants, or
// a broker.
type target struct {
	name       string
	broker     string // "mosquitto", "forkmq", or "" for the floor
	shape      string
	wait       string
	gomaxprocs int
	brokerArgs []string // more of the broker's flags
}

func parseTargets(list string) ([]target, error) {
	var out []target
	for _, name := range strings.Split(list, ",") {
		t := target{name: name, wait: "poll", gomaxprocs: 1}
		base, mods, _ := strings.Cut(name, "+")
		switch base {
		case "mosquitto", "forkmq":
			if mods != "" {
				return nil, fmt.Errorf("target %q: a broker takes no variant", name)
			}
			t.broker = base
		case "pair", "client":
			t.shape = base
			for _, m := range strings.Split(mods, "+") {
				switch m {
				case "":
				case "block", "rawblock":
					t.wait = m
				case "gmp2":
					t.gomaxprocs = 2
				default:
					return nil, fmt.Errorf("target %q: unknown variant %q (block, rawblock, gmp2)", name, m)
				}
			}
		default:
			return nil, fmt.Errorf("unknown target %q (pair, client, mosquitto, forkmq)", name)
		}
		out = append(out, t)
	}
	return out, nil
}

// A result is one run of one target.
type result struct {
	target                      string
	procs, threads              int
	msgs                        int64 // delivered in the window
	window                      time.Duration
	d                           threadStat
	sent, delivered, acked, bad int64   // over the whole run, after the drain
	genNS                       uint64  // the load's own CPU in the window
	steadyCPU, steadyWakes      float64 // medians of the window's seconds: CPU µs and wake-ups per message
	othersPct, stealPct         float64 // the tree's CPU: busy with anything but the tree, and stolen by the hypervisor; -1 unknown
}

func (r result) cpuPerMsg() float64   { return float64(r.d.cpuNS) / 1e3 / float64(r.msgs) }
func (r result) wakesPerMsg() float64 { return float64(r.d.voluntary) / float64(r.msgs) }
func (r result) involPerMsg() float64 { return float64(r.d.involuntary) / float64(r.msgs) }
func (r result) cpuPct() float64      { return 100 * float64(r.d.cpuNS) / float64(r.window.Nanoseconds()) }
func (r result) genPerMsg() float64   { return float64(r.genNS) / 1e3 / float64(r.msgs) }
func (r result) lost() int64          { return r.sent - min(r.delivered, r.acked) }

func measure(o options, w *os.File) error {
	if o.size+64 > queueMsgSize {
		return fmt.Errorf("-size %d: a PUBLISH must fit the floor's %d-byte queue messages", o.size, queueMsgSize)
	}
	fmt.Fprintf(w, "floor: %d pairs, %g msg/s each, %d B payload, warm-up %s, window %s; %s\n",
		o.n, o.rate, o.size, o.warmup, o.window, buildNote())
	fmt.Fprintf(w, "%-3s %-14s %5s %6s %6s %10s %9s %9s %7s %6s %6s %5s %10s %8s %7s %9s %9s\n",
		"rep", "target", "procs", "thrds", "msgs", "CPU µs/msg", "wakes/msg", "invol/msg", "CPU %", "sent", "deliv", "lost",
		"gen µs/msg", "others %", "steal %", "µs/msg /s", "wakes /s")
	results := map[string][]result{}
	for rep := 0; rep < o.reps; rep++ {
		for k := range o.targets {
			t := o.targets[(k+rep)%len(o.targets)]
			r, err := runOnce(o, t, uint64(rep))
			if err != nil {
				return fmt.Errorf("rep %d, %s: %w", rep+1, t.name, err)
			}
			results[t.name] = append(results[t.name], r)
			fmt.Fprintf(w, "%-3d %-14s %5d %6d %6d %10.1f %9.2f %9.2f %7.2f %6d %6d %5d %10.1f %8.1f %7.1f %9.1f %9.2f\n", rep+1, t.name, r.procs, r.threads,
				r.msgs, r.cpuPerMsg(), r.wakesPerMsg(), r.involPerMsg(), r.cpuPct(), r.sent, r.delivered, r.lost(),
				r.genPerMsg(), r.othersPct, r.stealPct, r.steadyCPU, r.steadyWakes)
		}
	}
	results, slowed := keepSteady(results)
	fmt.Fprintf(w, "\nmedian [range] of the runs of each target (%d left out: the load needed more than twice the CPU per message of the target's quietest run: a slowed machine);\n"+
		"/s: each run's median second; ÷ mosquitto: of the medians\n%-14s %-4s %-22s %-20s %-7s %-20s %-20s %-22s %-17s %s\n", slowed,
		"target", "runs", "CPU µs/msg", "wakes/msg", "µs/wake", "CPU %", "gen µs/msg", "CPU µs/msg /s", "wakes/msg /s", "÷ mosquitto (/s)")
	cpuPerMsg, steadyCPU := result.cpuPerMsg, func(r result) float64 { return r.steadyCPU }
	var mosq, mosqSteady float64
	if rs := results["mosquitto"]; len(rs) > 0 {
		mosq, mosqSteady = stats(rs, cpuPerMsg)[0], stats(rs, steadyCPU)[0]
	}
	span := func(v [3]float64, format string) string {
		return fmt.Sprintf(format+" ["+format+"–"+format+"]", v[0], v[1], v[2])
	}
	for _, t := range o.targets {
		rs := results[t.name]
		if len(rs) == 0 {
			fmt.Fprintf(w, "%-14s %-4d every run met a slowed machine\n", t.name, 0)
			continue
		}
		c, wk, sc := stats(rs, cpuPerMsg), stats(rs, result.wakesPerMsg), stats(rs, steadyCPU)
		ratio := ""
		if mosq > 0 {
			ratio = fmt.Sprintf("%.2f (%.2f)", c[0]/mosq, sc[0]/mosqSteady)
		}
		fmt.Fprintf(w, "%-14s %-4d %-22s %-20s %-7.1f %-20s %-20s %-22s %-17s %s\n", t.name, len(rs), span(c, "%.1f"), span(wk, "%.2f"), c[0]/wk[0],
			span(stats(rs, result.cpuPct), "%.2f"), span(stats(rs, result.genPerMsg), "%.1f"),
			span(sc, "%.1f"), span(stats(rs, func(r result) float64 { return r.steadyWakes }), "%.2f"), ratio)
	}
	return nil
}

// keepSteady leaves out the runs that met a slowed machine, much as
// mqbench does for the seed: the load does the same work in every run of a
// target, so a run whose load needed more than twice the CPU per message
// of the target's quietest run met a machine slowed for everyone (on this
// VM a slowed stretch costs mosquitto and the floor alike three to ten
// times their steady figure, with no steal and no other process on the
// CPU to show for it). Each target is judged against its own runs: the
// load's cost differs between targets (mosquitto writes a PUBACK and its
// PUBLISH in one wake-up, which the load then reads in one; the floor's
// come from two processes). It returns the runs kept and how many it left
// out.
func keepSteady(results map[string][]result) (map[string][]result, int) {
	kept, out := map[string][]result{}, 0
	for name, rs := range results {
		quietest := math.Inf(1)
		for _, r := range rs {
			quietest = min(quietest, r.genPerMsg())
		}
		for _, r := range rs {
			if r.genPerMsg() > 2*quietest {
				out++
				continue
			}
			kept[name] = append(kept[name], r)
		}
	}
	return kept, out
}

// median is the median of v, 0 for none.
func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	v = slices.Sorted(slices.Values(v))
	if len(v)%2 == 0 {
		return (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	return v[len(v)/2]
}

// threadCPU is the CPU time of the calling thread, in nanoseconds.
func threadCPU() uint64 {
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts) != nil {
		return 0
	}
	return uint64(ts.Nano())
}

// stats returns the median, minimum and maximum of f over rs.
func stats[R any](rs []R, f func(R) float64) [3]float64 {
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = f(r)
	}
	slices.Sort(v)
	return [3]float64{median(v), v[0], v[len(v)-1]}
}

// buildNote says how this binary was built: its workers should be built
// like forkmq's (CGO_ENABLED=0, GOEXPERIMENT=nogreenteagc).
func buildNote() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "build unknown"
	}
	cgo, exp := "?", "none"
	for _, s := range bi.Settings {
		switch s.Key {
		case "CGO_ENABLED":
			cgo = s.Value
		case "GOEXPERIMENT":
			exp = s.Value
		}
	}
	note := fmt.Sprintf("%s, CGO_ENABLED=%s, GOEXPERIMENT=%s", bi.GoVersion, cgo, exp)
	if cgo != "0" || !strings.Contains(exp, "nogreenteagc") {
		note += " (NOT built like forkmq's workers)"
	}
	return note
}

// A running target: the root of its process tree and how to stop it.
type running struct {
	cmd   *exec.Cmd
	addr  string
	ready func() error
	stop  func()
}

func pinned(cpus, name string, args ...string) *exec.Cmd {
	if cpus == "" {
		return exec.Command(name, args...)
	}
	return exec.Command("taskset", append([]string{"-c", cpus, name}, args...)...)
}

// runOnce starts the target, connects the load, lets it warm up, measures
// the window and stops the target: one line of the report.
func runOnce(o options, t target, seed uint64) (result, error) {
	res := result{target: t.name, window: o.window}
	rt, err := start(o, t)
	if err != nil {
		return res, err
	}
	defer rt.stop()
	l, err := dialLoad(rt.addr, o.n, t.broker != "")
	if err != nil {
		return res, err
	}
	defer l.close()
	if err := rt.ready(); err != nil {
		return res, err
	}
	l.run(o.rate, o.size, seed)
	time.Sleep(o.warmup)
	root := rt.cmd.Process.Pid // taskset execs: the pid is the target's
	var perSecCPU, perSecWakes []float64
	m := sampleWindow(root, o.window, o.treeCPU, l.delivered.Load, func(prev, cur windowSnap) {
		if n := cur.count - prev.count; n > 0 {
			d := cur.tree.since(prev.tree)
			perSecCPU = append(perSecCPU, float64(d.cpuNS)/1e3/float64(n))
			perSecWakes = append(perSecWakes, float64(d.voluntary)/float64(n))
		}
	})
	res.window, res.msgs = m.length(), m.count()
	res.d, res.procs, res.threads = m.d, m.last.tree.procs, len(m.last.tree.threads)
	res.genNS, res.othersPct, res.stealPct = m.genNS, m.othersPct, m.stealPct
	res.steadyCPU, res.steadyWakes = median(perSecCPU), median(perSecWakes)
	l.finish(3 * time.Second)
	res.sent, res.delivered, res.acked, res.bad = l.sent.Load(), l.delivered.Load(), l.acked.Load(), l.malformed.Load()
	if res.msgs == 0 {
		return res, fmt.Errorf("no message delivered in the window (sent %d)", res.sent)
	}
	if res.bad > 0 {
		return res, fmt.Errorf("%d packets the load did not expect (a subscriber wants PUBLISH, a publisher PUBACK)", res.bad)
	}
	return res, nil
}

// start starts a target pinned to o.treeCPU and returns once it listens.
func start(o options, t target) (*running, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	if t.broker == "" {
		return startFloor(o, t, self)
	}
	dir, err := os.MkdirTemp("", "floor-")
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	var cmd *exec.Cmd
	switch t.broker {
	case "mosquitto":
		// mqbench's configuration: its defaults, a loopback listener.
		conf := filepath.Join(dir, "mosquitto.conf")
		text := fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest stderr\nlog_type error\nlog_type warning\n", port)
		if err := os.Chmod(dir, 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
			return nil, err
		}
		cmd = pinned(o.treeCPU, "mosquitto", "-c", conf)
	case "forkmq":
		cmd = pinned(o.treeCPU, o.broker, "-listen", addr, "-state-dir", filepath.Join(dir, "state"),
			"-max-clients", strconv.Itoa(2*o.n+50), "-max-accept-rate", "0", "-log-level", "warn")
		cmd.Args = append(cmd.Args, t.brokerArgs...) // the last of a repeated flag wins
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start %s: %w", t.broker, err)
	}
	rt := &running{cmd: cmd, addr: addr, ready: func() error { return nil }}
	rt.stop = func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		os.RemoveAll(dir)
	}
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return rt, nil
		}
		if time.Now().After(deadline) {
			rt.stop()
			return nil, fmt.Errorf("%s does not listen on %s: %w", t.broker, addr, err)
		}
	}
}

// startFloor starts the floor's tree, given the listening socket; it is
// ready once it has started every worker.
func startFloor(o options, t target, self string) (*running, error) {
	return startTree(o, self, "-role", "tree", "-n", strconv.Itoa(o.n), "-shape", t.shape,
		"-wait", t.wait, "-gomaxprocs", strconv.Itoa(t.gomaxprocs))
}

// startTree starts this program pinned to o.treeCPU with args (a tree
// role), handing it a listening socket as descriptor 3; it is ready once
// it says "ready" on stdout.
func startTree(o options, self string, args ...string) (*running, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	defer ln.Close()
	lf, err := ln.(*net.TCPListener).File()
	if err != nil {
		return nil, err
	}
	defer lf.Close()
	cmd := pinned(o.treeCPU, self, args...)
	cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
	cmd.ExtraFiles = []*os.File{lf}
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the tree: %w", err)
	}
	rt := &running{cmd: cmd, addr: ln.Addr().String()}
	rt.stop = func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			cmd.Process.Kill() // its workers die with it (Pdeathsig)
			<-done
		}
	}
	rt.ready = func() error {
		line := make(chan string, 1)
		go func() {
			s, _ := bufio.NewReader(stdout).ReadString('\n')
			line <- s
		}()
		select {
		case s := <-line:
			if !strings.HasPrefix(s, "ready ") {
				return fmt.Errorf("the tree did not start its workers (said %q)", s)
			}
			return nil
		case <-time.After(60 * time.Second):
			return fmt.Errorf("the tree did not start its workers in 60 s")
		}
	}
	return rt, nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
