package admission

import (
	"bufio"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// TestGateRate: -max-accept-rate as a token bucket of -accept-burst.
func TestGateRate(t *testing.T) {
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
			g := NewGate(tt.rate, tt.burst, 1000)
			for i, d := range tt.at {
				err := g.Admit(t0.Add(d), 0)
				if got := err == nil; got != tt.want[i] {
					t.Fatalf("connection %d at +%v admitted = %v, want %v (%v)", i, d, got, tt.want[i], err)
				}
				var le *LimitError
				if err != nil && (!errors.As(err, &le) || le.Limit != "-max-accept-rate") {
					t.Errorf("refusal %v does not name -max-accept-rate", err)
				}
			}
		})
	}
}

// TestGateClients: -max-clients refuses the connection past it.
func TestGateClients(t *testing.T) {
	g := NewGate(0, 1, 2)
	if err := g.Admit(time.Now(), 1); err != nil {
		t.Fatalf("second client refused: %v", err)
	}
	var le *LimitError
	if err := g.Admit(time.Now(), 2); !errors.As(err, &le) || le.Limit != "-max-clients" || le.Fix == "" {
		t.Fatalf("third client: %v, want a -max-clients refusal with a fix", err)
	}
}

// TestRefuse: CONNACK 3 [MQTT-3.2.2-6: a non-zero code, then the close], one
// log line a second per limit, the refusals in between counted.
func TestRefuse(t *testing.T) {
	var log strings.Builder
	r := NewRefuser(zerolog.New(&log))
	for i := range 3 {
		server, client := net.Pipe()
		r.Refuse(server, &LimitError{Limit: "-max-clients", Fix: "raise it", Err: errors.New("full")})
		got := make([]byte, 4)
		if _, err := bufio.NewReader(client).Read(got); err != nil {
			t.Fatalf("refusal %d: %v", i, err)
		}
		if string(got) != "\x20\x02\x00\x03" {
			t.Errorf("refusal %d wrote % x, want CONNACK 3", i, got)
		}
		client.Close()
	}
	if n := strings.Count(log.String(), "client refused"); n != 1 {
		t.Errorf("%d log lines for 3 refusals within a second, want 1:\n%s", n, log.String())
	}
	if !strings.Contains(log.String(), `"limit":"-max-clients"`) || !strings.Contains(log.String(), `"fix":"raise it"`) {
		t.Errorf("the line does not name the limit and the fix: %s", log.String())
	}
}
