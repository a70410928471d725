package machine

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// TicksPerSecond is USER_HZ, the unit of /proc/stat; 100 on every Linux ABI
// Go supports.
const TicksPerSecond = 100

// Snapshot is one reading of the machine.
type Snapshot struct {
	At time.Time
	// Busy is the time all CPUs spent in user, nice and system mode, in
	// seconds. Interrupt and softirq time are left out: the benchmark's own
	// loopback traffic is processed there, charged to no process.
	Busy float64
	// Steal is time the hypervisor gave to other guests, in seconds.
	Steal float64
	// Load1, Load5 and Load15 are the load averages.
	Load1, Load5, Load15 float64
}

// Read takes a snapshot.
func Read() (Snapshot, error) {
	s := Snapshot{At: time.Now()}
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return s, fmt.Errorf("machine: %w", err)
	}
	if err := s.parseStat(b); err != nil {
		return s, err
	}
	b, err = os.ReadFile("/proc/loadavg")
	if err != nil {
		return s, fmt.Errorf("machine: %w", err)
	}
	return s, s.parseLoad(b)
}

// parseStat reads the first line of /proc/stat: "cpu user nice system idle
// iowait irq softirq steal …", in ticks.
func (s *Snapshot) parseStat(b []byte) error {
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) < 9 || f[0] != "cpu" {
		return fmt.Errorf("machine: unexpected /proc/stat line %q", line)
	}
	v := make([]float64, 8)
	for i := range v {
		n, err := strconv.ParseUint(f[i+1], 10, 64)
		if err != nil {
			return fmt.Errorf("machine: /proc/stat field %d: %w", i+1, err)
		}
		v[i] = float64(n) / TicksPerSecond
	}
	s.Busy = v[0] + v[1] + v[2]
	s.Steal = v[7]
	return nil
}

func (s *Snapshot) parseLoad(b []byte) error {
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return fmt.Errorf("machine: unexpected /proc/loadavg %q", b)
	}
	for i, dst := range []*float64{&s.Load1, &s.Load5, &s.Load15} {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			return fmt.Errorf("machine: /proc/loadavg: %w", err)
		}
		*dst = v
	}
	return nil
}

// Load is the three load averages as /proc/loadavg writes them.
func (s Snapshot) Load() string {
	return fmt.Sprintf("%.2f %.2f %.2f", s.Load1, s.Load5, s.Load15)
}

// Activity is what happened on the machine between two snapshots.
type Activity struct {
	Seconds float64 // wall time between the snapshots
	// OtherPct is the CPU time of everything but the benchmark (its own
	// process, the broker and the tools it started), in percent of one
	// core, averaged over the interval; never below 0.
	OtherPct float64
	// StealPct is the time stolen by the hypervisor, in percent of one
	// core.
	StealPct float64
	LoadEnd  float64 // 1-minute load average at the end
}

// Since returns the activity between a and b given the CPU seconds the
// benchmark itself used meanwhile.
func (b Snapshot) Since(a Snapshot, ours float64) Activity {
	dt := b.At.Sub(a.At).Seconds()
	act := Activity{Seconds: dt, LoadEnd: b.Load1}
	if dt <= 0 {
		return act
	}
	act.OtherPct = max(0, 100*(b.Busy-a.Busy-ours)/dt)
	act.StealPct = max(0, 100*(b.Steal-a.Steal)/dt)
	return act
}

// Limits say when the machine counts as busy.
type Limits struct {
	// OtherPct is the most CPU, in percent of one core, that other
	// processes may use while the benchmark measures.
	OtherPct float64
	// StealPct is the most CPU time the hypervisor may steal.
	StealPct float64
	// Load1 is the highest 1-minute load average at which a benchmark
	// may start (the benchmark's own load raises it later, so it is
	// checked at the start only).
	Load1 float64
}

// DefaultLimits for a machine with the given number of CPUs: other
// processes may use 10 % of one core, the hypervisor steal 5 %, and the
// load average at the start may be half the CPU count.
func DefaultLimits(cpus int) Limits {
	return Limits{OtherPct: 10, StealPct: 5, Load1: float64(cpus) / 2}
}

// Busy returns why the activity counts as busy, or "".
func (l Limits) Busy(a Activity) string {
	var why []string
	if a.OtherPct > l.OtherPct {
		why = append(why, fmt.Sprintf("other processes used %.0f%% of a core (limit %.0f%%)", a.OtherPct, l.OtherPct))
	}
	if a.StealPct > l.StealPct {
		why = append(why, fmt.Sprintf("the hypervisor stole %.0f%% of a core (limit %.0f%%)", a.StealPct, l.StealPct))
	}
	return strings.Join(why, "; ")
}

// BusyAtStart adds the load average to Busy, for the check before a
// benchmark starts.
func (l Limits) BusyAtStart(a Activity) string {
	why := l.Busy(a)
	if a.LoadEnd > l.Load1 {
		if why != "" {
			why += "; "
		}
		why += fmt.Sprintf("load average %.2f (limit %.2f)", a.LoadEnd, l.Load1)
	}
	return why
}
