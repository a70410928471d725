package worker

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/forkmq/forkmq/internal/queue"
)

// TestWriterCacheSweepPeriod checks the sweep timer's period, by calling its
// function rather than waiting for it: 2×writerIdle when a descriptor is
// first cached, sweepMax once a firing finds the router still routing, and
// no timer (the descriptors closed) once it finds the router stopped — the
// next use starts again from 2×writerIdle.
func TestWriterCacheSweepPeriod(t *testing.T) {
	name := testQueue(t, "writers")
	c := newWriterCache()
	t.Cleanup(c.close)
	use := func() {
		t.Helper()
		if err := c.use(name, func(*queue.Queue) error { return nil }); err != nil {
			t.Fatal(err)
		}
	}
	// hold keeps the alarm from going off: the test fires it itself.
	hold := func() {
		t.Helper()
		if c.alarm == nil {
			t.Fatal("no alarm: the sweep timer is a Go timer")
		}
		if err := c.alarm.set(0); err != nil {
			t.Fatal(err)
		}
	}
	use()
	c.mu.Lock()
	if !c.armed || c.period != 2*writerIdle {
		t.Errorf("first use: timer armed %v with period %v, want true with %v", c.armed, c.period, 2*writerIdle)
	}
	hold()
	c.mu.Unlock()
	for _, step := range []struct {
		name       string
		lastUse    time.Duration // how long before the firing the router last routed
		wantTimer  bool
		wantPeriod time.Duration
	}{
		{"first firing, still routing", 500 * time.Millisecond, true, sweepMax},
		{"later firing, still routing", 900 * time.Millisecond, true, sweepMax},
		{"firing after the router stopped", sweepMax + writerIdle, false, 0},
	} {
		c.mu.Lock()
		c.used = time.Now().Add(-step.lastUse)
		for _, w := range c.entries {
			w.used = c.used
		}
		c.mu.Unlock()
		c.expire()
		c.mu.Lock()
		armed, period, n := c.armed, c.period, len(c.entries)
		hold()
		c.mu.Unlock()
		if armed != step.wantTimer || armed && period != step.wantPeriod {
			t.Errorf("%s: timer armed %v with period %v, want %v with %v", step.name, armed, period, step.wantTimer, step.wantPeriod)
		}
		if wantN := map[bool]int{true: 1, false: 0}[step.wantTimer]; n != wantN {
			t.Errorf("%s: %d descriptors cached, want %d", step.name, n, wantN)
		}
	}
	use()
	c.mu.Lock()
	armed, period := c.armed, c.period
	c.mu.Unlock()
	if !armed || period != 2*writerIdle {
		t.Errorf("after routing again: timer armed %v with period %v, want true with %v", armed, period, 2*writerIdle)
	}
}

// TestWriterCacheLetsGoWhenIdle waits for the real timer: a router that
// stops routing closes its cached descriptors by itself, about 2×writerIdle
// after its last use, and its timer stops.
func TestWriterCacheLetsGoWhenIdle(t *testing.T) {
	name := testQueue(t, "idle")
	c := newWriterCache()
	t.Cleanup(c.close)
	if err := c.use(name, func(*queue.Queue) error { return nil }); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * 2 * writerIdle) // generous: a busy machine
	for {
		c.mu.Lock()
		n, armed := len(c.entries), c.armed
		c.mu.Unlock()
		if n == 0 && !armed {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d descriptors cached and timer armed %v, %v after the last use", n, armed, 10*2*writerIdle)
		}
		time.Sleep(writerIdle / 10)
	}
}

// testQueue makes a small queue for the test and returns its name.
func testQueue(t *testing.T, suffix string) string {
	t.Helper()
	name := fmt.Sprintf("fmqtest.%d.%s", os.Getpid(), suffix)
	q, err := queue.Create(name, queue.Attr{MaxMsg: 1, MsgSize: 64})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		q.Close()
		queue.Unlink(name)
	})
	return name
}
