package scenario

import (
	"fmt"
	"time"
)

// Config sizes every scenario. Full, Quick and Smoke are the three presets.
type Config struct {
	// Sample is the period of the seed's CPU time series.
	Sample time.Duration
	// Drain is how long a run waits, after its publishers stop, for
	// messages still on their way while none arrives, before it counts
	// the rest as lost; DrainMax bounds the whole wait (a broker that
	// queued a long backlog may still be delivering it).
	Drain, DrainMax time.Duration

	SeedWarmup, SeedDuration time.Duration
	SeedPairs                []int // publisher+subscriber pairs per case; 0 is the idle broker
	SeedQoS                  byte
	SeedRate                 float64 // messages per second per publisher

	// Capacity: publishers at full speed.
	CapacityWarmup, CapacityDuration time.Duration
	CapacityFlows                    []Flow
	// Inflight is the most QoS 1 messages a publisher of the capacity,
	// latency and probe scenarios leaves unacknowledged (a client
	// library's in-flight window; without one, 100 publishers bury a
	// broker under hundreds of thousands of messages it has not
	// acknowledged, which no real client does).
	Inflight int

	// Latency: publishers at fixed offered rates, given as fractions of
	// the broker's capacity for the same flow and as absolute rates
	// (deliveries per second) shared by every broker.
	LatencyWarmup, LatencyDuration time.Duration
	LatencyFlows                   []Flow
	LatencyFractions               []float64
	LatencyRates                   []float64

	// Probe: the closed-window latency probe, Window messages in flight
	// per publisher and subscriber.
	ProbeWarmup, ProbeDuration time.Duration
	ProbeFlows                 []Flow
	Window                     int

	// Burst: BurstPublishers publishers each send BurstMessages QoS 1
	// messages at once into one subscriber.
	BurstPublishers, BurstMessages int

	ConnectWarmup, ConnectDuration time.Duration
	ConnectConcurrency             int

	// Takeover: a client id taken over Takeovers times in a row.
	Takeovers int

	// Hostile: HostileConnections malformed connections in a row, for at
	// most HostileLimit, while HostilePairs publisher+subscriber pairs
	// publish HostileRate QoS 1 messages a second each.
	HostileConnections int
	HostileLimit       time.Duration
	HostilePairs       int
	HostileRate        float64

	ScaleLevels      []int
	ScaleConcurrency int
	ScaleSettle      time.Duration
	// IdleDuration is how long the idle clients' CPU is measured.
	IdleDuration time.Duration

	// CrossCheckMessages is how many messages the cross-check's
	// mosquitto_pub sends.
	CrossCheckMessages int
}

// Flow is one shape of traffic: a topology, a QoS and a payload size.
type Flow struct {
	Topology string `json:"topology"` // a Topologies name
	QoS      byte   `json:"qos"`
	Payload  int    `json:"payload"`
}

// Name is the flow's name in file names: 1to1-q0-64B.
func (f Flow) Name() string { return fmt.Sprintf("%s-q%d-%dB", f.Topology, f.QoS, f.Payload) }

// Label is the flow's name in tables: 1→1 QoS 0 64 B.
func (f Flow) Label() string {
	return fmt.Sprintf("%s QoS %d %s", topology(f.Topology).Label, f.QoS, payloadLabel(f.Payload))
}

func flows(topologies []string, qos []byte, payloads []int) []Flow {
	var fs []Flow
	for _, t := range topologies {
		for _, q := range qos {
			for _, p := range payloads {
				fs = append(fs, Flow{t, q, p})
			}
		}
	}
	return fs
}

