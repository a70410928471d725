package scenario

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/forkmq/forkmq/bench/internal/tally"
	"github.com/forkmq/forkmq/internal/rawmqtt"
)

// wiring says who publishes where and who follows whom.
type wiring struct {
	pubTopics  []string   // topic of each publisher
	subFilters []string   // filter of each subscriber
	subFollows [][]uint32 // publishers each subscriber should hear
}

// flow is a set of connected publishers and subscribers and the accounting
// of the messages between them, shared by every scenario that publishes.
type flow struct {
	t     Target
	qos   byte
	clock tally.Clock
	pubs  []*publisher
	subs  []*subscriber
	// Latency is recorded for messages stamped in [from, to) (clock ns).
	from, to atomic.Int64
	// windowed: publishers wait for deliveries (the probe), so every
	// first delivery wakes its publisher.
	windowed bool
	// grace bounds how long past the end of publishing a publisher may
	// stay blocked in a write (a broker that stopped reading).
	grace time.Duration
	// inflight bounds a QoS 1 publisher's messages not yet acknowledged.
	inflight int64

	// downgraded counts subscriptions granted a lower QoS than asked.
	downgraded int

	wg       sync.WaitGroup // readers
	stopping atomic.Bool
	errMu    sync.Mutex
	err      error // first reader failure
}

type publisher struct {
	id        uint32
	conn      *rawmqtt.Conn
	topic     string
	subs      int64 // subscribers that follow it
	sent      atomic.Int64
	acked     atomic.Int64  // PUBACKs (QoS 1)
	delivered atomic.Int64  // first copies received, over all its subscribers
	wake      chan struct{} // a delivery (windowed flows)
	ackWake   chan struct{} // a PUBACK
	head      [tally.HeaderSize]byte
	stalls    int
	lag       *tally.Histogram // paced: how late the generator sent
}

type subscriber struct {
	conn     *rawmqtt.Conn
	tracker  *tally.Tracker
	received atomic.Int64 // every PUBLISH, duplicates included
}

// newFlow connects the subscribers (and subscribes them) first, then the
// publishers, and starts a reader per connection.
func newFlow(ctx context.Context, t Target, w wiring, qos byte, conc int) (*flow, error) {
	f := &flow{t: t, qos: qos, clock: tally.NewClock(), grace: 30 * time.Second, inflight: maxUnacked}
	f.from.Store(1<<63 - 1)
	f.to.Store(1<<63 - 1)
	opts := func(role string) func(int) rawmqtt.Options {
		return func(i int) rawmqtt.Options {
			return rawmqtt.Options{ClientID: fmt.Sprintf("%s-%s%d", t.Prefix, role, i)}
		}
	}
	subConns, err := dialAll(ctx, t.Addr, len(w.subFilters), conc, opts("s"), nil)
	if err != nil {
		closeAll(subConns)
		return nil, err
	}
	for i, c := range subConns {
		codes, err := c.Subscribe(1, qos, w.subFilters[i])
		if err == nil && codes[0] == rawmqtt.SubackFailure {
			err = fmt.Errorf("broker refused subscription to %q", w.subFilters[i])
		}
		if err != nil {
			closeAll(subConns)
			return nil, fmt.Errorf("subscriber %d: %w", i, err)
		}
		if codes[0] < qos {
			f.downgraded++
		}
		f.subs = append(f.subs, &subscriber{conn: c, tracker: tally.NewTracker(w.subFollows[i]...)})
	}
	pubConns, err := dialAll(ctx, t.Addr, len(w.pubTopics), conc, opts("p"), nil)
	if err != nil {
		closeAll(subConns)
		closeAll(pubConns)
		return nil, err
	}
	for i, c := range pubConns {
		limitSendBuffer(c)
		f.pubs = append(f.pubs, &publisher{id: uint32(i), conn: c, topic: w.pubTopics[i],
			wake: make(chan struct{}, 1), ackWake: make(chan struct{}, 1), lag: tally.NewHistogram()})
	}
	for _, follows := range w.subFollows {
		for _, p := range follows {
			f.pubs[p].subs++
		}
	}
	for _, s := range f.subs {
		f.wg.Add(1)
		go f.readSubscriber(s)
	}
	for _, p := range f.pubs {
		f.wg.Add(1)
		go f.readPublisher(p)
	}
	return f, nil
}

