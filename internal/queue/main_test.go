//go:build linux

package queue

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The test binary doubles as a helper process: TestMain runs the helper named
// by helperEnv instead of the tests when that variable is set.
const helperEnv = "FORKMQ_QUEUE_TEST_HELPER"

// testPrefix starts the name of every queue the tests create in the shared
// IPC namespace, so that parallel test processes never collide and TestMain
// can prove that none is left behind.
var testPrefix = "fmqtest." + strconv.Itoa(os.Getpid()) + "."

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		if err := runHelper(mode); err != nil {
			fmt.Fprintf(os.Stderr, "helper %s: %v\n", mode, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	code := m.Run()
	if leaked, err := leakedQueues(); err != nil {
		fmt.Fprintf(os.Stderr, "queue leak check skipped: %v\n", err)
	} else if len(leaked) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: tests left queues behind: %v\n", leaked)
		for _, name := range leaked {
			Unlink(name)
		}
		code = 1
	}
	os.Exit(code)
}

// leakedQueues lists the queues named with testPrefix through a temporary
// mount of the mqueue filesystem.
func leakedQueues() ([]string, error) {
	dir, err := os.MkdirTemp("", "fmqtest-mnt-")
	if err != nil {
		return nil, err
	}
	defer os.Remove(dir)
	if err := Mount(dir); err != nil {
		return nil, err
	}
	defer Unmount(dir)
	return List(dir, testPrefix)
}

// queueName returns a name unique to this process and test, and unlinks any
// queue of that name when the test ends.
func queueName(t testing.TB, suffix string) string {
	t.Helper()
	name := testPrefix + strings.NewReplacer("/", "_", " ", "_").Replace(t.Name()) + "." + suffix
	if len(name) > maxNameLen {
		name = name[len(name)-maxNameLen:]
	}
	t.Cleanup(func() {
		if err := Unlink(name); err != nil && !errors.Is(err, ErrNotExist) {
			t.Errorf("cleanup: %v", err)
		}
	})
	return name
}

// small are the attributes of most test queues: they cost 4*(128+96) = 896
// bytes of the RLIMIT_MSGQUEUE that every test on the machine shares.
var small = Attr{MaxMsg: 4, MsgSize: 128}

