package proctree

import (
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// The test binary doubles as the processes of the tree: with PROCTREE_HELPER
// set it plays one role instead of running tests.
func TestMain(m *testing.M) {
	switch os.Getenv("PROCTREE_HELPER") {
	case "":
		os.Exit(m.Run())
	case "spin": // burn the CPU time given in PROCTREE_SPIN, then exit
		d, _ := time.ParseDuration(os.Getenv("PROCTREE_SPIN"))
		spin(d)
		os.Exit(0)
	case "sleep":
		time.Sleep(time.Minute)
		os.Exit(0)
	case "parent": // run a spinning child to its end and reap it, then keep a sleeping one
		c := helper("spin", "300ms")
		if err := c.Run(); err != nil {
			os.Exit(3)
		}
		s := helper("sleep", "")
		if err := s.Start(); err != nil {
			os.Exit(4)
		}
		os.Stdout.WriteString("ready\n")
		s.Wait()
		os.Exit(0)
	}
	os.Exit(2)
}

// spin uses CPU until the process has used d of it.
func spin(d time.Duration) {
	for {
		var ru syscall.Rusage
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		if time.Duration(ru.Utime.Nano()+ru.Stime.Nano()) >= d {
			return
		}
		for i := 0; i < 1_000_000; i++ {
			_ = i * i
		}
	}
}

func helper(role, spinFor string) *exec.Cmd {
	c := exec.Command(os.Args[0], "-test.run=^$")
	c.Env = append(os.Environ(), "PROCTREE_HELPER="+role, "PROCTREE_SPIN="+spinFor)
	return c
}

func TestParseStatWithAwkwardComm(t *testing.T) {
	line := "4242 (my (odd) prog) S 17 4242 4242 0 -1 4194560 100 0 0 0 250 31 7 2 20 0 1 0 99 1000 10 18446744073709551615\n"
	p, err := parseStat([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	want := Proc{PID: 4242, PPID: 17, Comm: "my (odd) prog", State: 'S', UTime: 250, STime: 31, CUTime: 7, CSTime: 2}
	if p != want {
		t.Fatalf("parseStat = %+v, want %+v", p, want)
	}
	if p.Ticks() != 290 {
		t.Fatalf("Ticks = %d, want 290", p.Ticks())
	}
}

func TestTreeCountsReapedChildAndLiveOnes(t *testing.T) {
	parent := helper("parent", "")
	out, err := parent.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := parent.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if procs, err := Scan(); err == nil {
			for _, p := range Descendants(procs, parent.Process.Pid)[1:] {
				_ = syscall.Kill(p.PID, syscall.SIGKILL)
			}
		}
		_ = parent.Process.Kill()
		_ = parent.Wait()
	})
	// "ready" means the spinning child was reaped and the sleeper started.
	buf := make([]byte, 6)
	done := make(chan error, 1)
	go func() { _, err := out.Read(buf); done <- err }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("helper parent: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("helper parent did not get ready in 20s")
	}

	tree := New(parent.Process.Pid)
	cpu, err := tree.CPU()
	if err != nil {
		t.Fatal(err)
	}
	if cpu.Procs != 2 {
		t.Errorf("live processes = %d, want 2 (parent and sleeper)", cpu.Procs)
	}
	// The spinner used 300 ms and is gone: only the parent's cstime/cutime
	// still holds it.
	if cpu.Seconds < 0.28 || cpu.Seconds > 5 {
		t.Errorf("tree CPU = %.2fs, want about 0.3s (the reaped child's)", cpu.Seconds)
	}
	self, err := ReadStat(parent.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if self.CUTime+self.CSTime < 28 {
		t.Errorf("parent's cutime+cstime = %d ticks, want the reaped child's ~30", self.CUTime+self.CSTime)
	}

	mem, err := tree.Memory()
	if err != nil {
		t.Fatal(err)
	}
	if mem.Procs != 2 || mem.RSS < 1<<20 || mem.PSS == 0 || mem.PSS > mem.RSS {
		t.Errorf("Memory = %+v: want 2 processes, RSS over 1 MiB, 0 < PSS <= RSS", mem)
	}
}

func TestTreeCPUGrowsWithBusyChildAndNeverShrinks(t *testing.T) {
	c := helper("spin", "400ms")
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	tree := New(c.Process.Pid)
	first, err := tree.CPU()
	if err != nil {
		t.Fatal(err)
	}
	var last CPU
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		s, err := tree.CPU()
		if err != nil {
			break // exited and reaped below
		}
		if s.Seconds < last.Seconds {
			t.Fatalf("CPU went down: %.2f after %.2f", s.Seconds, last.Seconds)
		}
		last = s
		if s.Seconds >= 0.35 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = c.Wait()
	if last.Seconds < 0.35 || last.Seconds <= first.Seconds {
		t.Fatalf("busy child's CPU: first %.2fs, last %.2fs; want it to reach ~0.4s", first.Seconds, last.Seconds)
	}
	if _, err := ReadStat(c.Process.Pid); err == nil {
		t.Fatal("ReadStat of a reaped process should fail")
	}
	if _, err := New(c.Process.Pid).Memory(); err == nil {
		t.Fatal("Memory of a reaped process should fail")
	}
}

func TestDescendants(t *testing.T) {
	procs := map[int]Proc{1: {PID: 1}, 10: {PID: 10, PPID: 1}, 11: {PID: 11, PPID: 10}, 12: {PID: 12, PPID: 10}, 20: {PID: 20, PPID: 1}, 13: {PID: 13, PPID: 11}}
	var got []int
	for _, p := range Descendants(procs, 10) {
		got = append(got, p.PID)
	}
	if len(got) != 4 || got[0] != 10 {
		t.Fatalf("Descendants(10) = %v, want 10 first then 11, 12, 13", got)
	}
	if Descendants(procs, 99) != nil {
		t.Fatal("Descendants of a missing root should be nil")
	}
}
