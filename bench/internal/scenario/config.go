package scenario

import "time"

// Config sizes every scenario. Full, Quick and Smoke are the three presets.
type Config struct {
	// Sample is the period of the CPU and packet-rate time series.
	Sample time.Duration
	// Drain is how long a run waits, after its publishers stop, for
	// messages still on their way before it counts the rest as lost.
	Drain time.Duration

	SeedWarmup, SeedDuration time.Duration
	SeedPairs                []int // publisher+subscriber pairs per case; 0 is the idle broker
	SeedQoS                  byte
	SeedRate                 float64 // messages per second per publisher

	ThroughputWarmup, ThroughputDuration time.Duration
	Topologies                           []Topology
	QoS                                  []byte
	Payloads                             []int
	Window                               int // messages in flight towards each subscriber
	// ThroughputSmoke runs each topology once only, alternating QoS and
	// payload, instead of every combination.
	ThroughputSmoke bool

	ConnectWarmup, ConnectDuration time.Duration
	ConnectConcurrency             int

	ScaleLevels      []int
	ScaleConcurrency int
	ScaleSettle      time.Duration
}

// Full is the configuration of a complete benchmark.
func Full() Config {
	return Config{
		Sample: time.Second, Drain: 3 * time.Second,
		SeedWarmup: 5 * time.Second, SeedDuration: 60 * time.Second,
		SeedPairs: []int{0, 1, 50}, SeedQoS: 1, SeedRate: 1,
		ThroughputWarmup: 2 * time.Second, ThroughputDuration: 10 * time.Second,
		Topologies: Topologies, QoS: []byte{0, 1}, Payloads: []int{64, 16 << 10}, Window: 64,
		ConnectWarmup: time.Second, ConnectDuration: 10 * time.Second, ConnectConcurrency: 4,
		ScaleLevels: []int{100, 1000, 5000}, ScaleConcurrency: 16, ScaleSettle: 3 * time.Second,
	}
}

// Quick shortens every duration of Full, for a first look.
func Quick() Config {
	c := Full()
	c.Drain = 2 * time.Second
	c.SeedWarmup, c.SeedDuration = time.Second, 10*time.Second
	c.ThroughputWarmup, c.ThroughputDuration = 500*time.Millisecond, 3*time.Second
	c.ConnectWarmup, c.ConnectDuration = 500*time.Millisecond, 3*time.Second
	c.ScaleSettle = time.Second
	return c
}

// Smoke runs every scenario for about a second, to prove the harness works.
func Smoke() Config {
	c := Full()
	c.Sample, c.Drain = 250*time.Millisecond, time.Second
	c.SeedWarmup, c.SeedDuration, c.SeedPairs, c.SeedRate = 200*time.Millisecond, time.Second, []int{0, 5}, 4
	c.ThroughputWarmup, c.ThroughputDuration, c.ThroughputSmoke = 100*time.Millisecond, 300*time.Millisecond, true
	c.ConnectWarmup, c.ConnectDuration = 100*time.Millisecond, 500*time.Millisecond
	c.ScaleLevels, c.ScaleSettle = []int{20}, 200*time.Millisecond
	return c
}
