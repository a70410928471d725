//go:build linux

package queue

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// soon is a deadline far enough away that only a bug reaches it.
func soon() time.Time { return time.Now().Add(10 * time.Second) }

func TestRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		msg  []byte
		prio uint32
	}{
		{"empty", []byte{}, 0},
		{"one byte", []byte{42}, 1},
		{"full size", bytes.Repeat([]byte("x"), int(small.MsgSize)), 32767},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := createQueue(t, "rt", small)
			if err := q.Send(tc.msg, tc.prio, soon()); err != nil {
				t.Fatalf("Send: %v", err)
			}
			a, err := q.Attr()
			if err != nil {
				t.Fatalf("Attr: %v", err)
			}
			if want := (Attr{MaxMsg: small.MaxMsg, MsgSize: small.MsgSize, CurMsgs: 1}); a != want {
				t.Errorf("Attr = %+v, want %+v", a, want)
			}
			buf := make([]byte, small.MsgSize)
			n, prio, err := q.Receive(buf, soon())
			if err != nil {
				t.Fatalf("Receive: %v", err)
			}
			if !bytes.Equal(buf[:n], tc.msg) || prio != tc.prio {
				t.Errorf("Receive = %q prio %d, want %q prio %d", buf[:n], prio, tc.msg, tc.prio)
			}
			if err := q.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			if err := Unlink(q.Name()); err != nil {
				t.Errorf("Unlink: %v", err)
			}
			if err := Unlink(q.Name()); !errors.Is(err, ErrNotExist) || !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("second Unlink = %v, want ErrNotExist", err)
			}
		})
	}
}

func TestReaderAndWriter(t *testing.T) {
	q := createQueue(t, "rw", small)
	w, err := OpenWriter(q.Name())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	r, err := OpenReader(q.Name())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := w.Send([]byte("hello"), 3, time.Time{}); err != nil {
		t.Fatalf("Send: %v", err)
	}
	buf := make([]byte, small.MsgSize)
	n, prio, err := r.Receive(buf, time.Time{})
	if err != nil || string(buf[:n]) != "hello" || prio != 3 {
		t.Fatalf("Receive = %q, %d, %v", buf[:n], prio, err)
	}
	if _, _, err := w.Receive(buf, time.Now()); err == nil || errors.Is(err, ErrClosed) {
		t.Errorf("Receive on a writer = %v, want a descriptor error", err)
	}
}

func TestPriorityOrder(t *testing.T) {
	q := createQueue(t, "prio", Attr{MaxMsg: 8, MsgSize: 16})
	sent := []struct {
		msg  string
		prio uint32
	}{{"a", 1}, {"b", 5}, {"c", 1}, {"d", 5}, {"e", 0}, {"f", 9}}
	for _, s := range sent {
		if err := q.Send([]byte(s.msg), s.prio, time.Now()); err != nil {
			t.Fatalf("Send(%s): %v", s.msg, err)
		}
	}
	var got []string
	buf := make([]byte, 16)
	for range sent {
		n, prio, err := q.Receive(buf, time.Now())
		if err != nil {
			t.Fatalf("Receive: %v", err)
		}
		got = append(got, string(buf[:n])+strconv.Itoa(int(prio)))
	}
	// Highest priority first; first in, first out within one priority.
	if want := "f9 b5 d5 a1 c1 e0"; strings.Join(got, " ") != want {
		t.Errorf("received %v, want %s", got, want)
	}
}

