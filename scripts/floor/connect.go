//go:build linux

package main

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// connLoad is the connect scenario's load: conc clients, each in a loop
// CONNECT → CONNACK → DISCONNECT, a new TCP connection each time.
type connLoad struct {
	done, failed atomic.Int64
	errMu        sync.Mutex
	firstErr     error
	stop         chan struct{}
	wg           sync.WaitGroup
}

// disconnect is MQTT's DISCONNECT [MQTT-3.14.1-1].
var disconnect = []byte{0xe0, 0x00}

func runConnLoad(addr string, conc int) *connLoad {
	l := &connLoad{stop: make(chan struct{})}
	for g := 0; g < conc; g++ {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			connect := connectPacket("floor-c" + strconv.Itoa(g))
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				if err := connectOnce(addr, connect); err != nil {
					l.failed.Add(1)
					l.errMu.Lock()
					l.firstErr = cmp.Or(l.firstErr, err)
					l.errMu.Unlock()
					time.Sleep(10 * time.Millisecond) // a refusing target is not a busy loop
					continue
				}
				l.done.Add(1)
			}
		}()
	}
	return l
}

// connectOnce is one client's life: connect, CONNECT, CONNACK 0
// [MQTT-3.2.2-3], DISCONNECT, close.
func connectOnce(addr string, connect []byte) error {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(connect); err != nil {
		return err
	}
	if err := expect(bufio.NewReaderSize(c, 16), []byte{0x20, 0x02, 0, 0}); err != nil {
		return fmt.Errorf("CONNACK: %w", err)
	}
	_, err = c.Write(disconnect)
	return err
}

func (l *connLoad) close() {
	close(l.stop)
	l.wg.Wait()
}

// A connResult is one run of one target in the connect scenario.
type connResult struct {
	procs, threads int
	conns, failed  int64
	window         time.Duration
	d, root        threadStat // the tree's threads, and its root's (the supervisor's) alone
	genNS          uint64
	steadyRate     float64 // median of the window's seconds, connections/s
	othersPct      float64
	stealPct       float64
}

func (r connResult) rate() float64         { return float64(r.conns) / r.window.Seconds() }
func (r connResult) cpuPerConn() float64   { return float64(r.d.cpuNS) / 1e3 / float64(r.conns) }
func (r connResult) wakesPerConn() float64 { return float64(r.d.voluntary) / float64(r.conns) }
func (r connResult) rootCPUPerConn() float64 {
	return float64(r.root.cpuNS) / 1e3 / float64(r.conns)
}
func (r connResult) rootWakesPerConn() float64 { return float64(r.root.voluntary) / float64(r.conns) }
func (r connResult) cpuPct() float64 {
	return 100 * float64(r.d.cpuNS) / float64(r.window.Nanoseconds())
}
func (r connResult) genPerConn() float64 { return float64(r.genNS) / 1e3 / float64(r.conns) }

// parseConnTargets reads the connect scenario's targets: the floor, forkmq
// (either engine) and mosquitto.
func parseConnTargets(list string) ([]target, error) {
	var out []target
	for _, name := range strings.Split(list, ",") {
		t := target{name: name, wait: "poll", gomaxprocs: 1}
		switch name {
		case "floor", "floor+sched":
			// wait says how the floor makes its calls: raw, as forkmq's
			// control channel does, or through the scheduler.
			t.shape, t.wait = "connect", "raw"
			if name == "floor+sched" {
				t.wait = "sched"
			}
		case "mosquitto":
			t.broker = name
		case "forkmq", "forkmq-goroutine":
			t.broker = "forkmq"
			engine := strings.TrimPrefix(strings.TrimPrefix(name, "forkmq"), "-")
			if engine == "" {
				engine = "process"
			}
			// The settings: no accept limit, room for the
			// connections in flight, and for the process engine a share
			// of the uid's queue budget (the goroutine engine refuses
			// the flag: it has no queues).
			t.brokerArgs = []string{"-engine", engine, "-max-clients", "200"}
			if engine == "process" {
				// Workers serve every client of the run: one replaced
				// after -clients-per-worker (1,000 by default) ends
				// inside the window at this rate, and what its threads
				// did there is lost from the samples, which read live
				// threads (measured: the tree's CPU per connection
				// read 330 µs where the cgroup's was 570). A
				// replacement is two execs, about 20 ms of CPU, per
				// 1,000 clients: 20 µs per connection, which mqbench's
				// cgroup figure counts.
				t.brokerArgs = append(t.brokerArgs, "-queue-budget", "400000", "-clients-per-worker", "0")
			}
		default:
			return nil, fmt.Errorf("unknown connect target %q (floor, floor+sched, forkmq, forkmq-goroutine, mosquitto)", name)
		}
		out = append(out, t)
	}
	return out, nil
}

