package goengine

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/forkmq/forkmq/internal/options"
)

// Tests of what the goroutine engine mirrors from the process engine:
// retained messages, persistent sessions and slow consumers.

// Fixed-header flags of PUBLISH.
const (
	flagRetain = 0x01
	flagDup    = 0x08
)

// rawPublish is a PUBLISH as read off the wire.
type rawPublish struct {
	flags   byte // the fixed header's low nibble: DUP, QoS, RETAIN
	topic   string
	id      int
	payload string
}

func (p rawPublish) qos() byte { return p.flags >> 1 & 3 }

func (p rawPublish) String() string {
	return fmt.Sprintf("%s=%q flags %#x id %d", p.topic, p.payload, p.flags, p.id)
}

// readPublish reads a PUBLISH with any flags.
func (c *rawClient) readPublish(t testing.TB) rawPublish {
	t.Helper()
	p, err := c.read(ioTimeout)
	if err != nil {
		t.Fatalf("waiting for PUBLISH: %v", err)
	}
	if p.first&0xf0 != hdrPublish {
		t.Fatalf("got packet %#x %x, want PUBLISH", p.first, abbrev(p.body))
	}
	return parsePublish(p)
}

func parsePublish(p rawPacket) rawPublish {
	tl := int(binary.BigEndian.Uint16(p.body))
	out := rawPublish{flags: p.first & 0x0f, topic: string(p.body[2 : 2+tl])}
	rest := p.body[2+tl:]
	if out.qos() > 0 {
		out.id, rest = int(binary.BigEndian.Uint16(rest)), rest[2:]
	}
	out.payload = string(rest)
	return out
}

// publishSettled publishes with the given flags and completes the QoS 1 or
// 2 flow [MQTT-4.3.2-2, MQTT-4.3.3-2]; a QoS 0 one is followed by a PINGREQ
// round trip, so it too has been routed when publishSettled returns.
func (c *rawClient) publishSettled(t testing.TB, flags byte, topic string, payload []byte, id int) {
	t.Helper()
	c.send(t, publishFlags(flags, topic, payload, id))
	switch flags >> 1 & 3 {
	case 0:
		// The router answers in order: PINGRESP means the PUBLISH before
		// it has been routed (and retained).
		c.send(t, pingreqBytes)
		c.expect(t, hdrPingresp)
	case 1:
		c.expect(t, hdrPuback)
	case 2:
		c.expect(t, hdrPubrec)
		c.send(t, pkt(hdrPubrel, u16(id)))
		c.expect(t, hdrPubcomp)
	}
}

// connectSession dials and completes CONNECT/CONNACK 0 with the clean
// session flag as given, and returns CONNACK's session present.
func connectSession(t testing.TB, addr, id string, clean bool) (*rawClient, bool) {
	t.Helper()
	flags := byte(0)
	if clean {
		flags = 0x02
	}
	c := dial(t, addr)
	c.send(t, pkt(hdrConnect, str("MQTT"), []byte{4, flags}, u16(30), str(id)))
	p := c.expect(t, hdrConnack)
	if p.body[1] != 0 || p.body[0]&^1 != 0 {
		t.Fatalf("CONNACK %x, want accepted", p.body)
	}
	return c, p.body[0] == 1
}

// leave sends DISCONNECT and waits for the close and the cleanup.
func (b *testBroker) leave(t testing.TB, c *rawClient, id string) {
	t.Helper()
	n := len(b.log.lines("client disconnected"))
	c.send(t, disconnectBytes)
	c.expectClosed(t, ioTimeout)
	b.waitDisconnects(t, n+1, id)
}

// drop closes the connection without DISCONNECT and waits for the cleanup.
func (b *testBroker) drop(t testing.TB, c *rawClient, id string) {
	t.Helper()
	n := len(b.log.lines("client disconnected"))
	c.conn.Close()
	b.waitDisconnects(t, n+1, id)
}

