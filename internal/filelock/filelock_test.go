package filelock

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/forkmq/forkmq/internal/proctest"
)

// The test binary doubles as helper processes (package proctest): "add"
// (args: lock path, count file, rounds) runs addRounds.
func TestMain(m *testing.M) {
	proctest.Main(m, proctest.Helpers{"add": func(args []string) error {
		rounds, err := strconv.Atoi(args[2])
		if err != nil {
			return err
		}
		l, err := Open(args[0])
		if err != nil {
			return err
		}
		defer l.Close()
		return addRounds(l, args[1], rounds)
	}})
}

// addRounds adds one to the number in file, rounds times, under l.
func addRounds(l *Lock, file string, rounds int) error {
	for range rounds {
		if err := l.Do(func() error { return increment(file) }); err != nil {
			return err
		}
	}
	return nil
}

// increment adds one to the number in file: a read, then a write, so that
// two writers not serialised lose updates.
func increment(file string) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	n, _ := strconv.Atoi(string(data))
	return os.WriteFile(file, []byte(strconv.Itoa(n+1)), 0o600)
}

// TestDoSerialises: goroutines sharing one Lock, goroutines with Locks of
// their own on the same file, and processes, all adding under the lock:
// no update is lost and no two are inside at once.
func TestDoSerialises(t *testing.T) {
	const rounds = 200
	dir := t.TempDir()
	path, count := filepath.Join(dir, "lock"), filepath.Join(dir, "count")
	if err := os.WriteFile(count, []byte("0"), 0o600); err != nil {
		t.Fatal(err)
	}
	shared := proctest.Open(t, Open, path)
	var inside atomic.Int32
	var wg sync.WaitGroup
	for i := range 4 {
		l := shared
		if i%2 == 1 {
			l = proctest.Open(t, Open, path) // another open file: only the flock orders it
		}
		wg.Go(func() {
			for range rounds {
				err := l.Do(func() error {
					if n := inside.Add(1); n != 1 {
						t.Errorf("%d goroutines inside Do", n)
					}
					defer inside.Add(-1)
					return increment(count)
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	procs := make([]*exec.Cmd, 3)
	for i := range procs {
		procs[i] = proctest.Command(context.Background(), "add", path, count, strconv.Itoa(rounds))
		procs[i].Stderr = os.Stderr
		if err := procs[i].Start(); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	for _, p := range procs {
		if err := p.Wait(); err != nil {
			t.Errorf("helper: %v", err)
		}
	}
	data, err := os.ReadFile(count)
	if want := strconv.Itoa((4 + len(procs)) * rounds); err != nil || string(data) != want {
		t.Errorf("count = %q, %v; want %s", data, err, want)
	}
}

// TestDoWaitsThroughSignals: Do waits while another open file holds the
// flock, signals arriving meanwhile do not end the wait with an error, and
// it runs fn once the flock is free.
func TestDoWaitsThroughSignals(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lock")
	holder := proctest.Open(t, Open, path)
	l := proctest.Open(t, Open, path)
	if err := TryLock(holder.f); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	var ran atomic.Bool
	go func() { done <- l.Do(func() error { ran.Store(true); return nil }) }()
	for range 50 {
		syscall.Kill(os.Getpid(), syscall.SIGURG) // what the Go runtime preempts with
		time.Sleep(time.Millisecond)
	}
	if ran.Load() {
		t.Fatal("Do ran while another file held the flock")
	}
	holder.Close()
	select {
	case err := <-done:
		if err != nil || !ran.Load() {
			t.Errorf("Do = %v, ran %v", err, ran.Load())
		}
	case <-time.After(time.Minute):
		t.Fatal("Do still waiting a minute after the flock was freed")
	}
}

// TestTryLock: a second open file cannot take the flock while the first
// holds it, and can once the first is closed.
func TestTryLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tmpfile")
	a, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := TryLock(a); err != nil {
		t.Fatalf("TryLock of a free file: %v", err)
	}
	if err := TryLock(b); !errors.Is(err, ErrHeld) {
		t.Errorf("TryLock of a held file = %v, want ErrHeld", err)
	}
	a.Close()
	if err := TryLock(b); err != nil {
		t.Errorf("TryLock after the holder closed: %v", err)
	}
}

// TestDoReportsFlockError: a Lock whose file is closed reports the failed
// flock with the path, and does not run fn.
func TestDoReportsFlockError(t *testing.T) {
	l := proctest.Open(t, Open, filepath.Join(t.TempDir(), "lock"))
	l.f.Close()
	err := l.Do(func() error { t.Error("fn ran"); return nil })
	if err == nil {
		t.Error("Do on a closed file succeeded")
	}
}