func TestWouldBlock(t *testing.T) {
	for _, tc := range []struct {
		name     string
		full     bool // fill the queue and Send, or leave it empty and Receive
		writer   bool // Send through a writer (OpenWriter), which waits in the kernel
		deadline time.Duration
		want     error
	}{
		{"send past deadline", true, false, -time.Second, ErrFull},
		{"send deadline now", true, false, 0, ErrFull},
		{"send short deadline", true, false, 50 * time.Millisecond, ErrTimeout},
		{"writer send past deadline", true, true, -time.Second, ErrFull},
		{"writer send deadline now", true, true, 0, ErrFull},
		{"writer send short deadline", true, true, 50 * time.Millisecond, ErrTimeout},
		{"receive past deadline", false, false, -time.Second, ErrEmpty},
		{"receive short deadline", false, false, 50 * time.Millisecond, ErrTimeout},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := createQueue(t, "wb", small)
			if tc.writer {
				w, err := OpenWriter(q.Name())
				if err != nil {
					t.Fatal(err)
				}
				defer w.Close()
				q = w
			}
			if tc.full {
				for i := range small.MaxMsg {
					if err := q.Send([]byte{byte(i)}, 0, time.Time{}); err != nil {
						t.Fatalf("filling: %v", err)
					}
				}
			}
			start := time.Now()
			var err error
			if tc.full {
				err = q.Send([]byte("more"), 0, start.Add(tc.deadline))
			} else {
				_, _, err = q.Receive(make([]byte, small.MsgSize), start.Add(tc.deadline))
			}
			elapsed := time.Since(start)
			if err != tc.want {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if tc.deadline > 0 && elapsed < tc.deadline {
				t.Errorf("gave up after %v, before the deadline %v", elapsed, tc.deadline)
			}
			if tc.deadline <= 0 && elapsed > time.Second {
				t.Errorf("waited %v with a deadline already past", elapsed)
			}
		})
	}
	if !errors.Is(ErrTimeout, os.ErrDeadlineExceeded) {
		t.Error("ErrTimeout does not match os.ErrDeadlineExceeded")
	}
}

// TestWritersTakeTurns: senders waiting on a full queue are handed the free
// places in the order they started waiting, one place each — none is woken
// only to find the place taken, none starves.
func TestWritersTakeTurns(t *testing.T) {
	q := createQueue(t, "turns", Attr{MaxMsg: 1, MsgSize: 8})
	if err := q.Send([]byte("first"), 0, time.Time{}); err != nil {
		t.Fatal(err)
	}
	const senders = 5
	done := make(chan error, senders)
	for i := range senders {
		w, err := OpenWriter(q.Name())
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		go func() { done <- w.Send([]byte{'0' + byte(i)}, 0, soon()) }()
		// Let this sender start waiting before the next one comes.
		waitUntil(t, func() bool { return blockedSenders(t) == i+1 })
	}
	buf := make([]byte, 8)
	var got []byte
	for range senders + 1 {
		n, _, err := q.Receive(buf, soon())
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, buf[:n][0])
	}
	for range senders {
		if err := <-done; err != nil {
			t.Errorf("a waiting sender failed: %v", err)
		}
	}
	if want := "f01234"; string(got) != want {
		t.Errorf("received %q, want %q: the waiting senders in the order they came", got, want)
	}
}

// TestExists tells a linked queue from an unlinked one.
func TestExists(t *testing.T) {
	q := createQueue(t, "exists", small)
	if !Exists(q.Name()) {
		t.Fatalf("Exists(%s) = false for a queue just made", q.Name())
	}
	if err := Unlink(q.Name()); err != nil {
		t.Fatal(err)
	}
	if Exists(q.Name()) {
		t.Errorf("Exists(%s) = true after Unlink", q.Name())
	}
}

func TestWokenByGoroutine(t *testing.T) {
	t.Run("receive", func(t *testing.T) {
		q := createQueue(t, "wake", small)
		go func() {
			time.Sleep(50 * time.Millisecond)
			q.Send([]byte("late"), 0, soon())
		}()
		buf := make([]byte, small.MsgSize)
		n, _, err := q.Receive(buf, soon())
		if err != nil || string(buf[:n]) != "late" {
			t.Fatalf("Receive = %q, %v", buf[:n], err)
		}
	})
	t.Run("send", func(t *testing.T) {
		q := createQueue(t, "wake", small)
		for range small.MaxMsg {
			q.Send(nil, 0, time.Now())
		}
		go func() {
			time.Sleep(50 * time.Millisecond)
			q.Receive(make([]byte, small.MsgSize), soon())
		}()
		if err := q.Send([]byte("fits"), 0, soon()); err != nil {
			t.Fatalf("Send to a queue drained later: %v", err)
		}
	})
}