func (b *testBroker) waitDisconnects(t testing.TB, n int, id string) {
	t.Helper()
	deadline := time.Now().Add(ioTimeout)
	for len(b.log.lines("client disconnected")) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%s: no client disconnected line within %v", id, ioTimeout)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestRetained: per row, retained messages are set, replaced and deleted
// [MQTT-3.3.1-5, -10, -11], then a new subscription gets the matching ones
// right after SUBACK with RETAIN 1 [MQTT-3.3.1-6, -8] at min(stored,
// granted) QoS.
func TestRetained(t *testing.T) {
	b := start(t, nil)
	pub := connect(t, b.addr, "rpub", 30)
	for _, p := range []struct {
		topic   string
		payload string
		qos     byte
	}{
		{"rt/a", "a1", 0},
		{"rt/a", "a2", 2}, // replaces a1
		{"rt/b", "b1", 1},
		{"rt/c", "c1", 0},
		{"rt/c", "", 0}, // deletes c1
		{"rt/d/e", "de", 1},
		{"$SYS/rt", "sys", 0},
		{"rt/gone", "", 0}, // deleting nothing is fine
	} {
		pub.publishSettled(t, p.qos<<1|flagRetain, p.topic, []byte(p.payload), 5)
	}
	rows := []struct {
		filter  string
		granted byte
		want    []string // "topic=payload/qos", in any order
	}{
		{"rt/a", 2, []string{"rt/a=a2/2"}},
		{"rt/a", 1, []string{"rt/a=a2/1"}},
		{"rt/+", 2, []string{"rt/a=a2/2", "rt/b=b1/1"}},
		{"rt/#", 0, []string{"rt/a=a2/0", "rt/b=b1/0", "rt/d/e=de/0"}},
		{"+/d/+", 1, []string{"rt/d/e=de/1"}},
		{"rt/c", 2, nil},
		{"#", 0, []string{"rt/a=a2/0", "rt/b=b1/0", "rt/d/e=de/0"}}, // [MQTT-4.7.2-1] no $SYS
		{"$SYS/#", 2, []string{"$SYS/rt=sys/0"}},
	}
	for i, row := range rows {
		id := fmt.Sprint("rsub", i)
		sub := connect(t, b.addr, id, 30)
		sub.subscribeAt(t, row.granted, row.filter)
		// Read the retained copies, acknowledging each, until PINGRESP.
		var got []string
		sub.send(t, pingreqBytes)
		for done := false; !done; {
			p, err := sub.read(ioTimeout)
			if err != nil {
				t.Fatalf("%s: %v", row.filter, err)
			}
			switch {
			case p.first == hdrPingresp:
				done = len(got) >= len(row.want)
				if !done {
					sub.send(t, pingreqBytes)
				}
			case p.first == hdrPubrel:
				sub.send(t, pkt(hdrPubcomp, p.body))
			case p.first&0xf0 == hdrPublish:
				pub := parsePublish(p)
				if pub.flags&flagRetain == 0 || pub.flags&flagDup != 0 {
					t.Errorf("%s: %v: want RETAIN 1, DUP 0", row.filter, pub)
				}
				if pub.qos() > 0 {
					sub.send(t, pkt(hdrPuback+(pub.qos()-1)*0x10, u16(pub.id))) // PUBACK or PUBREC
				}
				got = append(got, fmt.Sprintf("%s=%s/%d", pub.topic, pub.payload, pub.qos()))
			default:
				t.Errorf("%s: unexpected packet %#x %q", row.filter, p.first, abbrev(p.body))
			}
		}
		slices.Sort(got)
		if !slices.Equal(got, row.want) {
			t.Errorf("filter %q at QoS %d got %q, want %q", row.filter, row.granted, got, row.want)
		}
		b.leave(t, sub, id)
	}

	// A subscriber already there gets a retained publication with RETAIN 0
	// [MQTT-3.3.1-9]; the deletion (empty payload) is forwarded as well
	// [MQTT-3.3.1-12].
	live := connect(t, b.addr, "rlive", 30)
	live.subscribe(t, "rl/x")
	pub.send(t, publishFlags(flagRetain, "rl/x", []byte("v"), 0))
	pub.send(t, publishFlags(flagRetain, "rl/x", nil, 0))
	for _, want := range []string{"v", ""} {
		if p := live.readPublish(t); p.flags != 0 || p.payload != want {
			t.Errorf("live subscriber got %v, want %q with flags 0", p, want)
		}
	}
}

// TestRetainedSurvivesRestart: retained messages are in <state-dir>/retained,
// the process engine's store, so a new engine on the same directory has
// them.
func TestRetainedSurvivesRestart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	cfg := testOptions(dir, 5)
	first := startConfig(t, cfg)
	pub := connect(t, first.addr, "rspub", 30)
	pub.publishSettled(t, 1<<1|flagRetain, "keep/me", []byte("kept"), 9)
	first.stop()

	second := startConfig(t, cfg)
	sub := connect(t, second.addr, "rssub", 30)
	sub.subscribeAt(t, 1, "keep/#")
	if p := sub.readPublish(t); p.topic != "keep/me" || p.payload != "kept" || p.flags != 1<<1|flagRetain {
		t.Errorf("after restart got %v, want keep/me=kept at QoS 1 with RETAIN", p)
	}
}

