//go:build linux

package queue

import (
	"errors"
	"math"
	"testing"
)

// defaults are Linux's default limits, which this machine also has.
var defaults = Limits{MsgMax: 10, MsgSizeMax: 8192, QueuesMax: 256, Budget: 819200}

func TestCost(t *testing.T) {
	for _, tc := range []struct {
		a    Attr
		want uint64
	}{
		{Attr{MaxMsg: 10, MsgSize: 8192}, 82880}, // 10*(8192+48) + 10*48
		{Attr{MaxMsg: 1, MsgSize: 1}, 97},
		{Attr{MaxMsg: 4, MsgSize: 128, CurMsgs: 3}, 896},
		{Attr{MaxMsg: 40000, MsgSize: 1}, 40000*49 + 32768*48}, // tree nodes stop at MQ_PRIO_MAX
		{Attr{}, 0},
	} {
		if got := Cost(tc.a); got != tc.want {
			t.Errorf("Cost(%+v) = %d, want %d", tc.a, got, tc.want)
		}
	}
}

func TestPlan(t *testing.T) {
	big := defaults
	big.QueuesMax = 100000
	unlimited := defaults
	unlimited.Budget = math.MaxUint64
	for _, tc := range []struct {
		name    string
		l       Limits
		queues  int
		minSize int64
		want    Attr
		limit   string // the LimitError expected, if any
	}{
		{"1 queue", defaults, 1, 64, Attr{MaxMsg: 10, MsgSize: 8192}, ""},
		{"10 queues", defaults, 10, 64, Attr{MaxMsg: 10, MsgSize: 7840}, ""},
		{"100 queues", defaults, 100, 64, Attr{MaxMsg: 10, MsgSize: 697}, ""},
		{"100 queues of 2 KiB", defaults, 100, 2048, Attr{MaxMsg: 3, MsgSize: 2549}, ""},
		{"200 queues", defaults, 200, 64, Attr{MaxMsg: 10, MsgSize: 300}, ""},
		{"1000 queues", defaults, 1000, 64, Attr{}, LimitQueuesMax},
		{"1000 queues, queues_max raised", big, 1000, 64, Attr{MaxMsg: 4, MsgSize: 102}, ""},
		{"5000 queues", defaults, 5000, 64, Attr{}, LimitQueuesMax},
		{"5000 queues, queues_max raised", big, 5000, 64, Attr{}, LimitMsgQueue},
		{"messages above msgsize_max", defaults, 1, 10000, Attr{}, LimitMsgSizeMax},
		{"unlimited budget", unlimited, 200, 64, Attr{MaxMsg: 10, MsgSize: 8192}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := Plan(tc.l, tc.queues, tc.minSize)
			if tc.limit != "" {
				var le *LimitError
				if !errors.As(err, &le) || !errors.Is(err, ErrLimit) || le.Limit != tc.limit {
					t.Fatalf("Plan = %+v, %v; want a LimitError naming %s", a, err, tc.limit)
				}
				t.Log(err)
				return
			}
			if err != nil {
				t.Fatalf("Plan: %v", err)
			}
			if a != tc.want {
				t.Errorf("Plan = %+v, want %+v", a, tc.want)
			}
			if a.MaxMsg > tc.l.MsgMax || a.MsgSize > tc.l.MsgSizeMax || a.MsgSize < tc.minSize {
				t.Errorf("Plan = %+v breaks the limits %+v", a, tc.l)
			}
			if total := Cost(a) * uint64(tc.queues); total > tc.l.Budget-tc.l.Budget/32 {
				t.Errorf("%d queues of %+v cost %d, beyond the budget less its reserve", tc.queues, a, total)
			}
		})
	}
	if _, err := Plan(defaults, 0, 64); !errors.Is(err, ErrInvalid) {
		t.Errorf("Plan for 0 queues = %v, want ErrInvalid", err)
	}
}

// TestPlanHere logs what Plan gives on this machine.
func TestPlanHere(t *testing.T) {
	l, err := ReadLimits()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("limits: %+v", l)
	for _, n := range []int{1, 10, 100, 1000, 5000} {
		a, err := Plan(l, n, 256)
		if err != nil {
			t.Logf("Plan(%d queues, 256-byte messages): %v", n, err)
			continue
		}
		t.Logf("Plan(%d queues, 256-byte messages) = %d x %d bytes, %d bytes each, %d in all",
			n, a.MaxMsg, a.MsgSize, Cost(a), Cost(a)*uint64(n))
	}
}