func TestWokenByProcess(t *testing.T) {
	for _, mode := range []string{"send", "send-fd"} {
		t.Run(mode, func(t *testing.T) {
			q := createQueue(t, "proc", small)
			cmd := helperCmd(t, mode, "QUEUE="+q.Name())
			if mode == "send-fd" {
				cmd.ExtraFiles = []*os.File{q.File()}
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
			start := time.Now()
			buf := make([]byte, small.MsgSize)
			n, prio, err := q.Receive(buf, soon())
			if err != nil {
				t.Fatalf("Receive: %v", err)
			}
			if got, want := string(buf[:n]), "from "+mode; got != want || prio != 7 {
				t.Errorf("Receive = %q prio %d, want %q prio 7", got, prio, want)
			}
			if elapsed := time.Since(start); elapsed < 50*time.Millisecond {
				t.Errorf("Receive returned after %v, before the helper sent", elapsed)
			}
			if err := cmd.Wait(); err != nil {
				t.Errorf("helper: %v", err)
			}
			// Passing the File to a child must leave the Queue usable here.
			if _, _, err := q.Receive(buf, time.Now().Add(20*time.Millisecond)); err != ErrTimeout {
				t.Errorf("Receive after the helper = %v, want ErrTimeout", err)
			}
		})
	}
}

// TestEpoll checks what the runtime poller relies on: a queue descriptor
// reports readiness through epoll.
func TestEpoll(t *testing.T) {
	q := createQueue(t, "epoll", Attr{MaxMsg: 1, MsgSize: 8})
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(ep)
	fd := q.Fd()
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLOUT, Fd: int32(fd)}
	if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		t.Fatalf("epoll_ctl on a queue: %v", err)
	}
	ready := func() uint32 {
		events := make([]unix.EpollEvent, 1)
		n, err := unix.EpollWait(ep, events, 0)
		if err != nil || n != 1 {
			t.Fatalf("epoll_wait = %d, %v", n, err)
		}
		return events[0].Events & (unix.EPOLLIN | unix.EPOLLOUT)
	}
	if got := ready(); got != unix.EPOLLOUT {
		t.Errorf("empty queue: events %#x, want EPOLLOUT", got)
	}
	q.Send([]byte("x"), 0, time.Now())
	if got := ready(); got != unix.EPOLLIN {
		t.Errorf("full queue: events %#x, want EPOLLIN", got)
	}
}

func threads(t testing.TB) int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "Threads:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	t.Fatal("no Threads line in /proc/self/status")
	return 0
}