// TestPersistentSession: subscriptions and QoS 1/2 messages of a session
// with clean session 0 are kept while it is offline and delivered on
// reconnect with session present 1 [MQTT-3.1.2-4, MQTT-3.2.2-2]; QoS 0
// messages for an offline session are not kept.
func TestPersistentSession(t *testing.T) {
	b := start(t, nil)
	pub := connect(t, b.addr, "ppub", 30)
	sub, present := connectSession(t, b.addr, "psub", false)
	if present {
		t.Error("first CONNECT of a persistent session: session present 1")
	}
	sub.subscribeAt(t, 2, "po/#")
	b.leave(t, sub, "psub")

	pub.publishSettled(t, 1<<1, "po/1", []byte("one"), 1)
	pub.send(t, publishBytes("po/0", []byte("zero"), 0))
	pub.publishSettled(t, 2<<1, "po/2", []byte("two"), 2)

	sub, present = connectSession(t, b.addr, "psub", false)
	if !present {
		t.Error("reconnect of a persistent session: session present 0")
	}
	l := b.log.waitLine(t, "client connected", func(m map[string]any) bool { return m["client_id"] == "psub" && m["persistent"] == true })
	if l["session_queue"] == "" {
		t.Errorf("client connected line: %v", l)
	}
	p1 := sub.readPublish(t)
	p2 := sub.readPublish(t)
	if p1.topic != "po/1" || p1.qos() != 1 || p2.topic != "po/2" || p2.qos() != 2 || p1.flags&flagDup != 0 || p2.flags&flagDup != 0 {
		t.Fatalf("stored messages: %v, %v; want po/1 at QoS 1 then po/2 at QoS 2, DUP 0", p1, p2)
	}
	sub.send(t, pkt(hdrPuback, u16(p1.id)))
	sub.send(t, pkt(hdrPubrec, u16(p2.id)))
	sub.expect(t, hdrPubrel)
	sub.send(t, pkt(hdrPubcomp, u16(p2.id)))

	// Still subscribed without a new SUBSCRIBE, at both QoS.
	pub.publishSettled(t, 1<<1, "po/live", []byte("l1"), 3)
	if p := sub.readPublish(t); p.topic != "po/live" || p.qos() != 1 {
		t.Errorf("online QoS 1: %v", p)
	} else {
		sub.send(t, pkt(hdrPuback, u16(p.id)))
	}
	pub.send(t, publishBytes("po/live0", []byte("l0"), 0))
	if p := sub.readPublish(t); p.topic != "po/live0" || p.qos() != 0 {
		t.Errorf("online QoS 0: %v (po/0 sent while offline must not come)", p)
	}
	sub.expectNothing(t, 100*time.Millisecond)
}

