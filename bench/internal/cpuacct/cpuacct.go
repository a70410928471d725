package cpuacct

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// DefaultRoot is where the cpuacct controller of cgroup v1 is mounted.
const DefaultRoot = "/sys/fs/cgroup/cpuacct"

// Group is one cgroup directory.
type Group struct {
	Dir string
}

// Open creates the group name under the hierarchy mounted at root (a
// directory of its own for this benchmark, removed by Remove) and checks
// that its usage can be read.
func Open(root, name string) (*Group, error) {
	if _, err := os.Stat(filepath.Join(root, "cpuacct.usage")); err != nil {
		return nil, fmt.Errorf("cpuacct: no cgroup v1 cpuacct hierarchy at %s: %w", root, err)
	}
	return create(filepath.Join(root, name))
}

// Child creates a group below g.
func (g *Group) Child(name string) (*Group, error) {
	return create(filepath.Join(g.Dir, name))
}

func create(dir string) (*Group, error) {
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("cpuacct: create %s: %w", dir, err)
	}
	g := &Group{Dir: dir}
	if _, err := g.Usage(); err != nil {
		os.Remove(dir)
		return nil, err
	}
	return g, nil
}

// ProcsFile is the file a process writes its pid into to join the group:
// a shell joins with `echo $$ > FILE` before it execs the program to be
// measured.
func (g *Group) ProcsFile() string { return filepath.Join(g.Dir, "cgroup.procs") }

// Join moves the process pid (all its threads) into the group; its future
// children start there too.
func (g *Group) Join(pid int) error {
	if err := os.WriteFile(g.ProcsFile(), []byte(strconv.Itoa(pid)), 0); err != nil {
		return fmt.Errorf("cpuacct: move %d into %s: %w", pid, g.Dir, err)
	}
	return nil
}

// Current returns the group of the hierarchy mounted at root that this
// process is in now (from /proc/self/cgroup), to go back to.
func Current(root string) (*Group, error) {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil, fmt.Errorf("cpuacct: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		// hierarchy-ID:controller-list:path
		f := strings.SplitN(line, ":", 3)
		if len(f) == 3 && slicesContains(strings.Split(f[1], ","), "cpuacct") {
			return &Group{Dir: filepath.Join(root, f[2])}, nil
		}
	}
	return nil, errors.New("cpuacct: this process is in no cpuacct cgroup")
}

func slicesContains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Usage returns the CPU time of every task that ran in the group (and in
// groups below it) since the group was created.
func (g *Group) Usage() (time.Duration, error) {
	b, err := os.ReadFile(filepath.Join(g.Dir, "cpuacct.usage"))
	if err != nil {
		return 0, fmt.Errorf("cpuacct: read usage of %s: %w", g.Dir, err)
	}
	ns, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("cpuacct: usage of %s: %w", g.Dir, err)
	}
	return time.Duration(ns), nil
}

// Seconds is Usage in seconds, the unit the benchmark reports.
func (g *Group) Seconds() (float64, error) {
	d, err := g.Usage()
	return d.Seconds(), err
}

// Remove deletes the group once its processes are gone. A process killed
// a moment ago may still be leaving it, so Remove retries for up to a
// second; it never moves a process out of the group.
func (g *Group) Remove() error {
	var err error
	for deadline := time.Now().Add(time.Second); ; {
		if err = os.Remove(g.Dir); err == nil || errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cpuacct: remove %s: %w", g.Dir, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
