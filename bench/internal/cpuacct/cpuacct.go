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