// publisherSendBuffer is the kernel send buffer of a publisher's socket.
// Left to autotuning it grows to megabytes on loopback: a publisher at full
// speed would bury tens of thousands of messages in it, which the broker
// then takes seconds to work through after the measurement (and a latency
// measured through it is the generator's queue, not the broker's). With it
// bounded, what bounds a publisher is still TCP: the broker's reading.
const publisherSendBuffer = 64 << 10

func limitSendBuffer(c *rawmqtt.Conn) {
	if tc, ok := c.NetConn().(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(publisherSendBuffer)
	}
}

// measure sets the window of send stamps whose latency is recorded.
func (f *flow) measure(from, to time.Time) {
	f.from.Store(f.clock.At(from))
	f.to.Store(f.clock.At(to))
}

func (f *flow) fail(who string, err error) {
	if f.stopping.Load() {
		return
	}
	f.errMu.Lock()
	defer f.errMu.Unlock()
	if f.err == nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.ECONNRESET) {
			err = fmt.Errorf("%w: %w", errClosedByBroker, err)
		}
		f.err = fmt.Errorf("%s: %w", who, err)
	}
}

// Err returns the first failure of a connection during the run.
func (f *flow) Err() error {
	f.errMu.Lock()
	defer f.errMu.Unlock()
	return f.err
}

func (f *flow) readSubscriber(s *subscriber) {
	defer f.wg.Done()
	// Serve acknowledges each QoS 1 PUBLISH, flushing once a burst.
	err := s.conn.Serve(func(p *rawmqtt.Packet) error {
		if p.Type() != rawmqtt.TypePublish {
			return nil
		}
		payload, err := p.Payload()
		if err != nil {
			return err
		}
		s.received.Add(1)
		h, err := tally.ParseHeader(payload)
		if err != nil {
			s.tracker.Record(tally.Header{Publisher: 1<<32 - 1}, 0, false) // counts as unexpected
			return nil
		}
		now := f.clock.Now()
		measure := h.Sent >= f.from.Load() && h.Sent < f.to.Load()
		switch s.tracker.Record(h, now-h.Sent, measure) {
		case tally.New, tally.Reordered:
			pub := f.pubs[h.Publisher]
			pub.delivered.Add(1)
			if f.windowed {
				select {
				case pub.wake <- struct{}{}:
				default:
				}
			}
		}
		return nil
	})
	f.fail("subscriber", err)
}

func (f *flow) readPublisher(p *publisher) {
	defer f.wg.Done()
	err := p.conn.Serve(func(pkt *rawmqtt.Packet) error {
		if pkt.Type() == rawmqtt.TypePuback {
			p.acked.Add(1)
			select {
			case p.ackWake <- struct{}{}:
			default:
			}
		}
		return nil
	})
	f.fail(fmt.Sprintf("publisher %d", p.id), err)
}

// publish buffers the publisher's next message stamped with sent (clock
// ns): its header and filler.
func (f *flow) publish(p *publisher, filler []byte, sent int64) error {
	seq := p.sent.Load()
	tally.Header{Publisher: p.id, Seq: uint64(seq), Sent: sent}.Put(p.head[:])
	err := p.conn.BufferPublish(p.topic, f.qos, uint16(seq%65535)+1, p.head[:], filler)
	p.sent.Add(1)
	return err
}

// maxUnacked is the most QoS 1 PUBLISHes a publisher can have without
// PUBACK: the 65,535 packet identifiers [MQTT-2.3.1-2], less a margin.
const maxUnacked = 60_000

// waitAcks blocks while the publisher has f.inflight QoS 1 messages
// unacknowledged.
func (f *flow) waitAcks(ctx context.Context, p *publisher) error {
	for f.qos > 0 && p.sent.Load()-p.acked.Load() >= f.inflight {
		if err := p.conn.Flush(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-p.ackWake:
		case <-time.After(100 * time.Millisecond):
			if f.Err() != nil {
				return f.Err()
			}
		}
	}
	return nil
}

// pumpOpen publishes as fast as the connection takes messages until the
// deadline: the open loop. Writes go through the connection's buffer, so
// what bounds the publisher is TCP: a broker that stops reading stops it.
func (f *flow) pumpOpen(ctx context.Context, p *publisher, filler []byte, until time.Time) error {
	_ = p.conn.NetConn().SetWriteDeadline(until.Add(f.grace))
	for i := 0; ; i++ {
		if i%16 == 0 && (!time.Now().Before(until) || ctx.Err() != nil) {
			break
		}
		if err := f.waitAcks(ctx, p); err != nil {
			return err
		}
		if err := f.publish(p, filler, f.clock.Now()); err != nil {
			return err
		}
	}
	return p.conn.Flush()
}

