// Command idlepss measures what idle clients cost the process engine: it
// starts a broker, connects -n clients that send nothing (keep-alive 60 s),
// and reports the broker tree's PSS (from /proc/PID/smaps_rollup, summed
// over the broker and every descendant), the threads and the wake-ups per
// second (voluntary and involuntary context switches of every thread, over
// -window) of the workers serving them, split by role (the process title
// says router or deliverer). With -dump DIR it also copies one router's and
// one deliverer's (and one idle pool worker's) smaps and status there, for a
// per-mapping breakdown, and straces one router during -window; -memdump
// has every worker write its runtime.MemStats, live heap, goroutines and
// thread creations there too, 2 s after it is handed a client
// (worker.MemDumpEnv).
//
// It counts two ways: the tree's PSS divided by the clients (what issue 12's
// target means), and the tree's growth over the idle broker (before any
// client) divided by the clients. Run it under the lock every broker takes:
//
//	flock /tmp/forkmq-e2e.lock go run ./scripts/idlepss -n 1000
//
// As root the broker raises fs.mqueue.queues_max for -n clients; set it
// back afterwards (sysctl -w fs.mqueue.queues_max=256).
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/forkmq/forkmq/internal/procstat"
	"github.com/forkmq/forkmq/internal/rawmqtt"
	"github.com/forkmq/forkmq/internal/worker"
)

func main() {
	broker := flag.String("broker", "bin/broker", "the broker binary (its worker beside it)")
	n := flag.Int("n", 1000, "idle clients to hold")
	conc := flag.Int("conc", 8, "clients connecting at a time")
	settle := flag.Duration("settle", 5*time.Second, "wait after the last client connects, before measuring")
	window := flag.Duration("window", 20*time.Second, "how long wake-ups are counted")
	dump := flag.String("dump", "", "directory to copy one router's and one deliverer's smaps and status into")
	extra := flag.String("args", "", "more broker flags, space-separated")
	memdump := flag.Bool("memdump", false, "with -dump: every worker writes its runtime.MemStats, live heap, goroutines and thread creations there, 2 s after it is handed a client (worker.MemDumpEnv; this raises its PSS)")
	churn := flag.Int("churn", 0, "clients that connect and disconnect, conc at a time, before the idle ones: pool workers serve several clients each")
	env := flag.String("env", "", "more environment for the broker and its workers, space-separated K=V (e.g. GODEBUG=inittrace=1)")
	flag.Parse()
	if err := run(*broker, *n, *conc, *settle, *window, *dump, strings.Fields(*extra), strings.Fields(*env), *memdump, *churn); err != nil {
		fmt.Fprintln(os.Stderr, "idlepss:", err)
		os.Exit(1)
	}
}

func run(broker string, n, conc int, settle, window time.Duration, dump string, extra, env []string, memdump bool, churn int) error {
	dir, err := os.MkdirTemp("", "idlepss-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	args := append([]string{"-listen", addr, "-state-dir", filepath.Join(dir, "state"),
		"-max-clients", strconv.Itoa(n + n/8 + 16), "-max-accept-rate", "0", "-log-level", "warn",
		"-pool-linger", "0"}, extra...)
	cmd := exec.Command(broker, args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	cmd.Env = append(os.Environ(), env...)
	if dump != "" {
		if err := os.MkdirAll(dump, 0o755); err != nil {
			return err
		}
	}
	if dump != "" && memdump {
		cmd.Env = append(cmd.Env, worker.MemDumpEnv+"="+dump)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	defer stop(cmd)
	fmt.Printf("broker %s %s\n", broker, strings.Join(args, " "))
	if err := waitListening(addr, 10*time.Second); err != nil {
		return err
	}
	time.Sleep(settle)
	base := measure(cmd.Process.Pid)
	fmt.Printf("idle broker: %d processes, PSS %d KiB\n", len(base.procs), base.pss>>10)

	if churn > 0 {
		start := time.Now()
		if err := churnAll(addr, churn, conc); err != nil {
			return err
		}
		fmt.Printf("%d clients connected and left in %s\n", churn, time.Since(start).Round(time.Millisecond))
		time.Sleep(settle)
	}
	start := time.Now()
	conns, err := dialAll(addr, n, conc)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	if err != nil {
		return err
	}
	fmt.Printf("connected %d in %s\n", n, time.Since(start).Round(time.Millisecond))
	time.Sleep(settle)

	a := measure(cmd.Process.Pid)
	if dump != "" { // what wakes an idle router, in the dump directory
		if pid := anyOf(a, "router"); pid > 0 {
			trace := exec.Command("strace", "-f", "-tt", "-o", filepath.Join(dump, "router.strace"), "-p", strconv.Itoa(pid))
			if err := trace.Start(); err == nil {
				defer func() { _ = trace.Process.Signal(syscall.SIGINT); _ = trace.Wait() }()
			}
		}
	}
	time.Sleep(window)
	b := measure(cmd.Process.Pid)
	report(a, b, base, n, window)
	if dump != "" {
		return dumpOne(a, dump)
	}
	return nil
}

// stop ends the broker with SIGTERM, and its whole process group with
// SIGKILL if it has not exited 15 s later: the lock every broker takes is
// held until then.
func stop(cmd *exec.Cmd) {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		fmt.Fprintln(os.Stderr, "idlepss: the broker did not exit 15 s after SIGTERM; killing its process group")
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
}

// proc is one process of the tree.
type proc struct {
	pid     int
	role    string // router, deliverer, idle, sys, supervisor …
	pss     uint64 // bytes
	threads int
	ctxsw   uint64 // context switches of all its threads so far
}

type snapshot struct {
	at    time.Time
	pss   uint64
	procs map[int]proc
}

// measure reads the broker's tree: the broker and its descendants.
func measure(root int) snapshot {
	s := snapshot{at: time.Now(), procs: map[int]proc{}}
	for _, pid := range tree(root) {
		p := proc{pid: pid, role: role(pid)}
		if st, err := procstat.Read(pid); err == nil {
			p.pss = st.PSS
		}
		tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
		p.threads = len(tasks)
		for _, t := range tasks {
			st, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/status", pid, t.Name()))
			p.ctxsw += switches(st)
		}
		s.pss += p.pss
		s.procs[pid] = p
	}
	return s
}

// tree lists root and its descendants, from every process's parent.
func tree(root int) []int {
	children := map[int][]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st := read(pid, "stat")
		i := bytes.LastIndexByte(st, ')')
		if i < 0 {
			continue
		}
		f := bytes.Fields(st[i+1:])
		if len(f) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(string(f[1]))
		children[ppid] = append(children[ppid], pid)
	}
	out := []int{root}
	for i := 0; i < len(out); i++ {
		out = append(out, children[out[i]]...)
	}
	return out
}

