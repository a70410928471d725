package supervisor

import (
	"testing"
	"time"
)

func TestTokenBucket(t *testing.T) {
	t0 := time.Unix(1000, 0)
	tests := []struct {
		name  string
		rate  float64
		burst int
		at    []time.Duration // offsets from t0 of each take
		want  []bool
	}{
		{"no limit", 0, 1, []time.Duration{0, 0, 0}, []bool{true, true, true}},
		{"burst then refuse", 10, 2, []time.Duration{0, 0, 0}, []bool{true, true, false}},
		{"refill at the rate", 10, 1, []time.Duration{0, 50 * time.Millisecond, 100 * time.Millisecond}, []bool{true, false, true}},
		{"refill never passes the burst", 100, 2, []time.Duration{0, 0, 10 * time.Second, 10 * time.Second, 10 * time.Second}, []bool{true, true, true, true, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newTokenBucket(tt.rate, tt.burst)
			for i, d := range tt.at {
				if got := b.take(t0.Add(d)); got != tt.want[i] {
					t.Fatalf("take %d at +%v = %v, want %v", i, d, got, tt.want[i])
				}
			}
		})
	}
}