// TestWaitersDoNotPinThreads parks many receivers, each on its own
// descriptor, and checks that they wait in the poller, not in threads.
func TestWaitersDoNotPinThreads(t *testing.T) {
	const waiters = 200
	q := createQueue(t, "threads", small)
	before := threads(t)
	var wg sync.WaitGroup
	errs := make(chan error, waiters)
	for range waiters {
		r, err := OpenReader(q.Name())
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		wg.Go(func() {
			buf := make([]byte, small.MsgSize)
			if _, _, err := r.Receive(buf, soon()); err != nil {
				errs <- err
			}
		})
	}
	time.Sleep(300 * time.Millisecond) // let them all park
	during := threads(t)
	t.Logf("threads: %d before, %d with %d receivers waiting", before, during, waiters)
	if during > before+16 {
		t.Errorf("%d waiting receivers took %d threads", waiters, during-before)
	}
	for i := range waiters {
		if err := q.Send([]byte(strconv.Itoa(i)), 0, soon()); err != nil {
			t.Fatalf("Send %d: %v", i, err)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("waiting receiver: %v", err)
	}
}

func TestCloseWakesWaiter(t *testing.T) {
	q := createQueue(t, "close", small)
	done := make(chan error, 1)
	go func() {
		_, _, err := q.Receive(make([]byte, small.MsgSize), soon())
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	q.Close()
	select {
	case err := <-done:
		if err != ErrClosed || !errors.Is(err, fs.ErrClosed) {
			t.Errorf("Receive = %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not wake the waiting Receive")
	}
	if err := q.Send(nil, 0, time.Time{}); err != ErrClosed {
		t.Errorf("Send after Close = %v, want ErrClosed", err)
	}
	if err := q.Close(); !errors.Is(err, ErrClosed) {
		t.Errorf("second Close = %v, want ErrClosed", err)
	}
}

// Make creates a queue with the asked attributes and keeps no descriptor:
// a writer and a reader opened afterwards pass a message through it.
func TestMakeOpensNothing(t *testing.T) {
	name := queueName(t, "make")
	if err := Make(name, small, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { Unlink(name) })
	r, err := OpenReader(name)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if a, err := r.Attr(); err != nil || a.MaxMsg != small.MaxMsg || a.MsgSize != small.MsgSize {
		t.Fatalf("attributes %+v, %v; want %+v", a, err, small)
	}
	w, err := OpenWriter(name)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.Send([]byte("m"), 0, soon()); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, small.MsgSize)
	if n, _, err := r.Receive(buf, soon()); err != nil || string(buf[:n]) != "m" {
		t.Fatalf("received %q, %v", buf[:n], err)
	}
}

func TestErrors(t *testing.T) {
	l, err := ReadLimits()
	if err != nil {
		t.Fatal(err)
	}
	existing := createQueue(t, "exists", small)
	buf := make([]byte, small.MsgSize)
	for _, tc := range []struct {
		name  string
		run   func() error
		want  error
		limit string
	}{
		{"empty name", func() error { _, err := Create("", small); return err }, ErrInvalid, ""},
		{"slash in name", func() error { _, err := OpenReader("a/b"); return err }, ErrInvalid, ""},
		{"long name", func() error { return Unlink(strings.Repeat("n", 256)) }, ErrInvalid, ""},
		{"zero attributes", func() error { _, err := Create(queueName(t, "zero"), Attr{}); return err }, ErrInvalid, ""},
		{"exists", func() error { _, err := Create(existing.Name(), small); return err }, ErrExist, ""},
		{"make existing", func() error { return Make(existing.Name(), small, 0o600) }, ErrExist, ""},
		{"make zero attributes", func() error { return Make(queueName(t, "mzero"), Attr{}, 0o600) }, ErrInvalid, ""},
		{"open missing", func() error { _, err := OpenWriter(queueName(t, "missing")); return err }, ErrNotExist, ""},
		{"unlink missing", func() error { return Unlink(queueName(t, "missing")) }, ErrNotExist, ""},
		{"above msg_max", func() error {
			_, err := Create(queueName(t, "msgmax"), Attr{MaxMsg: l.MsgMax + 1, MsgSize: 8})
			return err
		}, ErrLimit, LimitMsgMax},
		{"above msgsize_max", func() error {
			_, err := Create(queueName(t, "msgsizemax"), Attr{MaxMsg: 1, MsgSize: l.MsgSizeMax + 1})
			return err
		}, ErrLimit, LimitMsgSizeMax},
		{"message too long", func() error { return existing.Send(make([]byte, small.MsgSize+1), 0, time.Now()) }, ErrMsgSize, ""},
		{"buffer too short", func() error { _, _, err := existing.Receive(buf[:small.MsgSize-1], time.Now()); return err }, ErrMsgSize, ""},
		{"priority too high", func() error { return existing.Send(nil, 32768, time.Now()) }, ErrInvalid, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.run()
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if tc.limit != "" {
				var le *LimitError
				if !errors.As(err, &le) || le.Limit != tc.limit || le.Fix == "" {
					t.Fatalf("err = %#v, want a LimitError naming %s with a fix", err, tc.limit)
				}
			}
			t.Logf("%v", err)
		})
	}
}

// TestCostMatchesKernel fills the RLIMIT_MSGQUEUE of a user of its own, so it
// neither draws on nor depends on the budget other tests share.
func TestCostMatchesKernel(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to run a helper under a fresh user id")
	}
	for _, plan := range []int{4, 20} {
		t.Run(fmt.Sprintf("plan for %d", plan), func(t *testing.T) {
			var r budgetReport
			runHelperJSON(t, "budget", &r, "UID_FOR_BUDGET="+strconv.Itoa(1_500_000_000+os.Getpid()),
				"PLAN_QUEUES="+strconv.Itoa(plan))
			t.Logf("%+v", r)
			if r.Created != r.Predicted {
				t.Errorf("kernel took %d queues of %+v, Cost predicted %d", r.Created, r.Plan, r.Predicted)
			}
			if r.Created < uint64(plan) {
				t.Errorf("Plan for %d queues fits only %d", plan, r.Created)
			}
			if r.Refusal != LimitMsgQueue {
				t.Errorf("refusal named %q, want %s (%s)", r.Refusal, LimitMsgQueue, r.Message)
			}
			if !r.ExactOK {
				t.Errorf("a last queue %+v costing exactly the rest was refused", r.Exact)
			}
			if r.OneMore != LimitMsgQueue {
				t.Errorf("one byte more per message: %q, want %s", r.OneMore, LimitMsgQueue)
			}
			if r.AfterFull != LimitMsgQueue {
				t.Errorf("with the budget spent, the cheapest queue gave %q, want %s", r.AfterFull, LimitMsgQueue)
			}
		})
	}
}