// role is the second word of a worker's process title ("forkmq: router
// client-7 …"), or "supervisor".
func role(pid int) string {
	cl := read(pid, "cmdline")
	f := strings.Fields(strings.ReplaceAll(string(cl), "\x00", " "))
	if len(f) >= 2 && f[0] == "forkmq:" {
		return f[1]
	}
	return "supervisor"
}

func read(pid int, name string) []byte {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/%s", pid, name))
	return b
}

// switches sums a status file's voluntary and involuntary context
// switches.
func switches(status []byte) uint64 {
	var n uint64
	for _, line := range strings.Split(string(status), "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && (f[0] == "voluntary_ctxt_switches:" || f[0] == "nonvoluntary_ctxt_switches:") {
			v, _ := strconv.ParseUint(f[1], 10, 64)
			n += v
		}
	}
	return n
}

// report prints the tree's PSS per client and, per role, PSS, threads and
// wake-ups per process.
func report(a, b, base snapshot, n int, window time.Duration) {
	fmt.Printf("tree: %d processes, PSS %d KiB = %.1f KiB/client (growth over the idle broker %.1f KiB/client)\n",
		len(a.procs), a.pss>>10, float64(a.pss)/1024/float64(n), (float64(a.pss)-float64(base.pss))/1024/float64(n))
	type sum struct {
		count, threads int
		pss, wake      float64
	}
	roles := map[string]*sum{}
	dt := b.at.Sub(a.at).Seconds()
	for pid, p := range a.procs {
		q, ok := b.procs[pid]
		if !ok {
			continue
		}
		s := roles[p.role]
		if s == nil {
			s = &sum{}
			roles[p.role] = s
		}
		s.count++
		s.threads += p.threads
		s.pss += float64(p.pss)
		s.wake += float64(q.ctxsw-p.ctxsw) / dt
	}
	names := make([]string, 0, len(roles))
	for r := range roles {
		names = append(names, r)
	}
	sort.Strings(names)
	for _, r := range names {
		s := roles[r]
		c := float64(s.count)
		fmt.Printf("  %-11s %5d procs  PSS %7.1f KiB/proc  threads %.2f/proc  wake-ups %.3f/s/proc\n",
			r, s.count, s.pss/1024/c, float64(s.threads)/c, s.wake/c)
	}
	fmt.Printf("(wake-ups counted over %s)\n", window)
}