// TestPersistentResend: flows left unsettled by a connection are resent on
// the next with DUP 1 and the same packet identifier; past PUBREC only
// PUBREL is sent again [MQTT-4.4.0-1, MQTT-4.3.3-1]. Messages stored
// meanwhile follow, after the resends.
func TestPersistentResend(t *testing.T) {
	b := start(t, nil)
	pub := connect(t, b.addr, "rpub", 30)
	sub, _ := connectSession(t, b.addr, "rsub", false)
	sub.subscribeAt(t, 2, "rs/#")
	pub.send(t, publishQoS("rs/1", []byte("q1"), 1, 1))
	pub.send(t, publishQoS("rs/2", []byte("q2"), 2, 2))
	pub.send(t, publishQoS("rs/3", []byte("q2b"), 2, 3))
	first := []rawPublish{sub.readPublish(t), sub.readPublish(t), sub.readPublish(t)}
	// rs/1 and rs/2 unacknowledged; rs/3 got to PUBREC/PUBREL.
	sub.send(t, pkt(hdrPubrec, u16(first[2].id)))
	if p := sub.expect(t, hdrPubrel); !bytes.Equal(p.body, u16(first[2].id)) {
		t.Fatalf("PUBREL %x", p.body)
	}
	b.drop(t, sub, "rsub")
	pub.send(t, publishQoS("rs/4", []byte("later"), 1, 4))

	sub, present := connectSession(t, b.addr, "rsub", false)
	if !present {
		t.Error("session present 0")
	}
	for _, want := range first[:2] {
		p := sub.readPublish(t)
		if p.flags&flagDup == 0 || p.id != want.id || p.topic != want.topic || p.payload != want.payload || p.qos() != want.qos() {
			t.Errorf("resent %v, want %v with DUP 1", p, want)
		}
	}
	if p := sub.expect(t, hdrPubrel); !bytes.Equal(p.body, u16(first[2].id)) {
		t.Errorf("PUBREL resent for %x, want %d", p.body, first[2].id)
	}
	p := sub.readPublish(t)
	if p.topic != "rs/4" || p.flags&flagDup != 0 || slices.ContainsFunc(first, func(f rawPublish) bool { return f.id == p.id }) {
		t.Errorf("stored message %v: want rs/4, DUP 0, an identifier not in use", p)
	}
	// Settling everything leaves nothing to resend.
	sub.send(t, pkt(hdrPuback, u16(first[0].id)))
	sub.send(t, pkt(hdrPubrec, u16(first[1].id)))
	sub.expect(t, hdrPubrel)
	sub.send(t, pkt(hdrPubcomp, u16(first[1].id)))
	sub.send(t, pkt(hdrPubcomp, u16(first[2].id)))
	sub.send(t, pkt(hdrPuback, u16(p.id)))
	b.leave(t, sub, "rsub")
	sub, _ = connectSession(t, b.addr, "rsub", false)
	sub.expectNothing(t, 200*time.Millisecond)
}

// TestCleanSessionDiscards: clean session 1 discards the stored session,
// its subscriptions and messages [MQTT-3.1.2-6]; a later clean session 0
// starts afresh.
func TestCleanSessionDiscards(t *testing.T) {
	b := start(t, nil)
	pub := connect(t, b.addr, "dpub", 30)
	sub, _ := connectSession(t, b.addr, "dsub", false)
	sub.subscribeAt(t, 1, "ds/#")
	b.leave(t, sub, "dsub")
	pub.publishSettled(t, 1<<1, "ds/stored", []byte("x"), 1)

	sub, present := connectSession(t, b.addr, "dsub", true)
	if present {
		t.Error("clean session: session present 1 [MQTT-3.2.2-1]")
	}
	sub.expectNothing(t, 200*time.Millisecond)
	b.leave(t, sub, "dsub")

	sub, present = connectSession(t, b.addr, "dsub", false)
	if present {
		t.Error("after a clean session: session present 1")
	}
	pub.publishSettled(t, 1<<1, "ds/after", []byte("y"), 2)
	sub.expectNothing(t, 200*time.Millisecond)
}

// TestInboundQoS2AcrossReconnect: a QoS 2 PUBLISH received and not yet
// released is remembered across connections of a persistent session, so
// the publisher's resend is not routed again [MQTT-4.3.3-2].
func TestInboundQoS2AcrossReconnect(t *testing.T) {
	b := start(t, nil)
	sub := connect(t, b.addr, "iqsub", 30)
	sub.subscribeAt(t, 0, "iq/#")
	pub, _ := connectSession(t, b.addr, "iqpub", false)
	pub.send(t, publishQoS("iq/x", []byte("once"), 2, 7))
	pub.expect(t, hdrPubrec)
	b.drop(t, pub, "iqpub")

	pub, _ = connectSession(t, b.addr, "iqpub", false)
	pub.send(t, publishFlags(flagDup|2<<1, "iq/x", []byte("once"), 7))
	if p := pub.expect(t, hdrPubrec); !bytes.Equal(p.body, u16(7)) {
		t.Errorf("PUBREC %x", p.body)
	}
	pub.send(t, pkt(hdrPubrel, u16(7)))
	pub.expect(t, hdrPubcomp)
	// Released: the identifier may carry a new message.
	pub.send(t, publishQoS("iq/y", []byte("new"), 2, 7))
	pub.expect(t, hdrPubrec)
	if got := fence(t, pub, sub, "iq/fence"); !slices.Equal(got, []string{"iq/x", "iq/y"}) {
		t.Errorf("subscriber got %q, want iq/x once, then iq/y", got)
	}
}