// Full is the configuration of a complete benchmark (about two hours with
// five brokers and three repetitions).
func Full() Config {
	every := []string{"1to1", "10to10", "1to100", "100to1"}
	return Config{
		Sample: time.Second, Drain: 2 * time.Second, DrainMax: 30 * time.Second,
		SeedWarmup: 3 * time.Second, SeedDuration: 30 * time.Second,
		SeedPairs: []int{0, 1, 50}, SeedQoS: 1, SeedRate: 1,
		CapacityWarmup: time.Second, CapacityDuration: 5 * time.Second, Inflight: 100,
		CapacityFlows: append(flows(every, []byte{0, 1}, []int{64}), flows([]string{"1to1"}, []byte{0, 1}, []int{16 << 10})...),
		LatencyWarmup: time.Second, LatencyDuration: 4 * time.Second,
		LatencyFlows:     []Flow{{"1to1", 0, 64}, {"100to1", 1, 64}},
		LatencyFractions: []float64{0.1, 0.5, 0.9},
		LatencyRates:     []float64{1000, 20000},
		ProbeWarmup:      time.Second, ProbeDuration: 4 * time.Second,
		ProbeFlows: flows([]string{"1to1"}, []byte{0, 1}, []int{64}), Window: 64,
		BurstPublishers: 100, BurstMessages: 200,
		ConnectWarmup: time.Second, ConnectDuration: 10 * time.Second, ConnectConcurrency: 8,
		Takeovers:          200,
		HostileConnections: 5000, HostileLimit: 60 * time.Second, HostilePairs: 10, HostileRate: 100,
		ScaleLevels: []int{100, 1000, 5000}, ScaleConcurrency: 16, ScaleSettle: 2 * time.Second, IdleDuration: 20 * time.Second,
		CrossCheckMessages: 300_000,
	}
}

// Quick shortens every duration of Full, for a first look.
func Quick() Config {
	c := Full()
	c.SeedWarmup, c.SeedDuration = time.Second, 10*time.Second
	c.CapacityWarmup, c.CapacityDuration = 500*time.Millisecond, 3*time.Second
	c.LatencyWarmup, c.LatencyDuration = 500*time.Millisecond, 2*time.Second
	c.ProbeWarmup, c.ProbeDuration = 500*time.Millisecond, 2*time.Second
	c.ConnectWarmup, c.ConnectDuration = 500*time.Millisecond, 3*time.Second
	c.Takeovers, c.HostileConnections, c.HostileLimit = 50, 1000, 20*time.Second
	c.ScaleSettle, c.IdleDuration = time.Second, 5*time.Second
	c.CrossCheckMessages = 100_000
	return c
}

// Smoke runs every scenario for about a second, to prove the harness works.
func Smoke() Config {
	c := Full()
	c.Sample, c.Drain, c.DrainMax = 250*time.Millisecond, time.Second, 5*time.Second
	c.SeedWarmup, c.SeedDuration, c.SeedPairs, c.SeedRate = 200*time.Millisecond, time.Second, []int{0, 5}, 4
	c.CapacityWarmup, c.CapacityDuration = 100*time.Millisecond, 300*time.Millisecond
	// each topology once; QoS and payload alternate
	c.CapacityFlows = []Flow{{"1to1", 0, 64}, {"10to10", 1, 64}, {"1to100", 0, 16 << 10}, {"100to1", 1, 64}}
	c.LatencyWarmup, c.LatencyDuration = 100*time.Millisecond, 300*time.Millisecond
	c.LatencyFlows, c.LatencyFractions, c.LatencyRates = []Flow{{"1to1", 0, 64}}, []float64{0.5}, []float64{1000}
	c.ProbeWarmup, c.ProbeDuration, c.ProbeFlows = 100*time.Millisecond, 300*time.Millisecond, []Flow{{"1to1", 1, 64}}
	c.BurstPublishers, c.BurstMessages = 10, 20
	c.ConnectWarmup, c.ConnectDuration = 100*time.Millisecond, 500*time.Millisecond
	c.Takeovers = 5
	c.HostileConnections, c.HostileLimit, c.HostilePairs, c.HostileRate = 20, 5*time.Second, 2, 20
	c.ScaleLevels, c.ScaleSettle, c.IdleDuration = []int{20}, 200*time.Millisecond, 500*time.Millisecond
	c.CrossCheckMessages = 2000
	return c
}
