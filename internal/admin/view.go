package admin

import (
	"context"
	"sync"
	"time"

	"github.com/forkmq/forkmq/internal/scoreboard"
)

// Rates are per-second rates between two snapshots.
type Rates struct {
	MessagesIn  float64 // PUBLISH packets read from clients
	MessagesOut float64 // PUBLISH packets written to clients
	BytesIn     float64
	BytesOut    float64
	CPU         float64 // percent of one core
}

// View is a snapshot with the rates since the one before it.
type View struct {
	*Snapshot
	// Interval is the time between the two snapshots; zero for the first,
	// which has no rates.
	Interval time.Duration
	// Processes are the rates of each process, by Process.Key.
	Processes map[string]Rates
	// Total is the broker's rates, exited processes included.
	Total Rates
}

// Rate returns a process's rates (zero before there are two snapshots).
func (v *View) Rate(p Process) Rates { return v.Processes[p.Key] }

// NewView computes the rates from prev (nil for none) to cur.
func NewView(prev, cur *Snapshot) *View {
	v := &View{Snapshot: cur, Processes: make(map[string]Rates)}
	if prev == nil || !cur.Taken.After(prev.Taken) {
		return v
	}
	v.Interval = cur.Taken.Sub(prev.Taken)
	secs := v.Interval.Seconds()
	before := make(map[string]Process)
	for _, p := range prev.processes() {
		before[p.Key] = p
	}
	for _, p := range cur.processes() {
		if old, ok := before[p.Key]; ok {
			v.Processes[p.Key] = rates(&old.Counters, &p.Counters, old.CPU, p.CPU, secs)
		}
	}
	v.Total = rates(&prev.Totals.Counters, &cur.Totals.Counters, 0, 0, secs)
	return v
}

func rates(a, b *[scoreboard.NumCounters]uint64, cpuA, cpuB time.Duration, secs float64) Rates {
	per := func(c scoreboard.Counter) float64 {
		if b[c] < a[c] { // a restarted counter: no rate rather than a negative one
			return 0
		}
		return float64(b[c]-a[c]) / secs
	}
	r := Rates{
		MessagesIn:  per(scoreboard.MessagesReceived),
		MessagesOut: per(scoreboard.MessagesSent),
		BytesIn:     per(scoreboard.BytesReceived),
		BytesOut:    per(scoreboard.BytesSent),
	}
	if cpuB > cpuA {
		r.CPU = 100 * (cpuB - cpuA).Seconds() / secs
	}
	return r
}

// processes lists every process of the snapshot, the supervisor first.
func (s *Snapshot) processes() []Process {
	out := []Process{s.Supervisor}
	for _, c := range s.Clients {
		out = append(out, c.Router, c.Deliverer)
	}
	return append(out, s.Others...)
}

// viewer takes snapshots for everyone who asks, at most one per interval:
// many open pages and a scraper cost one snapshot a second, and each view's
// rates are over about a second however often it is asked.
type viewer struct {
	src      Source
	interval time.Duration
	now      func() time.Time

	mu   sync.Mutex
	prev *Snapshot // the snapshot rates are computed from
	last *View
	at   time.Time // when last was made
}

func (vw *viewer) view(ctx context.Context) (*View, error) {
	vw.mu.Lock()
	defer vw.mu.Unlock()
	if vw.last != nil && vw.now().Sub(vw.at) < vw.interval {
		return vw.last, nil
	}
	snap, err := vw.src.Snapshot(ctx)
	if err != nil {
		return nil, err
	}
	if snap.Taken.IsZero() {
		snap.Taken = vw.now()
	}
	vw.last = NewView(vw.prev, snap)
	vw.prev, vw.at = snap, vw.now()
	return vw.last, nil
}
