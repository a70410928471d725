package cpuacct

import (
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// TestUsageCountsAnExitedChild runs a shell that joins a group, spins for a
// while and exits: the group's usage keeps its CPU time after it is gone.
// It needs root and the cpuacct hierarchy; elsewhere it is skipped, as the
// benchmark falls back to /proc ticks there.
func TestUsageCountsAnExitedChild(t *testing.T) {
	g, err := Open(DefaultRoot, "mqbench-test-"+strconv.Itoa(os.Getpid()))
	if err != nil {
		t.Skipf("no writable cpuacct hierarchy here: %v", err)
	}
	defer func() {
		if err := g.Remove(); err != nil {
			t.Error(err)
		}
	}()
	child, err := g.Child("run")
	if err != nil {
		t.Fatal(err)
	}
	defer child.Remove()
	if u, _ := child.Usage(); u != 0 {
		t.Fatalf("a new group has usage %v", u)
	}
	// The shell joins, then busy-loops until 200 ms of wall time have
	// passed: on a loaded machine it gets less CPU than that, but some.
	script := "echo $$ > " + child.ProcsFile() + " && end=$(($(date +%s%N) + 200000000)); while [ $(date +%s%N) -lt $end ]; do :; done"
	if out, err := exec.Command("/bin/sh", "-c", script).CombinedOutput(); err != nil {
		t.Fatalf("child: %v: %s", err, out)
	}
	u, err := child.Usage()
	if err != nil {
		t.Fatal(err)
	}
	if u < time.Millisecond || u > 10*time.Second {
		t.Fatalf("usage of a child that spun for 200 ms = %v", u)
	}
	parent, err := g.Usage()
	if err != nil || parent < u {
		t.Fatalf("parent usage %v (%v) should include the child's %v", parent, err, u)
	}
}