func TestNoFileLimit(t *testing.T) {
	var r noFileReport
	runHelperJSON(t, "nofile", &r)
	t.Logf("%+v", r)
	if r.Open != LimitNoFile || r.Create != LimitNoFile {
		t.Errorf("out of descriptors: open named %q, create named %q, want %s for both", r.Open, r.Create, LimitNoFile)
	}
}

func TestQueuesMax(t *testing.T) {
	var r struct {
		Created int
		Refusal string
	}
	runHelperJSON(t, "queuesmax", &r)
	if r.Created != 2 || r.Refusal != LimitQueuesMax {
		t.Errorf("with queues_max 2: created %d, refusal %q; want 2 and %s", r.Created, r.Refusal, LimitQueuesMax)
	}
}

func TestList(t *testing.T) {
	dir := t.TempDir()
	if err := Mount(dir); err != nil {
		t.Skipf("cannot mount the mqueue filesystem: %v", err)
	}
	t.Cleanup(func() { Unmount(dir) })
	if err := Mount(dir); err != nil {
		t.Errorf("second Mount on the same directory: %v", err)
	}
	prefix := queueName(t, "")
	a := createQueue(t, "a", small)
	b := createQueue(t, "b", small)
	got, err := List(dir, prefix)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{a.Name(), b.Name()}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("List = %v, want %v", got, want)
	}
	for _, q := range []*Queue{a, b} {
		q.Close()
		if err := Unlink(q.Name()); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := List(dir, prefix); err != nil || len(got) != 0 {
		t.Errorf("List after Unlink = %v, %v; want none", got, err)
	}
	if _, err := List(t.TempDir(), ""); err == nil {
		t.Error("List of a directory that is not an mqueue mount succeeded")
	}
}

func TestSendReceiveDoNotAllocate(t *testing.T) {
	q := createQueue(t, "alloc", small)
	msg := []byte("steady")
	buf := make([]byte, small.MsgSize)
	deadline := soon()
	allocs := testing.AllocsPerRun(200, func() {
		if err := q.Send(msg, 1, deadline); err != nil {
			t.Fatal(err)
		}
		if _, _, err := q.Receive(buf, deadline); err != nil {
			t.Fatal(err)
		}
		if _, _, err := q.Receive(buf, time.Now()); err != ErrEmpty {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("Send+Receive allocate %v times", allocs)
	}
}

// BenchmarkSendReceive: one goroutine, the queue never blocks.
func BenchmarkSendReceive(b *testing.B) {
	q := createQueue(b, "bench", small)
	msg := make([]byte, 64)
	buf := make([]byte, small.MsgSize)
	b.ReportAllocs()
	for b.Loop() {
		if err := q.Send(msg, 0, time.Time{}); err != nil {
			b.Fatal(err)
		}
		if _, _, err := q.Receive(buf, time.Time{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPingPong: two goroutines echo through two queues, so every
// Receive waits in the runtime poller.
func BenchmarkPingPong(b *testing.B) {
	ping := createQueue(b, "ping", small)
	pong := createQueue(b, "pong", small)
	go func() {
		buf := make([]byte, small.MsgSize)
		for {
			n, _, err := ping.Receive(buf, time.Time{})
			if err != nil {
				return
			}
			if pong.Send(buf[:n], 0, time.Time{}) != nil {
				return
			}
		}
	}()
	msg := make([]byte, 64)
	buf := make([]byte, small.MsgSize)
	b.ReportAllocs()
	for b.Loop() {
		if err := ping.Send(msg, 0, time.Time{}); err != nil {
			b.Fatal(err)
		}
		if _, _, err := pong.Receive(buf, time.Time{}); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	ping.Close()
	b.Logf("GOMAXPROCS=%d", runtime.GOMAXPROCS(0))
}

// blockedSenders counts this process's threads blocked in mq_timedsend, from
// /proc/self/task/*/syscall (the first field is the number of the system
// call a blocked thread is in).
func blockedSenders(t testing.TB) int {
	t.Helper()
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	prefix := strconv.Itoa(int(unix.SYS_MQ_TIMEDSEND)) + " "
	n := 0
	for _, task := range tasks {
		b, err := os.ReadFile("/proc/self/task/" + task.Name() + "/syscall")
		if err == nil && strings.HasPrefix(string(b), prefix) {
			n++
		}
	}
	return n
}

// waitUntil polls cond until it holds, failing the test after ten seconds.
func waitUntil(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(time.Millisecond)
	}
}
