package e2e

// Slow consumers: a subscriber that reads slowly slows its publishers down
// (back-pressure) and loses nothing; one that stops reading costs only
// itself. Once its backlog (-max-queued-messages / -max-queued-bytes) is
// full and it has made no progress for -stall-timeout, its QoS 0 messages
// are dropped and counted and a QoS 1 message disconnects it; the publisher
// and the other subscribers go on at full speed, having lost nothing.

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/forkmq/forkmq/internal/rawmqtt"
)

// slowPayload is 1 KiB: a sequence number, then padding.
func slowPayload(seq int) []byte {
	p := fmt.Appendf(nil, "%08d", seq)
	return append(p, strings.Repeat(".", 1024-len(p))...)
}

// collector reads everything a raw client receives on its own goroutine
// (rawmqtt's Serve, which acknowledges QoS 1 PUBLISHes), and keeps the
// payloads' sequence numbers.
type collector struct {
	mu   sync.Mutex
	seqs []string
	end  error // why reading stopped
	done chan struct{}
}

func collect(rc *rawmqtt.Conn) *collector {
	c := &collector{done: make(chan struct{})}
	go func() {
		defer close(c.done)
		err := rc.Serve(func(p *rawmqtt.Packet) error {
			if payload, err := p.Payload(); err == nil && len(payload) >= 8 {
				c.mu.Lock()
				c.seqs = append(c.seqs, string(payload[:8]))
				c.mu.Unlock()
			}
			return nil
		})
		c.mu.Lock()
		c.end = err
		c.mu.Unlock()
	}()
	return c
}

func (c *collector) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seqs)
}

// waitAll waits until n messages arrived and checks they are 0…n-1 in order.
func (c *collector) waitAll(t testing.TB, who string, n int, timeout time.Duration) {
	t.Helper()
	mustEventually(t, timeout, func() error {
		if got := c.count(); got < n {
			return fmt.Errorf("%s received %d of %d messages", who, got, n)
		}
		return nil
	})
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, s := range c.seqs {
		if want := fmt.Sprintf("%08d", i); s != want {
			t.Fatalf("%s: message %d is %s, want %s (each once, in order [MQTT-4.6.0-6])", who, i, s, want)
		}
	}
	if len(c.seqs) != n {
		t.Errorf("%s received %d messages, want %d", who, len(c.seqs), n)
	}
}

// paced publishes n 1 KiB messages on topic at about rate a second, in
// batches every 10 ms, and returns how long that took and the longest a
// single batch's write blocked.
func paced(t testing.TB, rc *rawmqtt.Conn, topic string, qos byte, n, rate int) (took, longestWrite time.Duration) {
	t.Helper()
	const tick = 10 * time.Millisecond
	perTick := max(1, rate*int(tick)/int(time.Second))
	start := time.Now()
	for seq := 0; seq < n; {
		var batch []byte
		for i := 0; i < perTick && seq < n; i, seq = i+1, seq+1 {
			m := rawmqtt.Publish{Topic: topic, Payload: string(slowPayload(seq)), QoS: qos}
			if qos == 1 {
				m.ID = uint16(seq%65535 + 1)
			}
			batch = append(batch, m.Bytes()...)
		}
		w := time.Now()
		rc.Send(t, batch)
		longestWrite = max(longestWrite, time.Since(w))
		time.Sleep(time.Until(start.Add(time.Duration(seq/perTick) * tick)))
	}
	return time.Since(start), longestWrite
}

// slowStall is the -stall-timeout of the slow-consumer tests; the bounds
// they assert on the publisher are derived from it.
const slowStall = time.Second