// pumpPaced publishes at a fixed rate from start until the deadline. Each
// message is stamped with the time it was due, not the time it left, so a
// publisher held back by a slow broker counts the wait as latency (no
// coordinated omission); but a message that fell due while the publisher
// slept is stamped with the wake-up, so the generator's timer resolution
// (about 1 ms here) is not charged to the broker. How late the generator
// itself was is kept in p.lag.
func (f *flow) pumpPaced(ctx context.Context, p *publisher, filler []byte, rate float64, start, until time.Time) error {
	_ = p.conn.NetConn().SetWriteDeadline(until.Add(f.grace))
	interval := float64(time.Second) / rate
	base := f.clock.At(start)
	end := f.clock.At(until)
	woke := int64(0)
	for seq := int64(0); ; seq++ {
		due := base + int64(float64(seq)*interval)
		if due >= end || ctx.Err() != nil {
			break
		}
		if now := f.clock.Now(); due > now {
			if err := p.conn.Flush(); err != nil {
				return err
			}
			if sleepUntil(ctx, f.clock.Time(due)) != nil {
				break
			}
			woke = f.clock.Now()
		}
		if err := f.waitAcks(ctx, p); err != nil {
			return err
		}
		stamp := max(due, woke)
		p.lag.Record(f.clock.Now() - due)
		if err := f.publish(p, filler, stamp); err != nil {
			return err
		}
	}
	return p.conn.Flush()
}

// stallAfter is how long a windowed publisher waits for any progress of
// its window before it writes the outstanding messages off (they are lost
// or very late; the loss count will tell) and goes on.
const stallAfter = time.Second

// pumpWindow publishes while fewer than window messages per subscriber are
// undelivered: the closed loop of the latency probe.
func (f *flow) pumpWindow(ctx context.Context, p *publisher, filler []byte, window int64, until time.Time) error {
	var forgiven int64
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for time.Now().Before(until) {
		for p.subs > 0 && p.sent.Load()*p.subs-p.delivered.Load()-forgiven >= window*p.subs {
			if err := p.conn.Flush(); err != nil {
				return err
			}
			timer.Reset(min(stallAfter, max(time.Until(until), time.Millisecond)))
			select {
			case <-ctx.Done():
				return nil
			case <-p.wake:
			case <-timer.C:
				if !time.Now().Before(until) {
					return p.conn.Flush()
				}
				p.stalls++
				forgiven = p.sent.Load()*p.subs - p.delivered.Load()
			}
			timer.Stop() // since Go 1.23 a stopped timer delivers nothing stale
		}
		if err := f.publish(p, filler, f.clock.Now()); err != nil {
			return err
		}
	}
	return p.conn.Flush()
}

// runPublishers runs pump for every publisher on its own goroutine and
// returns a function that waits for them all.
func (f *flow) runPublishers(pump func(p *publisher) error) (wait func()) {
	var wg sync.WaitGroup
	for _, p := range f.pubs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := pump(p); err != nil {
				f.fail(fmt.Sprintf("publisher %d", p.id), err)
			}
		}()
	}
	return wg.Wait
}

// expected returns the deliveries the run should see: each message once to
// each subscriber that follows its publisher.
func (f *flow) expected() (want, got int64) {
	for _, p := range f.pubs {
		want += p.sent.Load() * p.subs
		got += p.delivered.Load()
	}
	return want, got
}

