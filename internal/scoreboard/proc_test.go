package scoreboard

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// The test binary doubles as a worker process: TestMain runs the helper
// named in SCOREBOARD_HELPER instead of the tests.
const (
	envHelper = "SCOREBOARD_HELPER"
	envPath   = "SCOREBOARD_PATH"
	envRef    = "SCOREBOARD_REF"
	envCount  = "SCOREBOARD_COUNT"
)

func TestMain(m *testing.M) {
	mode := os.Getenv(envHelper)
	if mode == "" {
		os.Exit(m.Run())
	}
	if err := runHelper(mode); err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func runHelper(mode string) error {
	ref, err := ParseRef(os.Getenv(envRef))
	if err != nil {
		return err
	}
	w, err := Attach(os.Getenv(envPath), ref)
	if err != nil {
		return err
	}
	defer w.Close()
	switch mode {
	case "count":
		n, _ := strconv.Atoi(os.Getenv(envCount))
		w.SetClient("client-"+strconv.Itoa(ref.Index), "127.0.0.1:"+strconv.Itoa(40000+ref.Index))
		w.SetState(StateConnected)
		for i := 0; i < n; i++ {
			w.Inc(MessagesSent)
			w.Add(BytesSent, 10)
			w.Observe(DeliveryLatency, time.Duration(i%1000)*time.Microsecond)
		}
		return nil
	case "die-mid-identity":
		w.Add(BytesSent, 100)
		w.s.idseq.Add(1) // SetClient's first step, and no second: killed here
		fmt.Println("ready")
		time.Sleep(time.Hour)
	}
	return fmt.Errorf("unknown helper %q", mode)
}

func helper(t testing.TB, mode, path string, ref Ref, count int) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envHelper+"="+mode, envPath+"="+path, envRef+"="+ref.String(), envCount+"="+strconv.Itoa(count))
	cmd.Stderr = os.Stderr
	return cmd
}

// TestProcessesCount: worker processes count into their own slots of one
// file at the same time; a reader in another process sees every count,
// totals never go backwards while they count, and stay after the slots
// are released.
func TestProcessesCount(t *testing.T) {
	const (
		procs = 6
		each  = 200_000
	)
	path := filepath.Join(t.TempDir(), "scoreboard")
	b, err := Create(path, procs)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	refs := make([]Ref, procs)
	cmds := make([]*exec.Cmd, procs)
	for i := range refs {
		if refs[i], err = b.Allocate(Identity{Role: RoleDeliverer, Queue: "forkmq.t." + strconv.Itoa(i)}); err != nil {
			t.Fatal(err)
		}
		cmds[i] = helper(t, "count", path, refs[i], each)
		if err := cmds[i].Start(); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan error, procs)
	for _, c := range cmds {
		go func() { done <- c.Wait() }()
	}
	var last uint64
	for finished := 0; finished < procs; {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			finished++
		default:
			got := b.Read().Total.Counters[MessagesSent]
			if got < last {
				t.Fatalf("total went from %d back to %d", last, got)
			}
			last = got
		}
	}
	r := b.Read()
	wantTotal(t, r, MessagesSent, procs*each)
	wantTotal(t, r, BytesSent, procs*each*10)
	if h := r.Histograms[DeliveryLatency]; h.Count != procs*each {
		t.Errorf("delivery latency observations = %d, want %d", h.Count, procs*each)
	}
	if len(r.Slots) != procs {
		t.Fatalf("slots = %d, want %d", len(r.Slots), procs)
	}
	for i, s := range r.Slots {
		if s.PID != cmds[i].Process.Pid || s.ClientID != "client-"+strconv.Itoa(s.Index) || s.State != StateConnected || s.Counters[MessagesSent] != each {
			t.Errorf("slot %d = %+v (pid %d), counters %v", i, s.Identity, cmds[i].Process.Pid, s.Counters)
		}
	}
	for _, ref := range refs {
		if err := b.Release(ref); err != nil {
			t.Fatal(err)
		}
	}
	r = b.Read()
	if len(r.Slots) != 0 {
		t.Errorf("released slots still listed: %+v", r.Slots)
	}
	wantTotal(t, r, MessagesSent, procs*each)
}

// TestWriterKilledMidIdentity: a worker killed while changing its identity
// leaves its counters counted and its identity reported unstable, until the
// supervisor releases the slot.
func TestWriterKilledMidIdentity(t *testing.T) {
	path := filepath.Join(t.TempDir(), "scoreboard")
	b, err := Create(path, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ref, _ := b.Allocate(Identity{Role: RoleRouter, Queue: "forkmq.t.1"})
	cmd := helper(t, "die-mid-identity", path, ref, 0)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "ready\n" {
		t.Fatalf("helper said %q, %v", line, err)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()

	r := b.Read()
	if len(r.Slots) != 1 {
		t.Fatalf("slots = %+v", r.Slots)
	}
	s := r.Slots[0]
	if !s.Unstable || s.Queue != "" || s.Role != RoleRouter || s.PID != cmd.Process.Pid {
		t.Errorf("slot = %+v unstable=%v, want an unstable identity with role and pid", s.Identity, s.Unstable)
	}
	if s.Counters[BytesSent] != 100 {
		t.Errorf("the dead writer's counters = %v, want bytes_sent 100", s.Counters)
	}
	if err := b.Release(ref); err != nil {
		t.Fatal(err)
	}
	next, _ := b.Allocate(Identity{Role: RoleRouter, Queue: "forkmq.t.2"})
	r = b.Read()
	if len(r.Slots) != 1 || r.Slots[0].Unstable || r.Slots[0].Queue != "forkmq.t.2" || r.Slots[0].Index != next.Index {
		t.Errorf("the released slot, given again, must read clean: %+v", r.Slots)
	}
	wantTotal(t, r, BytesSent, 100)
}
