package supervisor

import (
	"testing"
	"time"

	"github.com/forkmq/forkmq/internal/mosqconf"
)

// TestNextDelay: a bridge process that ends again and again is started
// after waits doubling from restart_timeout's base up to its cap; a
// constant restart_timeout stays constant.
func TestNextDelay(t *testing.T) {
	s := time.Second
	tests := []struct {
		name    string
		backoff mosqconf.Backoff
		want    []time.Duration // the waits, from the base
	}{
		{"base and cap", mosqconf.Backoff{Base: s, Cap: 10 * s}, []time.Duration{s, 2 * s, 4 * s, 8 * s, 10 * s, 10 * s}},
		{"mosquitto's default", mosqconf.DefaultBackoff, []time.Duration{5 * s, 10 * s, 20 * s, 30 * s, 30 * s}},
		{"constant", mosqconf.Backoff{Base: 5 * s}, []time.Duration{5 * s, 5 * s, 5 * s}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := tt.backoff.Base
			for i, want := range tt.want {
				if d != want {
					t.Fatalf("wait %d = %v, want %v", i, d, want)
				}
				d = nextDelay(tt.backoff, d)
			}
		})
	}
}
