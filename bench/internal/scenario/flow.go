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
	"github.com/forkmq/forkmq/internal/bench/mqttc"
)

// wiring says who publishes where and who follows whom.
type wiring struct {
	pubTopics  []string   // topic of each publisher
	subFilters []string   // filter of each subscriber
	subFollows [][]uint32 // publishers each subscriber should hear
}

// flow is a set of connected publishers and subscribers and the accounting
// of the messages between them, shared by the seed and throughput scenarios.
type flow struct {
	t     Target
	qos   byte
	clock tally.Clock
	pubs  []*publisher
	subs  []*subscriber
	// Latency is recorded for messages sent in [from, to) (clock ns).
	from, to atomic.Int64

	// downgraded counts subscriptions granted a lower QoS than asked.
	downgraded int

	wg       sync.WaitGroup // readers
	stopping atomic.Bool
	errMu    sync.Mutex
	err      error // first reader failure
}

type publisher struct {
	id        uint32
	conn      *mqttc.Conn
	topic     string
	subs      int64 // subscribers that follow it
	sent      atomic.Int64
	acked     atomic.Int64 // PUBACKs (QoS 1)
	delivered atomic.Int64 // first copies received, over all its subscribers
	wake      chan struct{}
	head      [tally.HeaderSize]byte
	stalls    int
}

type subscriber struct {
	conn     *mqttc.Conn
	tracker  *tally.Tracker
	received atomic.Int64 // every PUBLISH, duplicates included
}