// newQueue creates a queue for the test and closes and unlinks it at the end.
func createQueue(t testing.TB, suffix string, a Attr) *Queue {
	t.Helper()
	name := queueName(t, suffix)
	q, err := Create(name, a)
	if err != nil {
		t.Fatalf("Create(%q, %+v): %v", name, a, err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

// helperCmd returns a command running this test binary as helper mode.
func helperCmd(t testing.TB, mode string, env ...string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(append(os.Environ(), helperEnv+"="+mode), env...)
	cmd.Stderr = os.Stderr
	return cmd
}

// runHelperJSON runs a helper in a new IPC namespace, so that whatever queues
// it makes vanish with it, and decodes the JSON it prints into out.
func runHelperJSON(t testing.TB, mode string, out any, env ...string) {
	t.Helper()
	cmd := helperCmd(t, mode, env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWIPC}
	b, err := cmd.Output()
	if err != nil {
		if errors.Is(err, unix.EPERM) {
			t.Skipf("cannot start a helper in a new IPC namespace: %v", err)
		}
		t.Fatalf("helper %s: %v", mode, err)
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("helper %s printed %q: %v", mode, b, err)
	}
}

func runHelper(mode string) error {
	switch mode {
	case "send", "send-fd":
		return helperSend(mode)
	case "budget":
		return helperBudget()
	case "nofile":
		return helperNoFile()
	case "queuesmax":
		return helperQueuesMax()
	}
	return fmt.Errorf("unknown helper mode")
}

// helperSend sends one message to the queue named by QUEUE, opened by name or
// inherited as descriptor 3, after a delay, to wake a waiting parent.
func helperSend(mode string) error {
	name := os.Getenv("QUEUE")
	var q *Queue
	var err error
	if mode == "send-fd" {
		q, err = FromFile(os.NewFile(3, "inherited"), name)
	} else {
		q, err = OpenWriter(name)
	}
	if err != nil {
		return err
	}
	defer q.Close()
	time.Sleep(100 * time.Millisecond)
	return q.Send([]byte("from "+mode), 7, time.Now().Add(10*time.Second))
}

// limitOf names the limit err reports, or says what else it is.
func limitOf(err error) string {
	var le *LimitError
	switch {
	case err == nil:
		return "no error"
	case errors.As(err, &le) && errors.Is(err, ErrLimit):
		return le.Limit
	}
	return "not a limit: " + err.Error()
}

// budgetReport is what the budget helper finds.
type budgetReport struct {
	Limits    Limits
	Plan      Attr
	Cost      uint64
	Predicted uint64 // queues of Plan's attributes that fit an empty budget
	Created   uint64 // queues created before the kernel refused one
	Refusal   string // the limit the refusal named
	Message   string // the refusal's text
	Exact     Attr   // a last queue costing exactly what was left
	OneMore   string // the limit named for Exact with one more byte per message
	ExactOK   bool
	AfterFull string // the limit named for the cheapest queue once full
}

// helperBudget runs under a user id of its own, whose RLIMIT_MSGQUEUE nobody
// else draws on: it fills the budget with queues planned for PLAN_QUEUES and
// checks to the byte where the kernel stops it.
func helperBudget() error {
	uid, _ := strconv.Atoi(os.Getenv("UID_FOR_BUDGET"))
	if err := syscall.Setgid(uid); err != nil {
		return fmt.Errorf("setgid: %w", err)
	}
	if err := syscall.Setuid(uid); err != nil {
		return fmt.Errorf("setuid: %w", err)
	}
	l, err := ReadLimits()
	if err != nil {
		return err
	}
	n, _ := strconv.Atoi(os.Getenv("PLAN_QUEUES"))
	a, err := Plan(l, n, 256)
	if err != nil {
		return err
	}
	r := budgetReport{Limits: l, Plan: a, Cost: Cost(a), Predicted: l.Budget / Cost(a)}
	var names []string
	defer func() {
		for _, name := range names {
			Unlink(name)
		}
	}()
	create := func(a Attr) error {
		name := fmt.Sprintf("fmqbudget.%d", len(names))
		q, err := Create(name, a)
		if err == nil {
			names = append(names, name)
			q.Close()
		}
		return err
	}
	for r.Created <= r.Predicted+2 {
		if err := create(a); err != nil {
			r.Refusal, r.Message = limitOf(err), err.Error()
			break
		}
		r.Created++
	}
	// Spend what is left on queues until one fits exactly, checking first
	// that one more byte per message does not.
	left := l.Budget - r.Created*r.Cost
	for left > 0 {
		if m, s, ok := exactFit(l, left); ok {
			r.Exact = Attr{MaxMsg: m, MsgSize: s}
			if s < l.MsgSizeMax {
				r.OneMore = limitOf(create(Attr{MaxMsg: m, MsgSize: s + 1}))
			}
			r.ExactOK = create(r.Exact) == nil
			left = 0
			break
		}
		filler := Attr{MaxMsg: 1, MsgSize: min(l.MsgSizeMax, int64(left)-200)}
		if filler.MsgSize < 1 || create(filler) != nil {
			break
		}
		left -= Cost(filler)
	}
	r.AfterFull = limitOf(create(Attr{MaxMsg: 1, MsgSize: 1}))
	return json.NewEncoder(os.Stdout).Encode(r)
}

// exactFit finds attributes, with as many messages as possible, whose cost
// is exactly left.
func exactFit(l Limits, left uint64) (int64, int64, bool) {
	for m := l.MsgMax; m >= 1; m-- {
		over := Cost(Attr{MaxMsg: m, MsgSize: 1}) - uint64(m)
		if left <= over || (left-over)%uint64(m) != 0 {
			continue
		}
		if s := int64((left - over) / uint64(m)); s <= l.MsgSizeMax {
			return m, s, true
		}
	}
	return 0, 0, false
}

type noFileReport struct {
	Opened int
	Open   string // the limit named when opening failed
	Create string // the limit named when creating failed for want of descriptors
}

// helperNoFile lowers RLIMIT_NOFILE and opens a queue until it runs out.
func helperNoFile() error {
	q, err := Create("fmqnofile", small)
	if err != nil {
		return err
	}
	defer Unlink("fmqnofile")
	defer q.Close()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return err
	}
	rl := unix.Rlimit{Cur: uint64(len(entries) + 8), Max: uint64(len(entries) + 8)}
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return err
	}
	var r noFileReport
	var open []*Queue
	for ; r.Opened < 100; r.Opened++ {
		rq, err := OpenReader("fmqnofile")
		if err != nil {
			r.Open = limitOf(err)
			break
		}
		open = append(open, rq)
	}
	_, err = Create("fmqnofile2", small)
	r.Create = limitOf(err)
	if err == nil {
		Unlink("fmqnofile2")
	}
	for _, rq := range open {
		rq.Close()
	}
	return json.NewEncoder(os.Stdout).Encode(r)
}

// helperQueuesMax lowers fs.mqueue.queues_max in its own IPC namespace and
// creates queues until refused.
func helperQueuesMax() error {
	if err := os.WriteFile(procMqueue+"queues_max", []byte("2"), 0); err != nil {
		return err
	}
	var r struct {
		Created int
		Refusal string
	}
	for ; r.Created < 5; r.Created++ {
		name := fmt.Sprintf("fmqqmax.%d", r.Created)
		q, err := Create(name, small)
		if err != nil {
			r.Refusal = limitOf(err)
			break
		}
		defer Unlink(name)
		q.Close()
	}
	return json.NewEncoder(os.Stdout).Encode(r)
}
