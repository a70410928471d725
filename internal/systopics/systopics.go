package systopics

import (
	"context"
	"math"
	"runtime/debug"
	"strconv"
	"time"
)

// Prefix starts every topic of the package.
const Prefix = "$SYS/broker/"

// Counts are what an engine has counted, at one moment. Counters are
// totals since the broker started.
type Counts struct {
	ClientsConnected    int
	ClientsDisconnected int // persistent sessions whose client is away
	MessagesReceived    uint64
	MessagesSent        uint64
	PublishDropped      uint64
	BytesReceived       uint64
	BytesSent           uint64
	Connects            uint64 // connections accepted
	Subscriptions       int
	RetainedMessages    int
	HeapBytes           uint64
}

// Source reads an engine's counts.
type Source func(ctx context.Context) (Counts, error)

// Message is one $SYS publication: retained, QoS 0.
type Message struct {
	Topic   string
	Payload string
}

// loadPeriods are the load averages' periods, named as in the topics.
var loadPeriods = [...]struct {
	name string
	secs float64
}{{"1min", 60}, {"5min", 300}, {"15min", 900}}

// loadCounter is a counter the loads are taken of.
type loadCounter struct {
	topic string // under load/
	value func(*Counts) uint64
}

var loadCounters = [...]loadCounter{
	{"messages/received", func(c *Counts) uint64 { return c.MessagesReceived }},
	{"messages/sent", func(c *Counts) uint64 { return c.MessagesSent }},
	{"bytes/received", func(c *Counts) uint64 { return c.BytesReceived }},
	{"bytes/sent", func(c *Counts) uint64 { return c.BytesSent }},
	{"publish/dropped", func(c *Counts) uint64 { return c.PublishDropped }},
	{"connections", func(c *Counts) uint64 { return c.Connects }},
}

// Publisher turns counts into $SYS messages, keeping what the topics need
// between refreshes: the maximum of connected clients, the load averages,
// and the payloads last published.
type Publisher struct {
	version string
	started time.Time

	maxClients int
	loads      [len(loadCounters)][len(loadPeriods)]float64
	prev       Counts
	prevAt     time.Time
	last       map[string]string
}

// NewPublisher returns a publisher for a broker started at started.
func NewPublisher(started time.Time) *Publisher {
	return &Publisher{version: "forkmq version " + Version(), started: started, last: make(map[string]string)}
}

// Messages returns the messages a refresh at now publishes: the topics
// whose payload differs from the last refresh's (every one the first
// time).
func (p *Publisher) Messages(c Counts, now time.Time) []Message {
	p.maxClients = max(p.maxClients, c.ClientsConnected)
	if !p.prevAt.IsZero() && now.After(p.prevAt) {
		dt := now.Sub(p.prevAt).Seconds()
		for i, lc := range loadCounters {
			cur, before := lc.value(&c), lc.value(&p.prev)
			var perMinute float64
			if cur >= before {
				perMinute = float64(cur-before) * 60 / dt
			}
			for j, per := range loadPeriods {
				e := math.Exp(-dt / per.secs)
				p.loads[i][j] = p.loads[i][j]*e + perMinute*(1-e)
			}
		}
	}
	p.prev, p.prevAt = c, now

	u := func(n uint64) string { return strconv.FormatUint(n, 10) }
	i := strconv.Itoa
	all := []Message{
		{"version", p.version},
		{"uptime", strconv.FormatInt(int64(now.Sub(p.started)/time.Second), 10) + " seconds"},
		{"clients/connected", i(c.ClientsConnected)},
		{"clients/disconnected", i(c.ClientsDisconnected)},
		{"clients/total", i(c.ClientsConnected + c.ClientsDisconnected)},
		{"clients/maximum", i(p.maxClients)},
		{"messages/received", u(c.MessagesReceived)},
		{"messages/sent", u(c.MessagesSent)},
		{"publish/messages/received", u(c.MessagesReceived)},
		{"publish/messages/sent", u(c.MessagesSent)},
		{"publish/messages/dropped", u(c.PublishDropped)},
		{"bytes/received", u(c.BytesReceived)},
		{"bytes/sent", u(c.BytesSent)},
		{"subscriptions/count", i(c.Subscriptions)},
		{"retained messages/count", i(c.RetainedMessages)},
		{"heap/current", u(c.HeapBytes)},
	}
	for k, lc := range loadCounters {
		for j, per := range loadPeriods {
			all = append(all, Message{"load/" + lc.topic + "/" + per.name, strconv.FormatFloat(p.loads[k][j], 'f', 2, 64)})
		}
	}
	out := all[:0]
	for _, m := range all {
		m.Topic = Prefix + m.Topic
		if p.last[m.Topic] == m.Payload {
			continue
		}
		p.last[m.Topic] = m.Payload
		out = append(out, m)
	}
	return out
}

// Topics returns every topic the publisher has published, for an engine
// that removes its retained $SYS messages when it stops.
func (p *Publisher) Topics() []string {
	out := make([]string, 0, len(p.last))
	for t := range p.last {
		out = append(out, t)
	}
	return out
}

// Run refreshes $SYS at once and then every interval() until ctx ends,
// reading counts from src and publishing each message with publish.
// interval is asked before each wait, so a SIGHUP's new sys_interval
// applies from the next refresh; 0 stops the loop. A refresh that fails
// is reported to failed and the loop goes on.
func (p *Publisher) Run(ctx context.Context, interval func() time.Duration, src Source, publish func(Message) error, failed func(error)) {
	for {
		c, err := src(ctx)
		if err == nil {
			for _, m := range p.Messages(c, time.Now()) {
				if err = publish(m); err != nil {
					break
				}
			}
		}
		if err != nil && ctx.Err() == nil {
			failed(err)
		}
		d := interval()
		if d <= 0 {
			return
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// Version is the broker's version: the VCS revision it was built from
// (with "+dirty" for uncommitted changes), or "devel".
func Version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	rev, dirty := "", false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "devel"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if dirty {
		rev += "+dirty"
	}
	return rev
}
