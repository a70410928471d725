package scoreboard

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

func TestLayout(t *testing.T) {
	if got := unsafe.Sizeof(header{}); got != headerSize {
		t.Errorf("header is %d bytes, the format says %d", got, headerSize)
	}
	if got := unsafe.Sizeof(slot{}); got != slotSize {
		t.Errorf("slot is %d bytes, the format says %d", got, slotSize)
	}
	if slotSize%64 != 0 || headerSize%64 != 0 {
		t.Error("slots must start on cache lines, so that no two writers share one")
	}
	if NumCounters > maxCounters || NumGauges > maxGauges {
		t.Error("more counters or gauges than a slot holds")
	}
	b := New(3)
	for i := 0; i < 3; i++ {
		if p := uintptr(unsafe.Pointer(b.slot(i))); p%64 != 0 {
			t.Errorf("in-memory slot %d at %#x is not on a cache line", i, p)
		}
	}
}

func TestRefString(t *testing.T) {
	r := Ref{Index: 12, Gen: 4}
	got, err := ParseRef(r.String())
	if err != nil || got != r {
		t.Errorf("ParseRef(%q) = %v, %v", r.String(), got, err)
	}
	for _, bad := range []string{"", "1", "-1:2", "1:3", "1:0", "a:2", "1:2:3"} {
		if _, err := ParseRef(bad); err == nil {
			t.Errorf("ParseRef(%q) accepted", bad)
		}
	}
}

// TestSlotLife: allocate, count, read, release, reuse.
func TestSlotLife(t *testing.T) {
	b := New(4)
	router, err := b.Allocate(Identity{Role: RoleRouter, Queue: "forkmq.ab.1", Remote: "127.0.0.1:50442"})
	if err != nil {
		t.Fatal(err)
	}
	deliverer, _ := b.Allocate(Identity{Role: RoleDeliverer, Queue: "forkmq.ab.1", Remote: "127.0.0.1:50442"})
	rw, err := b.Writer(router)
	if err != nil {
		t.Fatal(err)
	}
	dw, _ := b.Writer(deliverer)
	rw.SetClient("sensor-7", "127.0.0.1:50442")
	rw.SetState(StateConnected)
	rw.Inc(Connects)
	rw.Add(MessagesReceived, 3)
	rw.Add(BytesReceived, 300)
	rw.SetGauge(Subscriptions, 2)
	dw.Add(MessagesSent, 5)
	dw.Observe(DeliveryLatency, 120*time.Microsecond)

	r := read(t, b)
	if len(r.Slots) != 2 {
		t.Fatalf("slots = %+v, want the router and the deliverer", r.Slots)
	}
	rs := r.Slots[0]
	if rs.Role != RoleRouter || rs.PID != os.Getpid() || rs.State != StateConnected || rs.ClientID != "sensor-7" ||
		rs.Remote != "127.0.0.1:50442" || rs.Queue != "forkmq.ab.1" || rs.Unstable || rs.Started.IsZero() {
		t.Errorf("router slot = %+v", rs.Identity)
	}
	if rs.Counters[MessagesReceived] != 3 || rs.Gauges[Subscriptions] != 2 {
		t.Errorf("router counts = %+v", rs.Counts)
	}
	if r.Slots[1].State != StateStarting || r.Slots[1].ClientID != "" {
		t.Errorf("a deliverer that set nothing is starting, without a client: %+v", r.Slots[1].Identity)
	}
	wantTotal(t, r, MessagesReceived, 3)
	wantTotal(t, r, MessagesSent, 5)

	// The router exits: its counters stay in the totals, its gauge and
	// identity go.
	if err := b.Release(router); err != nil {
		t.Fatal(err)
	}
	r = read(t, b)
	if len(r.Slots) != 1 || r.Slots[0].Role != RoleDeliverer {
		t.Errorf("after release: %+v", r.Slots)
	}
	wantTotal(t, r, MessagesReceived, 3)
	wantTotal(t, r, Connects, 1)
	wantTotal(t, r, BytesReceived, 300)
	if r.Total.Gauges[Subscriptions] != 0 {
		t.Errorf("a released process's gauges leave with it: %d", r.Total.Gauges[Subscriptions])
	}

	// The slot is given again, with a new generation and nothing of the old
	// owner; the old reference is stale.
	next, _ := b.Allocate(Identity{Role: RoleWill})
	if next.Index != router.Index || next.Gen <= router.Gen {
		t.Errorf("reuse: %v after %v", next, router)
	}
	if _, err := b.Writer(router); !errors.Is(err, ErrStale) {
		t.Errorf("Writer(old ref) = %v, want ErrStale", err)
	}
	if err := b.Release(router); !errors.Is(err, ErrStale) {
		t.Errorf("Release(old ref) = %v, want ErrStale", err)
	}
	r = read(t, b)
	for _, s := range r.Slots {
		if s.Index == next.Index && (s.ClientID != "" || s.Counters[MessagesReceived] != 0 || s.Role != RoleWill) {
			t.Errorf("a reused slot must hold nothing of its last owner: %+v", s)
		}
	}
	wantTotal(t, r, MessagesReceived, 3)
}