// breakdown sums a process's PSS and private dirty KiB by kind of mapping:
// the binary's text and read-only data (shared by every worker), its data,
// the anonymous mapping right after it (bss), the Go heap arena (the
// largest anonymous read-write mapping: heap spans and goroutine and
// thread stacks), the runtime's other anonymous mappings (span structures,
// page summaries, …), the main thread's stack, and files.
func breakdown(smaps []byte) string {
	type mapping struct {
		name, perm string
		size       uint64
		pss, dirty uint64
	}
	var maps []mapping
	for _, line := range strings.Split(string(smaps), "\n") {
		f := strings.Fields(line)
		if len(f) >= 5 && strings.Contains(f[0], "-") && len(f[1]) == 4 {
			m := mapping{perm: f[1], name: "[anon]"}
			if len(f) >= 6 {
				m.name = f[5]
			}
			var lo, hi uint64
			fmt.Sscanf(f[0], "%x-%x", &lo, &hi)
			m.size = (hi - lo) >> 10
			maps = append(maps, m)
			continue
		}
		if len(maps) == 0 || len(f) < 2 {
			continue
		}
		v, _ := strconv.ParseUint(f[1], 10, 64)
		switch f[0] {
		case "Pss:":
			maps[len(maps)-1].pss = v
		case "Private_Dirty:":
			maps[len(maps)-1].dirty = v
		}
	}
	arena := -1
	for i, m := range maps {
		if m.name == "[anon]" && m.perm == "rw-p" && (arena < 0 || m.pss > maps[arena].pss) {
			arena = i
		}
	}
	kinds := []string{"binary text+rodata", "binary data", "bss", "heap arena", "runtime other anon", "main stack", "files", "other"}
	pss, dirty := map[string]uint64{}, map[string]uint64{}
	for i, m := range maps {
		kind := "other"
		switch {
		case strings.HasPrefix(m.name, "/") && strings.HasSuffix(m.name, "/worker") && m.perm == "rw-p":
			kind = "binary data"
		case strings.HasPrefix(m.name, "/") && strings.HasSuffix(m.name, "/worker"):
			kind = "binary text+rodata"
		case strings.HasPrefix(m.name, "/"):
			kind = "files"
		case i == arena:
			kind = "heap arena"
		case m.name == "[anon]" && i > 0 && strings.HasSuffix(maps[i-1].name, "/worker"):
			kind = "bss"
		case m.name == "[anon]":
			kind = "runtime other anon"
		case m.name == "[stack]":
			kind = "main stack"
		}
		pss[kind] += m.pss
		dirty[kind] += m.dirty
	}
	var b strings.Builder
	var total uint64
	for _, k := range kinds {
		fmt.Fprintf(&b, "    %-20s PSS %4d KiB  private dirty %4d KiB\n", k, pss[k], dirty[k])
		total += pss[k]
	}
	fmt.Fprintf(&b, "    %-20s PSS %4d KiB\n", "total", total)
	return b.String()
}

// anyOf returns the pid of a process of the given role, or 0.
func anyOf(s snapshot, role string) int {
	for pid, p := range s.procs {
		if p.role == role {
			return pid
		}
	}
	return 0
}

// dumpOne copies one router's and one deliverer's smaps and status into dir.
func dumpOne(s snapshot, dir string) error {
	done := map[string]bool{}
	for pid, p := range s.procs {
		if (p.role != "router" && p.role != "deliverer" && p.role != "idle") || done[p.role] {
			continue
		}
		done[p.role] = true
		for _, name := range []string{"smaps", "status", "maps"} {
			if err := os.WriteFile(filepath.Join(dir, p.role+"."+name), read(pid, name), 0o644); err != nil {
				return err
			}
		}
		fmt.Printf("%s %d, PSS by mapping:\n%s", p.role, pid, breakdown(read(pid, "smaps")))
		fmt.Printf("dumped %s %d into %s\n", p.role, pid, dir)
	}
	return nil
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func waitListening(addr string, d time.Duration) error {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return nil
		}
	}
	return fmt.Errorf("broker not listening on %s after %s", addr, d)
}

// churnAll connects n clients, conc at a time, each of which disconnects
// as soon as it is connected: the pool's workers serve several clients.
func churnAll(addr string, n, conc int) error {
	return parallel(n, conc, func(i int) error {
		c, err := dial(addr, fmt.Sprintf("churn-%d", i))
		if err != nil {
			return err
		}
		return c.Disconnect() // and closes
	})
}

// dialAll connects n clients, conc at a time, and keeps them.
func dialAll(addr string, n, conc int) ([]*rawmqtt.Conn, error) {
	conns := make([]*rawmqtt.Conn, n)
	err := parallel(n, conc, func(i int) error {
		c, err := dial(addr, fmt.Sprintf("idle-%d", i))
		conns[i] = c
		return err
	})
	return conns, err
}

// dial connects one client that sends nothing (keep-alive 60 s), with
// small buffers.
func dial(addr, clientID string) (*rawmqtt.Conn, error) {
	c, err := rawmqtt.Dial(context.Background(), addr, rawmqtt.Options{
		ClientID: clientID, KeepAlive: 60, ReadBuffer: 256, WriteBuffer: 256, Timeout: 30 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", clientID, err)
	}
	return c, nil
}

// parallel runs do(0) … do(n-1), conc at a time, and returns the first
// error.
func parallel(n, conc int, do func(i int) error) error {
	next, errs := make(chan int), make(chan error, n)
	var wg sync.WaitGroup
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := do(i); err != nil {
					errs <- err
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	close(errs)
	return <-errs
}
