package tally

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestHeaderRoundTrip(t *testing.T) {
	want := Header{Publisher: 77, Seq: 1<<40 + 3, Sent: 123456789}
	b := make([]byte, HeaderSize+5)
	want.Put(b)
	got, err := ParseHeader(b)
	if err != nil || got != want {
		t.Fatalf("ParseHeader = %+v, %v; want %+v", got, err, want)
	}
	if _, err := ParseHeader(b[:HeaderSize-1]); err != ErrShortPayload {
		t.Fatalf("short payload: err = %v, want ErrShortPayload", err)
	}
}

func TestHistogramBucketsAreContiguous(t *testing.T) {
	prevHi := int64(0)
	for i := 0; i < 40*subCount; i++ {
		lo, w := bucketRange(i)
		if lo != prevHi {
			t.Fatalf("bucket %d starts at %d, previous ended at %d", i, lo, prevHi)
		}
		if got := bucketOf(lo); got != i {
			t.Fatalf("bucketOf(%d) = %d, want %d", lo, got, i)
		}
		if got := bucketOf(lo + w - 1); got != i {
			t.Fatalf("bucketOf(%d) = %d, want %d", lo+w-1, got, i)
		}
		prevHi = lo + w
	}
	if b := bucketOf(math.MaxInt64); b >= numBuckets {
		t.Fatalf("bucketOf(MaxInt64) = %d, beyond %d buckets", b, numBuckets)
	}
}

// exact returns the nearest-rank percentile of sorted values.
func exact(sorted []int64, p float64) int64 {
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

func TestHistogramPercentilesWithinOnePercent(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	h, other := NewHistogram(), NewHistogram()
	var vals []int64
	for i := 0; i < 100_000; i++ {
		// log-normal-ish latencies from 1 µs to about 1 s
		v := int64(math.Exp(r.NormFloat64()*2 + 11))
		vals = append(vals, v)
		if i%2 == 0 {
			h.Record(v)
		} else {
			other.Record(v)
		}
	}
	h.Merge(other)
	slices.Sort(vals)
	if h.Count() != uint64(len(vals)) {
		t.Fatalf("Count = %d, want %d", h.Count(), len(vals))
	}
	for _, p := range []float64{0, 1, 50, 90, 99, 99.9, 100} {
		want, got := exact(vals, p), h.Percentile(p)
		if d := math.Abs(float64(got-want)) / float64(want); d > 0.01 {
			t.Errorf("p%v = %d, exact %d (off by %.2f%%)", p, got, want, 100*d)
		}
	}
	if h.Max() != vals[len(vals)-1] {
		t.Errorf("Max = %d, want %d", h.Max(), vals[len(vals)-1])
	}
}

func TestHistogramSmallAndEmpty(t *testing.T) {
	h := NewHistogram()
	if h.Percentile(50) != 0 || h.Max() != 0 || h.Mean() != 0 {
		t.Fatal("empty histogram should report zeros")
	}
	for _, v := range []int64{5, 1, 3, -7} { // -7 counts as 0
		h.Record(v)
	}
	for p, want := range map[float64]int64{25: 0, 50: 1, 75: 3, 100: 5} {
		if got := h.Percentile(p); got != want {
			t.Errorf("p%v = %d, want %d", p, got, want)
		}
	}
}

func TestTrackerLossDuplicatesOrder(t *testing.T) {
	tr := NewTracker(0, 2)
	rec := func(pub uint32, seq uint64) Outcome {
		return tr.Record(Header{Publisher: pub, Seq: seq}, int64(seq)*1000, seq >= 2)
	}
	// publisher 0 sends 0..9; 4 and 7 are lost, 5 arrives after 6, 3 twice.
	var got []Outcome
	for _, s := range []uint64{0, 1, 2, 3, 3, 6, 5, 8, 9} {
		got = append(got, rec(0, s))
	}
	want := []Outcome{New, New, New, New, Duplicate, New, Reordered, New, New}
	if !slices.Equal(got, want) {
		t.Fatalf("outcomes = %v, want %v", got, want)
	}
	// publisher 2 sends 0..199, all arrive; one far beyond the bitset's start
	for s := uint64(0); s < 200; s++ {
		rec(2, s)
	}
	if rec(1, 0) != Unexpected || rec(9, 0) != Unexpected {
		t.Fatal("messages from publishers not followed should be Unexpected")
	}
	sent := map[uint32]uint64{0: 10, 2: 200}
	tot := tr.Totals(func(p uint32) uint64 { return sent[p] })
	wantTot := Totals{Expected: 210, Received: 208, Duplicates: 1, Reordered: 1, Unexpected: 2}
	if tot != wantTot {
		t.Fatalf("Totals = %+v, want %+v", tot, wantTot)
	}
	if tot.Lost() != 2 || math.Abs(tot.LossPercent()-100*2.0/210) > 1e-9 {
		t.Fatalf("Lost = %d (%.3f%%), want 2", tot.Lost(), tot.LossPercent())
	}
	// latency: recorded for first copies with seq >= 2 only
	if n := tr.Latency.Count(); n != 6+198 {
		t.Fatalf("latency samples = %d, want %d", n, 6+198)
	}
	var sum Totals
	sum.Add(tot)
	sum.Add(tot)
	if sum.Expected != 420 || sum.Lost() != 4 {
		t.Fatalf("Add: %+v", sum)
	}
}