func read(t testing.TB, b *Board) Reading {
	t.Helper()
	return b.Read()
}

func wantTotal(t testing.TB, r Reading, c Counter, want uint64) {
	t.Helper()
	if got := r.Total.Counters[c]; got != want {
		t.Errorf("total %s = %d, want %d", c, got, want)
	}
}

func TestFull(t *testing.T) {
	b := New(2)
	a, _ := b.Allocate(Identity{Role: RoleRouter})
	if _, err := b.Allocate(Identity{Role: RoleRouter}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Allocate(Identity{Role: RoleRouter}); !errors.Is(err, ErrFull) {
		t.Errorf("third allocation of two slots = %v, want ErrFull", err)
	}
	b.Release(a)
	if _, err := b.Allocate(Identity{Role: RoleRouter}); err != nil {
		t.Errorf("a released slot is free again: %v", err)
	}
}

func TestHistogram(t *testing.T) {
	b := New(1)
	ref, _ := b.Allocate(Identity{Role: RoleDeliverer})
	w, _ := b.Writer(ref)
	cases := []struct {
		d      time.Duration
		bucket int
	}{
		{0, 0},
		{50 * time.Microsecond, 0}, // a bound is in its own bucket (Prometheus's le)
		{51 * time.Microsecond, 1},
		{time.Millisecond, 5}, // 800µs < 1ms ≤ 1.6ms
		{204800 * time.Microsecond, numBounds - 1},
		{time.Hour, numBounds}, // above every bound
		{-time.Second, 0},      // a clock step backwards counts as zero
	}
	var sum time.Duration
	for _, c := range cases {
		w.Observe(ConnectTime, c.d)
		sum += max(c.d, 0)
	}
	h := read(t, b).Histograms[ConnectTime]
	var want [numBuckets]uint64
	for _, c := range cases {
		want[c.bucket]++
	}
	if h.Buckets != want || h.Count != uint64(len(cases)) || h.Sum != sum {
		t.Errorf("histogram = %+v, want buckets %v count %d sum %v", h, want, len(cases), sum)
	}
}

func TestClientIDCut(t *testing.T) {
	b := New(1)
	ref, _ := b.Allocate(Identity{Role: RoleRouter})
	w, _ := b.Writer(ref)
	long := strings.Repeat("x", MaxClientID+10)
	w.SetClient(long, "[2001:db8::1]:50442")
	s := read(t, b).Slots[0]
	if s.ClientID != long[:MaxClientID] || !s.ClientIDCut || s.Remote != "[2001:db8::1]:50442" {
		t.Errorf("identity = %+v", s.Identity)
	}
	w.SetClient("short", "")
	if s := read(t, b).Slots[0]; s.ClientID != "short" || s.ClientIDCut || s.Remote != "" {
		t.Errorf("a new client replaces the old one whole: %+v", s.Identity)
	}
}

func TestNilWriter(t *testing.T) {
	var w *Writer
	w.Inc(Connects)
	w.Add(BytesSent, 10)
	w.SetGauge(Inflight, 1)
	w.AddGauge(Inflight, 1)
	w.Observe(DeliveryLatency, time.Millisecond)
	w.SetState(StateConnected)
	w.SetClient("a", "b")
	if w.Ref() != (Ref{}) || w.Close() != nil {
		t.Error("a nil writer does nothing")
	}
}

// TestTotalsNeverGoBack: while writers count and the supervisor releases
// and reallocates slots, every reading's total is at least the previous
// one's, and the last equals what was counted. Run with -race.
func TestTotalsNeverGoBack(t *testing.T) {
	const (
		workers = 4
		lives   = 50 // slots each worker goroutine uses one after another
		perLife = 200
	)
	b := New(workers)
	var mu sync.Mutex // the supervisor's loop: Allocate and Release are its own
	stop := make(chan struct{})
	var readerErr atomic.Value
	var readerDone sync.WaitGroup
	readerDone.Add(1)
	go func() {
		defer readerDone.Done()
		var last uint64
		for {
			select {
			case <-stop:
				return
			default:
			}
			r := b.Read()
			if got := r.Total.Counters[MessagesSent]; got < last {
				readerErr.Store(errors.New("total went backwards"))
				return
			} else {
				last = got
			}
		}
	}()
	var wg sync.WaitGroup
	for g := 0; g < workers; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for l := 0; l < lives; l++ {
				mu.Lock()
				ref, err := b.Allocate(Identity{Role: RoleDeliverer})
				mu.Unlock()
				if err != nil {
					t.Error(err)
					return
				}
				w, _ := b.Writer(ref)
				for i := 0; i < perLife; i++ {
					w.Inc(MessagesSent)
				}
				mu.Lock()
				b.Release(ref)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(stop)
	readerDone.Wait()
	if err, _ := readerErr.Load().(error); err != nil {
		t.Fatal(err)
	}
	wantTotal(t, read(t, b), MessagesSent, workers*lives*perLife)
}

// TestSupervisorDiedMidChange: a slot whose change of owner never ends is
// not listed, and what it counted before is still in the totals.
func TestSupervisorDiedMidChange(t *testing.T) {
	b := New(2)
	ref, _ := b.Allocate(Identity{Role: RoleRouter})
	w, _ := b.Writer(ref)
	w.Add(MessagesReceived, 7)
	b.slot(ref.Index).gen.Add(1) // the supervisor began a Release and died
	r := read(t, b)
	if len(r.Slots) != 0 {
		t.Errorf("slots = %+v, want none listed", r.Slots)
	}
	wantTotal(t, r, MessagesReceived, 7)
}

func TestFileBoard(t *testing.T) {
	path := filepath.Join(t.TempDir(), "scoreboard")
	b, err := Create(path, 8)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	umask := syscall.Umask(0)
	syscall.Umask(umask)
	if st, _ := os.Stat(path); st.Size() != int64(size(8)) || st.Mode().Perm() != 0o660&^os.FileMode(umask) {
		t.Errorf("file is %d bytes mode %v, want 0660 less the umask %03o", st.Size(), st.Mode(), umask)
	}
	ref, _ := b.Allocate(Identity{Role: RoleRouter})
	w, err := Attach(path, ref)
	if err != nil {
		t.Fatal(err)
	}
	w.Add(BytesReceived, 42)
	w.Close()
	reader, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	wantTotal(t, read(t, reader), BytesReceived, 42)
	if _, err := reader.Allocate(Identity{}); !errors.Is(err, ErrNotMine) {
		t.Errorf("a board opened, not created, must not allocate: %v", err)
	}

	// A new broker on the same path starts a new board; a worker still
	// holding the old one writes to the old file.
	b2, err := Create(path, 8)
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Close()
	wantTotal(t, read(t, b2), BytesReceived, 0)
}

func TestOpenRefusesOtherFiles(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name    string
		content []byte
	}{
		{"empty", nil},
		{"short", make([]byte, 100)},
		{"bad magic", make([]byte, size(2))},
		{"wrong size", func() []byte {
			b := New(2)
			return append([]byte(nil), b.mem[:size(2)-slotSize]...)
		}()},
	}
	for _, c := range cases {
		path := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_"))
		if err := os.WriteFile(path, c.content, 0o600); err != nil {
			t.Fatal(err)
		}
		if b, err := Open(path); err == nil {
			b.Close()
			t.Errorf("%s: Open accepted it", c.name)
		}
	}
}