// TestSlowConsumer: one subscriber stops reading its socket while a
// publisher streams 1 KiB messages at 5,000 a second to it and to a normal
// subscriber.
func TestSlowConsumer(t *testing.T) {
	t.Parallel()
	const (
		rate       = 5000
		maxQueued  = 200
		queuedSize = 512 << 10
	)
	limits := brokerFlags("-max-queued-messages", fmt.Sprint(maxQueued), "-max-queued-bytes", fmt.Sprint(queuedSize),
		"-stall-timeout", slowStall.String(), "-log-level", "info")
	// Four clients at most: queue messages of some 4.8 KB, so 1 KiB
	// payloads travel inline (with the default 100 clients they would go
	// through the spool, at a tenth of the rate).
	few := withMaxClients(4)
	// The publisher waits on the stalled subscriber at most until that one
	// counts as stalled (the stall timeout after its last progress), and
	// then goes on at full speed; the bounds allow twice that, and a second.
	maxHeld := 2*slowStall + time.Second
	forEachEngine(t, func(t *testing.T, engine string) {
		// QoS 0: the stalled subscriber's messages beyond its socket
		// buffers and its bounded backlog are dropped, counted and
		// logged; it stays connected; the normal one gets every message.
		t.Run("QoS0Dropped", func(t *testing.T) {
			const n = 10000 // 10 MB: more than the socket buffers hold
			b := startBroker(t, withEngine(engine), limits, few)
			stalled := rawmqtt.MQTT311(newClientID("stalled"))
			rs := rawmqtt.Connected(t, b.Addr, stalled)
			rs.SubscribeCodes(t, 0, "slow/#")
			normal := rawmqtt.Connected(t, b.Addr, rawmqtt.MQTT311(newClientID("normal")))
			normal.SubscribeCodes(t, 0, "slow/#")
			got := collect(normal)
			pub := rawmqtt.Connected(t, b.Addr, rawmqtt.MQTT311(newClientID("slowpub")))

			took, longest := paced(t, pub, "slow/stream", 0, n, rate)
			got.waitAll(t, "normal subscriber", n, maxHeld+ioTimeout)
			planned := time.Duration(n) * time.Second / rate
			t.Logf("%d messages published in %v (planned %v, longest write %v); the normal subscriber had them all", n, took.Round(time.Millisecond), planned, longest.Round(time.Millisecond))
			if took > planned+maxHeld || longest > maxHeld {
				t.Errorf("the publisher was held past the stall timeout: %v for a %v stream, a write blocked %v (bound %v)", took, planned, longest, maxHeld)
			}

			queue := b.connectedLine(t, stalled.ClientID).str("queue")
			drops := b.logLinesWithPrefix("slow consumer: QoS 0 message dropped")
			dropped := 0
			// The backlog takes what the queue brings a message at a time:
			// a router's batch of several publications may pass the bound
			// by what one queue message holds (the process engine's).
			slack := b.queueMsgSize / len(slowPayload(0))
			for _, l := range drops {
				if l.str("queue") != queue {
					t.Errorf("messages dropped for a client other than the stalled one: %s", l.raw)
				}
				if l.int("backlog") > maxQueued+slack || l.int("backlog_bytes") > queuedSize+b.queueMsgSize {
					t.Errorf("backlog past -max-queued-messages %d / -max-queued-bytes %d (and one queue message of %d bytes): %s", maxQueued, queuedSize, b.queueMsgSize, l.raw)
				}
				dropped = max(dropped, l.int("dropped_total"))
			}
			if len(drops) == 0 {
				t.Fatalf("no \"slow consumer: QoS 0 message dropped\" line after %d messages to a client that reads nothing", n)
			}
			if other := b.logLinesWithPrefix("message dropped"); len(other) > 0 {
				t.Errorf("a router dropped messages: %s", other[0].raw)
			}
			t.Logf("%d drop lines, the last counting %d dropped", len(drops), dropped)

			// Still connected: once it reads, it gets what was kept, in
			// order, and an answer to PINGREQ.
			rs.Send(t, rawmqtt.Pingreq())
			kept, last := 0, -1
			for {
				p := rs.ExpectPacket(t)
				if p.Header == rawmqtt.HeaderPingresp {
					break
				}
				m, err := p.Publish()
				if err != nil {
					t.Fatal(err)
				}
				var seq int
				fmt.Sscanf(m.Payload[:8], "%d", &seq)
				if seq <= last {
					t.Fatalf("stalled subscriber: message %d after %d", seq, last)
				}
				kept, last = kept+1, seq
			}
			t.Logf("the stalled subscriber, reading again, got %d of %d messages", kept, n)
			if kept >= n {
				t.Errorf("nothing was dropped for the stalled subscriber")
			}
			b.assertClean(t, 3)
		})

		// QoS 1: the stalled subscriber's backlog fills, and once it has
		// made no progress for the stall timeout the next QoS 1 message
		// disconnects it, with a log line; the normal one gets everything.
		t.Run("QoS1Disconnected", func(t *testing.T) {
			const n, rate = 1000, 1000
			b := startBroker(t, withEngine(engine), limits, few)
			stalled := rawmqtt.MQTT311(newClientID("stalled1"))
			rs := rawmqtt.Connected(t, b.Addr, stalled)
			rs.Send(t, rawmqtt.Subscribe(1, 1, "slow/#"))
			rs.Expect(t, rawmqtt.HeaderSuback)
			normal := rawmqtt.Connected(t, b.Addr, rawmqtt.MQTT311(newClientID("normal1")))
			normal.Send(t, rawmqtt.Subscribe(1, 1, "slow/#"))
			normal.Expect(t, rawmqtt.HeaderSuback)
			got := collect(normal)
			pub := rawmqtt.Connected(t, b.Addr, rawmqtt.MQTT311(newClientID("slowpub1")))
			collect(pub) // PUBACKs

			took, longest := paced(t, pub, "slow/stream", 1, n, rate)
			got.waitAll(t, "normal subscriber", n, maxHeld+ioTimeout)
			t.Logf("%d QoS 1 messages published in %v (longest write %v)", n, took.Round(time.Millisecond), longest.Round(time.Millisecond))

			l := b.waitLog(t, ioTimeout, "", func(e logEntry) bool {
				return strings.HasPrefix(e.str("message"), "disconnecting a slow consumer")
			})
			gone := b.disconnectedLine(t, stalled.ClientID)
			if l.str("queue") != gone.str("queue") || l.int("backlog_limit") != maxQueued {
				t.Errorf("want the stalled client's deliverer to name the bound it passed:\n%s\n%s", l.raw, gone.raw)
			}
			if d, err := time.ParseDuration(l.str("stalled_for") + "ms"); err == nil && d < slowStall {
				t.Errorf("disconnected after %v without progress, before the stall timeout %v: %s", d, slowStall, l.raw)
			}
			if other := b.logLinesWithPrefix("message dropped"); len(other) > 0 {
				t.Errorf("a router dropped messages: %s", other[0].raw)
			}
			rs.DrainUntilClosed(t, ioTimeout)
			b.assertClean(t, 2)
			t.Run("ReasonLogged", func(t *testing.T) {
				if !strings.Contains(gone.str("reason"), "slow consumer") {
					t.Errorf("disconnect line: reason %q, want it to name the slow consumer: %s", gone.str("reason"), gone.raw)
				}
			})
		})
	})
}

