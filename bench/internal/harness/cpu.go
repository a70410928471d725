package harness

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/forkmq/forkmq/bench/internal/cpuacct"
)

// groups are the cpuacct cgroups of one benchmark: bench, which this
// process joins for the benchmark's length (so that everything it starts
// is in it), and one group below it per broker run.
type groups struct {
	bench, home *cpuacct.Group
}

// joinGroup creates the benchmark's group and moves this process into it,
// after removing the empty groups of earlier benchmarks that were killed
// before they could remove their own.
func joinGroup() (*groups, error) {
	home, err := cpuacct.Current(cpuacct.DefaultRoot)
	if err != nil {
		return nil, err
	}
	removeStale(cpuacct.DefaultRoot)
	bench, err := cpuacct.Open(cpuacct.DefaultRoot, "mqbench-"+strconv.Itoa(os.Getpid()))
	if err != nil {
		return nil, err
	}
	if err := bench.Join(os.Getpid()); err != nil {
		bench.Remove()
		return nil, err
	}
	return &groups{bench: bench, home: home}, nil
}

// removeStale removes mqbench-<pid> groups (and the run groups below them)
// whose mqbench no longer runs. A group with a process left in it cannot
// be removed and stays.
func removeStale(root string) {
	dirs, _ := filepath.Glob(filepath.Join(root, "mqbench-*"))
	for _, dir := range dirs {
		pid, err := strconv.Atoi(strings.TrimPrefix(filepath.Base(dir), "mqbench-"))
		if err != nil {
			continue // not one of ours (the cpuacct tests name theirs mqbench-test-<pid>)
		}
		if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err == nil {
			continue // that benchmark still runs
		}
		runs, _ := filepath.Glob(filepath.Join(dir, "run-*"))
		for _, r := range runs {
			_ = os.Remove(r)
		}
		_ = os.Remove(dir)
	}
}

// leave moves this process back where it was and removes the group.
func (g *groups) leave() {
	_ = g.home.Join(os.Getpid())
	_ = g.bench.Remove()
}

// selfCPUAll returns the CPU seconds of this process and of its children
// that it has waited for.
func selfCPUAll() float64 {
	var total float64
	for _, who := range []int{syscall.RUSAGE_SELF, syscall.RUSAGE_CHILDREN} {
		var ru syscall.Rusage
		if syscall.Getrusage(who, &ru) == nil {
			total += float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
		}
	}
	return total
}
