package tally

import (
	"math"
	"math/bits"
	"time"
)

// The histogram is log-linear: values below 2^(subBits+1) have a bucket
// each; above, every power of two is split into 2^subBits buckets, so a
// bucket is at most 1/128 (0.8 %) of its values wide. Memory is fixed.
const (
	subBits    = 7
	subCount   = 1 << subBits
	numBuckets = (64 - subBits) * subCount
)

// Histogram records non-negative durations (in nanoseconds) for percentiles.
// It is not safe for concurrent use: give each goroutine its own and Merge.
type Histogram struct {
	counts   []uint64
	n        uint64
	sum      float64
	min, max int64
}

// NewHistogram returns an empty histogram.
func NewHistogram() *Histogram {
	return &Histogram{counts: make([]uint64, numBuckets), min: math.MaxInt64}
}

func bucketOf(v int64) int {
	u := uint64(v)
	if u < 2*subCount {
		return int(u)
	}
	shift := bits.Len64(u) - (subBits + 1)
	return (shift+1)<<subBits + int(u>>shift) - subCount
}

// bucketRange returns the smallest value of bucket i and the bucket's width.
func bucketRange(i int) (lo, width int64) {
	if i < 2*subCount {
		return int64(i), 1
	}
	shift := i>>subBits - 1
	return int64(i&(subCount-1)+subCount) << shift, 1 << shift
}

// Record adds one value; negative values count as 0.
func (h *Histogram) Record(v int64) {
	v = max(v, 0)
	h.counts[bucketOf(v)]++
	h.n++
	h.sum += float64(v)
	h.min = min(h.min, v)
	h.max = max(h.max, v)
}

// Merge adds o's values to h.
func (h *Histogram) Merge(o *Histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.sum += o.sum
	h.min = min(h.min, o.min)
	h.max = max(h.max, o.max)
}

// Count returns the number of values recorded.
func (h *Histogram) Count() uint64 { return h.n }

// Max returns the largest value (0 when empty).
func (h *Histogram) Max() int64 {
	if h.n == 0 {
		return 0
	}
	return h.max
}

// Mean returns the mean value (0 when empty).
func (h *Histogram) Mean() float64 {
	if h.n == 0 {
		return 0
	}
	return h.sum / float64(h.n)
}

// Percentile returns the value below or at which p percent of the values lie
// (nearest rank), to within a bucket's width; the middle of the bucket,
// clamped to the recorded minimum and maximum. Empty: 0.
func (h *Histogram) Percentile(p float64) int64 {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(p / 100 * float64(h.n)))
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			lo, w := bucketRange(i)
			return min(max(lo+(w-1)/2, h.min), h.max)
		}
	}
	return h.max
}

// Duration is Percentile as a time.Duration.
func (h *Histogram) Duration(p float64) time.Duration { return time.Duration(h.Percentile(p)) }
