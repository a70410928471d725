package machine

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestParseAndActivity(t *testing.T) {
	var a, b Snapshot
	// user nice system idle iowait irq softirq steal
	if err := a.parseStat([]byte("cpu  1000 0 500 9000 10 0 300 20 0 0\ncpu0 1 2 3\n")); err != nil {
		t.Fatal(err)
	}
	if err := b.parseStat([]byte("cpu  1300 0 600 9100 10 0 900 30 0 0\n")); err != nil {
		t.Fatal(err)
	}
	if err := b.parseLoad([]byte("1.50 0.75 0.25 3/120 999\n")); err != nil {
		t.Fatal(err)
	}
	a.At = time.Unix(100, 0)
	b.At = a.At.Add(2 * time.Second)
	// busy grew by 400 ticks = 4 s over 2 s; the benchmark used 3 s of it,
	// so others used 1 s in 2 s: 50 % of a core. Softirq time is not
	// counted; steal grew by 0.1 s: 5 %.
	act := b.Since(a, 3)
	if math.Abs(act.OtherPct-50) > 1e-9 || math.Abs(act.StealPct-5) > 1e-9 || act.LoadEnd != 1.5 {
		t.Fatalf("activity = %+v", act)
	}
	if b.Load() != "1.50 0.75 0.25" {
		t.Fatalf("Load() = %q", b.Load())
	}
	if got := b.Since(a, 10); got.OtherPct != 0 {
		t.Fatalf("more than all the time used by the benchmark must give 0, not %v", got.OtherPct)
	}
}

func TestLimits(t *testing.T) {
	l := DefaultLimits(2)
	for _, tc := range []struct {
		act           Activity
		busy, atStart bool
	}{
		{Activity{OtherPct: 2, LoadEnd: 0.3}, false, false},
		{Activity{OtherPct: 25, LoadEnd: 0.3}, true, true},
		{Activity{StealPct: 9}, true, true},
		{Activity{OtherPct: 1, LoadEnd: 6}, false, true}, // load counts at the start only
	} {
		if got := l.Busy(tc.act) != ""; got != tc.busy {
			t.Errorf("Busy(%+v) = %v, want %v", tc.act, got, tc.busy)
		}
		why := l.BusyAtStart(tc.act)
		if got := why != ""; got != tc.atStart {
			t.Errorf("BusyAtStart(%+v) = %q, want busy %v", tc.act, why, tc.atStart)
		}
		if tc.atStart && !strings.Contains(why, "limit") {
			t.Errorf("reason %q should name the limit", why)
		}
	}
	if _, err := Read(); err != nil {
		t.Fatalf("Read on this machine: %v", err)
	}
}