// measureConnect runs every target of the connect scenario o.reps times,
// in an order rotated by repetition, and prints each run and the medians.
func measureConnect(o options, w io.Writer) error {
	fmt.Fprintf(w, "floor -scenario connect: %d clients at a time, pool %d, warm-up %s, window %s; %s\n",
		o.conc, o.pool, o.warmup, o.window, buildNote())
	fmt.Fprintf(w, "%-3s %-16s %5s %6s %7s %8s %11s %10s %8s %9s %7s %6s %11s %8s %7s %9s\n",
		"rep", "target", "procs", "thrds", "conns", "conn/s", "CPU µs/conn", "wakes/conn", "sup µs/c", "sup wk/c", "CPU %", "failed",
		"gen µs/conn", "others %", "steal %", "conn/s /s")
	results := map[string][]connResult{}
	for rep := 0; rep < o.reps; rep++ {
		for k := range o.targets {
			t := o.targets[(k+rep)%len(o.targets)]
			r, err := runConnOnce(o, t)
			if err != nil {
				return fmt.Errorf("rep %d, %s: %w", rep+1, t.name, err)
			}
			results[t.name] = append(results[t.name], r)
			fmt.Fprintf(w, "%-3d %-16s %5d %6d %7d %8.0f %11.1f %10.2f %8.1f %9.2f %7.1f %6d %11.1f %8.1f %7.1f %9.0f\n", rep+1, t.name, r.procs, r.threads,
				r.conns, r.rate(), r.cpuPerConn(), r.wakesPerConn(), r.rootCPUPerConn(), r.rootWakesPerConn(), r.cpuPct(), r.failed, r.genPerConn(), r.othersPct, r.stealPct, r.steadyRate)
			if r.d.lost > 0 {
				fmt.Fprintf(w, "    warning: %d threads of the tree ended inside the window; their CPU and wake-ups there are missing from this run\n", r.d.lost)
			}
		}
	}
	fmt.Fprintf(w, "\nmedian [range] of the runs of each target; ÷ floor: of the medians (rate: floor ÷ target; CPU: target ÷ floor)\n"+
		"%-16s %-4s %-22s %-22s %-20s %-22s %-20s %s\n", "target", "runs", "conn/s", "CPU µs/conn", "wakes/conn", "supervisor µs/conn", "CPU %", "÷ floor (rate, CPU)")
	span := func(v [3]float64, format string) string {
		return fmt.Sprintf(format+" ["+format+"–"+format+"]", v[0], v[1], v[2])
	}
	floor := results["floor"]
	for _, t := range o.targets {
		rs := results[t.name]
		rate, cpu := stats(rs, connResult.rate), stats(rs, connResult.cpuPerConn)
		ratio := ""
		if len(floor) > 0 {
			ratio = fmt.Sprintf("%.2f, %.2f", stats(floor, connResult.rate)[0]/rate[0], cpu[0]/stats(floor, connResult.cpuPerConn)[0])
		}
		fmt.Fprintf(w, "%-16s %-4d %-22s %-22s %-20s %-22s %-20s %s\n", t.name, len(rs), span(rate, "%.0f"), span(cpu, "%.1f"),
			span(stats(rs, connResult.wakesPerConn), "%.2f"), span(stats(rs, connResult.rootCPUPerConn), "%.1f"),
			span(stats(rs, connResult.cpuPct), "%.1f"), ratio)
	}
	return nil
}

// runConnOnce starts the target, runs the load through the warm-up and the
// window, samples the tree each second, and stops both.
func runConnOnce(o options, t target) (connResult, error) {
	res := connResult{window: o.window}
	var rt *running
	var err error
	if t.broker == "" {
		rt, err = startConnFloor(o, t.wait)
	} else {
		rt, err = start(o, t)
	}
	if err != nil {
		return res, err
	}
	defer rt.stop()
	if err := rt.ready(); err != nil {
		return res, err
	}
	l := runConnLoad(rt.addr, o.conc)
	defer l.close()
	time.Sleep(o.warmup)
	root := rt.cmd.Process.Pid
	failed0 := l.failed.Load()
	var perSec []float64
	m := sampleWindow(root, o.window, o.treeCPU, l.done.Load, func(prev, cur windowSnap) {
		perSec = append(perSec, float64(cur.count-prev.count)/cur.at.Sub(prev.at).Seconds())
	})
	res.window, res.conns, res.failed = m.length(), m.count(), l.failed.Load()-failed0
	res.d, res.procs, res.threads = m.d, m.last.tree.procs, len(m.last.tree.threads)
	res.root = m.last.tree.sinceOf(m.first.tree, root)
	res.genNS, res.othersPct, res.stealPct = m.genNS, m.othersPct, m.stealPct
	res.steadyRate = median(perSec)
	l.errMu.Lock()
	err = l.firstErr
	l.errMu.Unlock()
	if res.conns == 0 {
		return res, fmt.Errorf("no connection served in the window (%d failed: %v)", l.failed.Load(), err)
	}
	if res.failed > 0 {
		return res, fmt.Errorf("%d connections failed in the window, the first: %v", res.failed, err)
	}
	return res, nil
}

// startConnFloor starts the connect floor's supervisor pinned to
// o.treeCPU, given the listening socket; it is ready once it has started
// its pool.
func startConnFloor(o options, calls string) (*running, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	return startTree(o, self, "-role", "conn-supervisor", "-pool", strconv.Itoa(o.pool), "-calls", calls)
}