// TestSlowConsumerSpooledBytes: the payloads held for a subscriber that
// does not read are bounded by -max-queued-bytes, also when they are too
// large for a queue message and wait in the spool. 300 messages of 64 KiB
// go to a stalled subscriber with -max-queued-bytes 1 MiB: past what the
// socket buffers take, at most 1 MiB more may be kept for it. The publisher
// bursts them as fast as it can: the normal subscriber's backlog fills too,
// which slows the publisher down but costs the normal subscriber nothing.
func TestSlowConsumerSpooledBytes(t *testing.T) {
	t.Parallel()
	const n, size, maxBytes = 300, 64 << 10, 1 << 20
	onProcessEngine(t, func(t *testing.T) {
		b := startBroker(t, brokerFlags("-max-queued-bytes", fmt.Sprint(maxBytes), "-stall-timeout", slowStall.String(), "-log-level", "info"))
		stalled := rawmqtt.MQTT311(newClientID("stalledsp"))
		rs := rawmqtt.Connected(t, b.Addr, stalled)
		rs.SubscribeCodes(t, 0, "slow/#")
		queue := b.connectedLine(t, stalled.ClientID).str("queue")
		normal := rawmqtt.Connected(t, b.Addr, rawmqtt.MQTT311(newClientID("normalsp")))
		normal.SubscribeCodes(t, 0, "slow/#")
		got := collect(normal)
		pub := rawmqtt.Connected(t, b.Addr, rawmqtt.MQTT311(newClientID("pubsp")))
		for seq := range n {
			payload := fmt.Sprintf("%08d", seq) + strings.Repeat("s", size-8)
			pub.Send(t, rawmqtt.Publish{Topic: "slow/big", Payload: payload}.Bytes())
		}
		mustEventually(t, 30*time.Second, func() error {
			if c := got.count(); c < n {
				return fmt.Errorf("normal subscriber has %d of %d", c, n)
			}
			return nil
		})
		var held int64
		for _, e := range dirEntries(filepath.Join(b.StateDir, "spool", queue)) {
			if fi, err := e.Info(); err == nil {
				held += fi.Size()
			}
		}
		got.waitAll(t, "normal subscriber", n, ioTimeout)
		t.Logf("spool keeps %d bytes (%d messages) for the stalled subscriber", held, held/size)
		if held > maxBytes+size {
			t.Errorf("%d bytes of spooled payloads kept for a subscriber that reads nothing, past -max-queued-bytes %d", held, maxBytes)
		}
		rs.Close()
		b.assertClean(t, 2)
	})
}

// dirEntries lists a directory; a missing one is empty.
func dirEntries(dir string) []os.DirEntry {
	entries, _ := os.ReadDir(dir)
	return entries
}