// drain waits until every message sent has arrived and (QoS 1) every PUBACK
// too, or until nothing has moved for quiet, or for longest at most.
func (f *flow) drain(ctx context.Context, quiet, longest time.Duration) {
	progress := func() (done bool, moved int64) {
		want, got := f.expected()
		var unacked int64
		if f.qos > 0 {
			for _, p := range f.pubs {
				unacked += p.sent.Load() - p.acked.Load()
			}
		}
		return got >= want && unacked <= 0, got - unacked
	}
	start := time.Now()
	last, lastMove := int64(-1), time.Now()
	for {
		done, moved := progress()
		if done || ctx.Err() != nil || f.Err() != nil || time.Since(start) > longest {
			return
		}
		if moved != last {
			last, lastMove = moved, time.Now()
		} else if time.Since(lastMove) > quiet {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// outcome is a flow's accounting at its end.
type outcome struct {
	tot     tally.Totals
	lat     *tally.Histogram
	lag     *tally.Histogram // paced publishers' lateness
	unacked int64
	stalls  int
}

// finish disconnects every client (all at once: a DISCONNECT may wait up
// to two seconds behind a full socket), waits for the readers and returns
// the run's accounting. At QoS 1 a message counts as expected once the
// broker acknowledged it: one it never acknowledged was never its to lose
// (those are counted as unacked).
func (f *flow) finish() outcome {
	f.stopping.Store(true)
	var wg sync.WaitGroup
	for _, p := range f.pubs {
		wg.Add(1)
		go func() { defer wg.Done(); p.conn.Disconnect() }()
	}
	for _, s := range f.subs {
		wg.Add(1)
		go func() { defer wg.Done(); s.conn.Disconnect() }()
	}
	wg.Wait()
	f.wg.Wait()
	o := outcome{lat: tally.NewHistogram(), lag: tally.NewHistogram()}
	sent := func(p uint32) uint64 {
		if f.qos > 0 {
			return uint64(f.pubs[p].acked.Load())
		}
		return uint64(f.pubs[p].sent.Load())
	}
	for _, s := range f.subs {
		o.tot.Add(s.tracker.Totals(sent))
		o.lat.Merge(s.tracker.Latency)
	}
	for _, p := range f.pubs {
		if f.qos > 0 {
			o.unacked += max(0, p.sent.Load()-p.acked.Load())
		}
		o.stalls += p.stalls
		o.lag.Merge(p.lag)
	}
	return o
}

// snapshot is one reading of the broker and the generator.
type snapshot struct {
	at        time.Time
	cpu       float64 // broker tree CPU seconds
	genCPU    float64 // this process's CPU seconds (the load generator)
	packets   int64   // generator packets sent plus received
	delivered int64   // PUBLISH received by subscribers
	sent      int64   // PUBLISH sent by publishers
}

func (f *flow) snap() (snapshot, error) {
	s, err := cpuSnapshot(f.t)
	for _, p := range f.pubs {
		s.packets += p.conn.Counters().Packets()
		s.sent += p.sent.Load()
	}
	for _, sub := range f.subs {
		s.packets += sub.conn.Counters().Packets()
		s.delivered += sub.received.Load()
	}
	return s, err
}

// rateMetrics adds the rates between two snapshots.
func rateMetrics(m map[string]float64, a, b snapshot) {
	dt := b.at.Sub(a.at).Seconds()
	if dt <= 0 {
		return
	}
	delivered := b.delivered - a.delivered
	m["msgs_per_s"] = float64(delivered) / dt
	m["sent_per_s"] = float64(b.sent-a.sent) / dt
	m["packets_per_s"] = float64(b.packets-a.packets) / dt
	m["cpu_s"] = b.cpu - a.cpu
	m["cpu_pct"] = 100 * m["cpu_s"] / dt
	m["gen_cpu_pct"] = 100 * (b.genCPU - a.genCPU) / dt
	if delivered > 0 {
		m["cpu_s_per_million"] = m["cpu_s"] / float64(delivered) * 1e6
	}
}

// selfCPU returns the CPU seconds this process has used.
func selfCPU() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// randomBytes returns n random bytes.
func randomBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// latencyMetrics adds the percentiles of h, in milliseconds.
func latencyMetrics(m map[string]float64, h *tally.Histogram) {
	if h.Count() == 0 {
		return
	}
	m["latency_p50_ms"] = ms(h.Percentile(50))
	m["latency_p99_ms"] = ms(h.Percentile(99))
	m["latency_p999_ms"] = ms(h.Percentile(99.9))
	m["latency_max_ms"] = ms(h.Max())
}

// accountingMetrics adds loss, duplicates and order.
func (f *flow) accountingMetrics(m map[string]float64, o outcome) {
	m["qos_downgraded"] = float64(f.downgraded)
	m["loss_pct"] = o.tot.LossPercent()
	m["lost"] = float64(o.tot.Lost())
	m["duplicates"] = float64(o.tot.Duplicates)
	m["reordered"] = float64(o.tot.Reordered)
	m["unexpected"] = float64(o.tot.Unexpected)
	if f.qos > 0 {
		m["unacked"] = float64(o.unacked)
	}
}

// result closes a flow's run: ok, or what went wrong, with the metrics.
func (f *flow) result(ctx context.Context, m map[string]float64, errs ...error) Result {
	res := Result{Status: StatusOK, Metrics: m}
	if err := firstErr(append([]error{ctx.Err()}, append(errs, f.Err(), f.t.Exited())...)...); err != nil {
		fr := failure(f.t, err, m)
		res.Status, res.Error = fr.Status, fr.Error
	}
	return res
}