// newFlow connects the subscribers (and subscribes them) first, then the
// publishers, and starts a reader per connection.
func newFlow(ctx context.Context, t Target, w wiring, qos byte, conc int) (*flow, error) {
	f := &flow{t: t, qos: qos, clock: tally.NewClock()}
	f.from.Store(1<<63 - 1)
	f.to.Store(1<<63 - 1)
	opts := func(role string) func(int) mqttc.Options {
		return func(i int) mqttc.Options {
			return mqttc.Options{ClientID: fmt.Sprintf("%s-%s%d", t.Prefix, role, i)}
		}
	}
	subConns, err := dialAll(ctx, t.Addr, len(w.subFilters), conc, opts("s"), nil)
	if err != nil {
		closeAll(subConns)
		return nil, err
	}
	for i, c := range subConns {
		granted, err := c.Subscribe(1, qos, w.subFilters[i])
		if err != nil {
			closeAll(subConns)
			return nil, fmt.Errorf("subscriber %d: %w", i, err)
		}
		if granted < qos {
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
		f.pubs = append(f.pubs, &publisher{id: uint32(i), conn: c, topic: w.pubTopics[i], wake: make(chan struct{}, 1)})
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

func (f *flow) fail(who string, err error) {
	if f.stopping.Load() {
		return
	}
	f.errMu.Lock()
	defer f.errMu.Unlock()
	if f.err == nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) {
			err = fmt.Errorf("connection closed by the broker: %w", err)
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
	for {
		p, err := s.conn.ReadPacket()
		if err != nil {
			f.fail("subscriber", err)
			return
		}
		if p.Type == mqttc.TypePublish {
			if p.QoS() > 0 {
				if err := s.conn.Puback(p.ID); err != nil {
					f.fail("subscriber PUBACK", err)
					return
				}
			}
			s.received.Add(1)
			h, err := tally.ParseHeader(p.Payload)
			if err != nil {
				s.tracker.Record(tally.Header{Publisher: 1<<32 - 1}, 0, false) // counts as unexpected
				continue
			}
			now := f.clock.Now()
			measure := h.Sent >= f.from.Load() && h.Sent < f.to.Load()
			switch s.tracker.Record(h, now-h.Sent, measure) {
			case tally.New, tally.Reordered:
				pub := f.pubs[h.Publisher]
				pub.delivered.Add(1)
				select {
				case pub.wake <- struct{}{}:
				default:
				}
			}
		}
		if !s.conn.Buffered() {
			if err := s.conn.Flush(); err != nil {
				f.fail("subscriber PUBACK", err)
				return
			}
		}
	}
}

func (f *flow) readPublisher(p *publisher) {
	defer f.wg.Done()
	for {
		pkt, err := p.conn.ReadPacket()
		if err != nil {
			f.fail(fmt.Sprintf("publisher %d", p.id), err)
			return
		}
		if pkt.Type == mqttc.TypePuback {
			p.acked.Add(1)
		}
	}
}

// publish buffers the publisher's next message: its header and filler.
func (f *flow) publish(p *publisher, filler []byte) error {
	seq := p.sent.Load()
	tally.Header{Publisher: p.id, Seq: uint64(seq), Sent: f.clock.Now()}.Put(p.head[:])
	err := p.conn.Publish(p.topic, f.qos, uint16(seq%65535)+1, p.head[:], filler)
	p.sent.Add(1)
	return err
}

// stallAfter is how long a publisher waits for any progress of its window
// before it writes the outstanding messages off (they are lost or very late;
// the loss count will tell) and goes on.
const stallAfter = time.Second

// waitWindow blocks while the publisher has window or more messages in
// flight per subscriber.
func (f *flow) waitWindow(ctx context.Context, p *publisher, window int64, forgiven *int64, timer *time.Timer, end time.Time) error {
	for p.subs > 0 && p.sent.Load()*p.subs-p.delivered.Load()-*forgiven >= window*p.subs {
		if err := p.conn.Flush(); err != nil {
			return err
		}
		timer.Reset(min(stallAfter, max(time.Until(end), time.Millisecond)))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-p.wake:
		case <-timer.C:
			if !time.Now().Before(end) {
				return nil
			}
			p.stalls++
			*forgiven = p.sent.Load()*p.subs - p.delivered.Load()
		}
		timer.Stop() // since Go 1.23 a stopped timer delivers nothing stale
	}
	return nil
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
// too, or until nothing has moved for d.
func (f *flow) drain(ctx context.Context, d time.Duration) {
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
	last, lastMove := int64(-1), time.Now()
	for {
		done, moved := progress()
		if done || ctx.Err() != nil || f.Err() != nil {
			return
		}
		if moved != last {
			last, lastMove = moved, time.Now()
		} else if time.Since(lastMove) > d {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// finish disconnects every client, waits for the readers and returns the
// run's accounting.
func (f *flow) finish() (tot tally.Totals, lat *tally.Histogram, unacked int64, stalls int) {
	f.stopping.Store(true)
	for _, p := range f.pubs {
		p.conn.Disconnect()
	}
	for _, s := range f.subs {
		s.conn.Disconnect()
	}
	f.wg.Wait()
	lat = tally.NewHistogram()
	sent := func(p uint32) uint64 { return uint64(f.pubs[p].sent.Load()) }
	for _, s := range f.subs {
		tot.Add(s.tracker.Totals(sent))
		lat.Merge(s.tracker.Latency)
	}
	if f.qos > 0 {
		for _, p := range f.pubs {
			unacked += max(0, p.sent.Load()-p.acked.Load())
		}
	}
	for _, p := range f.pubs {
		stalls += p.stalls
	}
	return tot, lat, unacked, stalls
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
	s := snapshot{at: time.Now(), genCPU: selfCPU()}
	cpu, err := f.t.Tree.CPU()
	if err != nil {
		return s, fmt.Errorf("sample broker CPU: %w", err)
	}
	s.cpu = cpu.Seconds
	for _, p := range f.pubs {
		s.packets += p.conn.Counters().Packets()
		s.sent += p.sent.Load()
	}
	for _, sub := range f.subs {
		s.packets += sub.conn.Counters().Packets()
		s.delivered += sub.received.Load()
	}
	return s, nil
}

// selfCPU returns the CPU seconds this process has used.
func selfCPU() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// rates turns consecutive snapshots into per-second series.
func rates(snaps []snapshot) (cpuPct, packets []float64) {
	for i := 1; i < len(snaps); i++ {
		dt := snaps[i].at.Sub(snaps[i-1].at).Seconds()
		cpuPct = append(cpuPct, 100*(snaps[i].cpu-snaps[i-1].cpu)/dt)
		packets = append(packets, float64(snaps[i].packets-snaps[i-1].packets)/dt)
	}
	return cpuPct, packets
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
	m["latency_p90_ms"] = ms(h.Percentile(90))
	m["latency_p99_ms"] = ms(h.Percentile(99))
	m["latency_max_ms"] = ms(h.Max())
}

// accountingMetrics adds loss, duplicates and order.
func (f *flow) accountingMetrics(m map[string]float64, tot tally.Totals, unacked int64, stalls int) {
	m["qos_downgraded"] = float64(f.downgraded)
	m["loss_pct"] = tot.LossPercent()
	m["lost"] = float64(tot.Lost())
	m["duplicates"] = float64(tot.Duplicates)
	m["reordered"] = float64(tot.Reordered)
	m["unexpected"] = float64(tot.Unexpected)
	m["unacked"] = float64(unacked)
	m["stalls"] = float64(stalls)
}