// TestSessionMailboxBound: an offline session stores at most
// -session-max-messages and -session-max-bytes; past them messages are
// dropped with the process engine's log line.
func TestSessionMailboxBound(t *testing.T) {
	rows := []struct {
		name     string
		msgs     int
		bytes    int64
		publish  int
		wantKept int
	}{
		{"messages", 3, 1 << 20, 5, 3},
		{"bytes", 100, 250, 5, 2}, // 100-byte payload + 4-byte topic: two fit
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			b := start(t, func(c *options.Options) { c.SessionMsgs, c.SessionBytes = row.msgs, row.bytes })
			pub := connect(t, b.addr, "mbpub", 30)
			sub, _ := connectSession(t, b.addr, "mbsub", false)
			sub.subscribeAt(t, 1, "mb/#")
			b.leave(t, sub, "mbsub")
			for i := range row.publish {
				pub.publishSettled(t, 1<<1, "mb/x", bytes.Repeat([]byte{byte('a' + i)}, 100), i+1)
			}
			l := b.log.waitLine(t, "persistent session mailbox full: message dropped (raise -session-max-messages / -session-max-bytes)", nil)
			if l["to"] == nil || l["max_messages"] != float64(row.msgs) || l["max_bytes"] != float64(row.bytes) {
				t.Errorf("drop line: %v", l)
			}
			sub, _ = connectSession(t, b.addr, "mbsub", false)
			for i := range row.wantKept {
				p := sub.readPublish(t)
				if p.payload[0] != byte('a'+i) {
					t.Errorf("stored message %d: %q", i, p.payload[:1])
				}
				sub.send(t, pkt(hdrPuback, u16(p.id)))
			}
			sub.expectNothing(t, 200*time.Millisecond)
		})
	}
}

// TestSlowConsumer: a subscriber that stops reading has a bounded backlog.
// Once it is full the publisher waits, but only until the subscriber counts
// as stalled (no progress for the stall timeout); then QoS 0 copies are
// dropped and counted and the publisher goes on, and a QoS 1 copy ends the
// subscriber as a slow consumer.
func TestSlowConsumer(t *testing.T) {
	rows := []struct {
		name string
		qos  byte
	}{
		{"qos0 dropped", 0},
		{"qos1 disconnects", 1},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			const stallAfter = 500 * time.Millisecond
			b := start(t, func(c *options.Options) { c.BacklogMsgs, c.BacklogBytes, c.StallTimeout = 4, 1<<20, stallAfter })
			sleeper := connect(t, b.addr, "sleeper", 0)
			sleeper.subscribeAt(t, row.qos, "slow/#")
			pub := connect(t, b.addr, "fastpub", 30)
			payload := make([]byte, 256<<10)
			begin := time.Now()
			go func() {
				for i := range 60 {
					if _, err := pub.conn.Write(publishQoS("slow/x", payload, row.qos, i+1)); err != nil {
						return
					}
				}
				pub.conn.Write(pingreqBytes)
			}()
			if row.qos == 0 {
				l := b.log.waitLine(t, "slow consumer: QoS 0 message dropped (raise -max-queued-messages / -max-queued-bytes)", nil)
				if l["dropped_total"] != float64(1) || l["role"] != "deliverer" || l["queue"] == nil {
					t.Errorf("drop line: %v", l)
				}
				// The publisher waits once, for the stall verdict, then
				// goes on: 60 messages go by in far less than 60 stall
				// timeouts.
				for {
					p, err := pub.read(ioTimeout)
					if err != nil {
						t.Fatalf("publisher's PINGRESP: %v", err)
					}
					if p.first == hdrPingresp {
						break
					}
				}
				if took := time.Since(begin); took > 4*stallAfter+2*time.Second {
					t.Errorf("publisher held up for %v", took)
				}
				return
			}
			l := b.log.waitLine(t, "disconnecting a slow consumer: it stopped reading with its backlog full (see -stall-timeout, -max-queued-messages, -max-queued-bytes)", nil)
			if l["backlog_limit"] != float64(4) || l["role"] != "deliverer" {
				t.Errorf("slow consumer line: %v", l)
			}
			l = b.log.waitLine(t, "client disconnected", func(m map[string]any) bool { return m["client_id"] == "sleeper" })
			if l["reason"] != "deliverer: slow consumer" {
				t.Errorf("reason %v", l["reason"])
			}
			sleeper.expectClosed(t, ioTimeout)
		})
	}
}
