//go:build linux

package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
)

// A threadStat is what /proc says of one thread: CPU time (first field of
// schedstat, nanoseconds on the CPU) and context switches.
type threadStat struct {
	cpuNS, voluntary, involuntary uint64

	// lost, in a difference of two samples, counts the threads of the
	// first that are gone by the second: what they did in between is
	// missing from the other fields.
	lost int
}

// A sample is every thread of a process tree at one moment, by thread id.
type sample struct {
	threads map[int]threadStat
	owner   map[int]int // thread id → process id
	procs   int
}

// sampleTree reads every thread of root and its descendants. It reads
// /proc/PID/task/TID/schedstat, not the utime and stime of /proc/PID/stat:
// those are clock ticks (10 ms), and at the seed's load a worker uses a
// few milliseconds in a measured window, so each process's figure would be
// rounded away.
func sampleTree(root int) sample { return sampleProcs(descendants(root)) }

// sampleProcs reads every thread of the processes pids.
func sampleProcs(pids []int) sample {
	s := sample{threads: map[int]threadStat{}, owner: map[int]int{}}
	for _, pid := range pids {
		tasks, _ := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/task/*")
		if len(tasks) > 0 {
			s.procs++
		}
		for _, dir := range tasks {
			tid, err := strconv.Atoi(filepath.Base(dir))
			if err != nil {
				continue
			}
			b, err := os.ReadFile(dir + "/schedstat")
			if err != nil {
				continue // the thread is gone
			}
			var t threadStat
			if f := bytes.Fields(b); len(f) > 0 {
				t.cpuNS, _ = strconv.ParseUint(string(f[0]), 10, 64)
			}
			if b, err = os.ReadFile(dir + "/status"); err != nil {
				continue
			}
			for _, line := range bytes.Split(b, []byte("\n")) {
				k, v, _ := bytes.Cut(line, []byte(":"))
				n, _ := strconv.ParseUint(string(bytes.TrimSpace(v)), 10, 64)
				switch string(k) {
				case "voluntary_ctxt_switches":
					t.voluntary = n
				case "nonvoluntary_ctxt_switches":
					t.involuntary = n
				}
			}
			s.threads[tid], s.owner[tid] = t, pid
		}
	}
	return s
}

// since is what the tree's threads did between before and s: a thread new
// since before counts whole (it was born in the window), a thread gone
// since is lost (Go's threads live as long as their process).
func (s sample) since(before sample) threadStat { return s.sinceOf(before, -1) }

// sinceOf is since for the threads of process pid alone (-1: all).
func (s sample) sinceOf(before sample, pid int) threadStat {
	var d threadStat
	for tid, t := range s.threads {
		if pid >= 0 && s.owner[tid] != pid {
			continue
		}
		b := before.threads[tid]
		d.cpuNS += t.cpuNS - min(b.cpuNS, t.cpuNS)
		d.voluntary += t.voluntary - min(b.voluntary, t.voluntary)
		d.involuntary += t.involuntary - min(b.involuntary, t.involuntary)
	}
	for tid := range before.threads {
		if _, ok := s.threads[tid]; !ok && (pid < 0 || before.owner[tid] == pid) {
			d.lost++
		}
	}
	return d
}

// descendants returns root and every process below it, from the parent
// field of every /proc/PID/stat.
func descendants(root int) []int {
	entries, _ := os.ReadDir("/proc")
	children := map[int][]int{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// "pid (comm) state ppid …": comm may hold anything, so count from the last ')'.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := bytes.Fields(b[i+1:])
		if len(f) < 2 {
			continue
		}
		if ppid, err := strconv.Atoi(string(f[1])); err == nil {
			children[ppid] = append(children[ppid], pid)
		}
	}
	out := []int{root}
	for k := 0; k < len(out); k++ {
		out = append(out, children[out[k]]...)
	}
	return out
}

// cpuTimes is one CPU's line of /proc/stat, in clock ticks: the time it
// was busy (user, nice, system, irq, softirq) and the time the hypervisor
// gave it to someone else (steal).
type cpuTimes struct {
	busy, steal uint64
}

// readCPU reads the line of CPU cpu from /proc/stat; ok is false when
// there is none.
func readCPU(cpu int) (t cpuTimes, ok bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return t, false
	}
	prefix := []byte("cpu" + strconv.Itoa(cpu) + " ")
	for _, line := range bytes.Split(b, []byte("\n")) {
		if !bytes.HasPrefix(line, prefix) {
			continue
		}
		f := bytes.Fields(line[len(prefix):])
		if len(f) < 8 {
			return t, false
		}
		var v [8]uint64
		for i := range v {
			v[i], _ = strconv.ParseUint(string(f[i]), 10, 64)
		}
		// user nice system idle iowait irq softirq steal
		return cpuTimes{busy: v[0] + v[1] + v[2] + v[5] + v[6], steal: v[7]}, true
	}
	return t, false
}
