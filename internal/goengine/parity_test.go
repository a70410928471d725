package goengine

import (
	"bytes"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/forkmq/forkmq/internal/options"
	"github.com/forkmq/forkmq/internal/rawmqtt"
)

// Tests of what the goroutine engine mirrors from the process engine:
// retained messages, persistent sessions and slow consumers.

// connectSession dials and completes CONNECT/CONNACK 0 with the clean
// session flag as given, and returns CONNACK's session present.
func connectSession(t testing.TB, addr, id string, clean bool) (*rawmqtt.Conn, bool) {
	t.Helper()
	connect := withKeepAlive(rawmqtt.MQTT311(id), 30)
	if !clean {
		connect = connect.Persistent()
	}
	c := rawmqtt.Open(t, addr)
	c.Send(t, connect.Bytes())
	a := c.Connack(t)
	if a.Code != rawmqtt.Accepted || a.Flags&^1 != 0 {
		t.Fatalf("CONNACK %+v, want accepted", a)
	}
	return c, a.SessionPresent()
}

// leave sends DISCONNECT and waits for the close and the cleanup.
func (b *testBroker) leave(t testing.TB, c *rawmqtt.Conn, id string) {
	t.Helper()
	n := len(b.log.lines("client disconnected"))
	c.Send(t, rawmqtt.Disconnect())
	c.DrainUntilClosed(t, ioTimeout)
	b.waitDisconnects(t, n+1, id)
}

// drop closes the connection without DISCONNECT and waits for the cleanup.
func (b *testBroker) drop(t testing.TB, c *rawmqtt.Conn, id string) {
	t.Helper()
	n := len(b.log.lines("client disconnected"))
	c.Close()
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
		pub.Publish(t, rawmqtt.Publish{Topic: p.topic, Payload: p.payload, QoS: p.qos, Retain: true, ID: 5})
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
		sub.SubscribeGranted(t, row.granted, row.filter)
		// Read the retained copies, acknowledging each, until PINGRESP.
		var got []string
		sub.Send(t, rawmqtt.Pingreq())
		for done := false; !done; {
			p, err := sub.Read(ioTimeout)
			if err != nil {
				t.Fatalf("%s: %v", row.filter, err)
			}
			switch {
			case p.Header == rawmqtt.HeaderPingresp:
				done = len(got) >= len(row.want)
				if !done {
					sub.Send(t, rawmqtt.Pingreq())
				}
			case p.Header == rawmqtt.HeaderPubrel:
				sub.Send(t, rawmqtt.Frame(rawmqtt.HeaderPubcomp, p.Body))
			case p.Type() == rawmqtt.TypePublish:
				pub, err := p.Publish()
				if err != nil {
					t.Fatalf("%s: %v", row.filter, err)
				}
				if !pub.Retain || pub.Dup {
					t.Errorf("%s: %v: want RETAIN 1, DUP 0", row.filter, pub)
				}
				if pub.QoS > 0 {
					sub.Send(t, rawmqtt.Ack(rawmqtt.HeaderPuback+(pub.QoS-1)*0x10, pub.ID)) // PUBACK or PUBREC
				}
				got = append(got, fmt.Sprintf("%s=%s/%d", pub.Topic, pub.Payload, pub.QoS))
			default:
				t.Errorf("%s: unexpected packet %v", row.filter, p)
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
	live.SubscribeGranted(t, 0, "rl/x")
	pub.Send(t, rawmqtt.Publish{Topic: "rl/x", Payload: "v", Retain: true}.Bytes())
	pub.Send(t, rawmqtt.Publish{Topic: "rl/x", Retain: true}.Bytes())
	for _, want := range []string{"v", ""} {
		if p := live.ExpectPublish(t); p.QoS != 0 || p.Retain || p.Dup || p.Payload != want {
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
	pub.Publish(t, rawmqtt.Publish{Topic: "keep/me", Payload: "kept", QoS: 1, Retain: true, ID: 9})
	first.stop()

	second := startConfig(t, cfg)
	sub := connect(t, second.addr, "rssub", 30)
	sub.SubscribeGranted(t, 1, "keep/#")
	if p := sub.ExpectPublish(t); p.Topic != "keep/me" || p.Payload != "kept" || p.QoS != 1 || !p.Retain || p.Dup {
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
	sub.SubscribeGranted(t, 2, "po/#")
	b.leave(t, sub, "psub")

	pub.Publish(t, rawmqtt.Publish{Topic: "po/1", Payload: "one", QoS: 1, ID: 1})
	pub.Send(t, rawmqtt.Publish{Topic: "po/0", Payload: "zero"}.Bytes())
	pub.Publish(t, rawmqtt.Publish{Topic: "po/2", Payload: "two", QoS: 2, ID: 2})

	sub, present = connectSession(t, b.addr, "psub", false)
	if !present {
		t.Error("reconnect of a persistent session: session present 0")
	}
	l := b.log.waitLine(t, "client connected", func(m map[string]any) bool { return m["client_id"] == "psub" && m["persistent"] == true })
	if l["session_queue"] == "" {
		t.Errorf("client connected line: %v", l)
	}
	p1 := sub.ExpectPublish(t)
	p2 := sub.ExpectPublish(t)
	if p1.Topic != "po/1" || p1.QoS != 1 || p2.Topic != "po/2" || p2.QoS != 2 || p1.Dup || p2.Dup {
		t.Fatalf("stored messages: %v, %v; want po/1 at QoS 1 then po/2 at QoS 2, DUP 0", p1, p2)
	}
	sub.Send(t, rawmqtt.Ack(rawmqtt.HeaderPuback, p1.ID))
	sub.Send(t, rawmqtt.Ack(rawmqtt.HeaderPubrec, p2.ID))
	sub.Expect(t, rawmqtt.HeaderPubrel)
	sub.Send(t, rawmqtt.Ack(rawmqtt.HeaderPubcomp, p2.ID))

	// Still subscribed without a new SUBSCRIBE, at both QoS.
	pub.Publish(t, rawmqtt.Publish{Topic: "po/live", Payload: "l1", QoS: 1, ID: 3})
	if p := sub.ExpectPublish(t); p.Topic != "po/live" || p.QoS != 1 {
		t.Errorf("online QoS 1: %v", p)
	} else {
		sub.Send(t, rawmqtt.Ack(rawmqtt.HeaderPuback, p.ID))
	}
	pub.Send(t, rawmqtt.Publish{Topic: "po/live0", Payload: "l0"}.Bytes())
	if p := sub.ExpectPublish(t); p.Topic != "po/live0" || p.QoS != 0 {
		t.Errorf("online QoS 0: %v (po/0 sent while offline must not come)", p)
	}
	sub.ExpectSilence(t, 100*time.Millisecond)
}

// TestPersistentResend: flows left unsettled by a connection are resent on
// the next with DUP 1 and the same packet identifier; past PUBREC only
// PUBREL is sent again [MQTT-4.4.0-1, MQTT-4.3.3-1]. Messages stored
// meanwhile follow, after the resends.
func TestPersistentResend(t *testing.T) {
	b := start(t, nil)
	pub := connect(t, b.addr, "rpub", 30)
	sub, _ := connectSession(t, b.addr, "rsub", false)
	sub.SubscribeGranted(t, 2, "rs/#")
	pub.Send(t, rawmqtt.Publish{Topic: "rs/1", Payload: "q1", QoS: 1, ID: 1}.Bytes())
	pub.Send(t, rawmqtt.Publish{Topic: "rs/2", Payload: "q2", QoS: 2, ID: 2}.Bytes())
	pub.Send(t, rawmqtt.Publish{Topic: "rs/3", Payload: "q2b", QoS: 2, ID: 3}.Bytes())
	first := []rawmqtt.Publish{sub.ExpectPublish(t), sub.ExpectPublish(t), sub.ExpectPublish(t)}
	// rs/1 and rs/2 unacknowledged; rs/3 got to PUBREC/PUBREL.
	sub.Send(t, rawmqtt.Ack(rawmqtt.HeaderPubrec, first[2].ID))
	sub.ExpectAck(t, rawmqtt.HeaderPubrel, first[2].ID)
	b.drop(t, sub, "rsub")
	pub.Send(t, rawmqtt.Publish{Topic: "rs/4", Payload: "later", QoS: 1, ID: 4}.Bytes())

	sub, present := connectSession(t, b.addr, "rsub", false)
	if !present {
		t.Error("session present 0")
	}
	for _, want := range first[:2] {
		p := sub.ExpectPublish(t)
		if !p.Dup || p.ID != want.ID || p.Topic != want.Topic || p.Payload != want.Payload || p.QoS != want.QoS {
			t.Errorf("resent %v, want %v with DUP 1", p, want)
		}
	}
	if p := sub.Expect(t, rawmqtt.HeaderPubrel); !bytes.Equal(p.Body, rawmqtt.U16(first[2].ID)) {
		t.Errorf("PUBREL resent: %v, want one for %d", p, first[2].ID)
	}
	p := sub.ExpectPublish(t)
	if p.Topic != "rs/4" || p.Dup || slices.ContainsFunc(first, func(f rawmqtt.Publish) bool { return f.ID == p.ID }) {
		t.Errorf("stored message %v: want rs/4, DUP 0, an identifier not in use", p)
	}
	// Settling everything leaves nothing to resend.
	sub.Send(t, rawmqtt.Ack(rawmqtt.HeaderPuback, first[0].ID))
	sub.Send(t, rawmqtt.Ack(rawmqtt.HeaderPubrec, first[1].ID))
	sub.Expect(t, rawmqtt.HeaderPubrel)
	sub.Send(t, rawmqtt.Ack(rawmqtt.HeaderPubcomp, first[1].ID))
	sub.Send(t, rawmqtt.Ack(rawmqtt.HeaderPubcomp, first[2].ID))
	sub.Send(t, rawmqtt.Ack(rawmqtt.HeaderPuback, p.ID))
	b.leave(t, sub, "rsub")
	sub, _ = connectSession(t, b.addr, "rsub", false)
	sub.ExpectSilence(t, 200*time.Millisecond)
}

// TestCleanSessionDiscards: clean session 1 discards the stored session,
// its subscriptions and messages [MQTT-3.1.2-6]; a later clean session 0
// starts afresh.
func TestCleanSessionDiscards(t *testing.T) {
	b := start(t, nil)
	pub := connect(t, b.addr, "dpub", 30)
	sub, _ := connectSession(t, b.addr, "dsub", false)
	sub.SubscribeGranted(t, 1, "ds/#")
	b.leave(t, sub, "dsub")
	pub.Publish(t, rawmqtt.Publish{Topic: "ds/stored", Payload: "x", QoS: 1, ID: 1})

	sub, present := connectSession(t, b.addr, "dsub", true)
	if present {
		t.Error("clean session: session present 1 [MQTT-3.2.2-1]")
	}
	sub.ExpectSilence(t, 200*time.Millisecond)
	b.leave(t, sub, "dsub")

	sub, present = connectSession(t, b.addr, "dsub", false)
	if present {
		t.Error("after a clean session: session present 1")
	}
	pub.Publish(t, rawmqtt.Publish{Topic: "ds/after", Payload: "y", QoS: 1, ID: 2})
	sub.ExpectSilence(t, 200*time.Millisecond)
}

// TestInboundQoS2AcrossReconnect: a QoS 2 PUBLISH received and not yet
// released is remembered across connections of a persistent session, so
// the publisher's resend is not routed again [MQTT-4.3.3-2].
func TestInboundQoS2AcrossReconnect(t *testing.T) {
	b := start(t, nil)
	sub := connect(t, b.addr, "iqsub", 30)
	sub.SubscribeGranted(t, 0, "iq/#")
	pub, _ := connectSession(t, b.addr, "iqpub", false)
	pub.Send(t, rawmqtt.Publish{Topic: "iq/x", Payload: "once", QoS: 2, ID: 7}.Bytes())
	pub.Expect(t, rawmqtt.HeaderPubrec)
	b.drop(t, pub, "iqpub")

	pub, _ = connectSession(t, b.addr, "iqpub", false)
	pub.Send(t, rawmqtt.Publish{Topic: "iq/x", Payload: "once", QoS: 2, Dup: true, ID: 7}.Bytes())
	pub.ExpectAck(t, rawmqtt.HeaderPubrec, 7)
	pub.Send(t, rawmqtt.Ack(rawmqtt.HeaderPubrel, 7))
	pub.Expect(t, rawmqtt.HeaderPubcomp)
	// Released: the identifier may carry a new message.
	pub.Send(t, rawmqtt.Publish{Topic: "iq/y", Payload: "new", QoS: 2, ID: 7}.Bytes())
	pub.Expect(t, rawmqtt.HeaderPubrec)
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
			sub.SubscribeGranted(t, 1, "mb/#")
			b.leave(t, sub, "mbsub")
			for i := range row.publish {
				pub.Publish(t, rawmqtt.Publish{Topic: "mb/x", Payload: strings.Repeat(string(rune('a'+i)), 100), QoS: 1, ID: uint16(i + 1)})
			}
			l := b.log.waitLine(t, "persistent session mailbox full: message dropped (raise -session-max-messages / -session-max-bytes)", nil)
			if l["to"] == nil || l["max_messages"] != float64(row.msgs) || l["max_bytes"] != float64(row.bytes) {
				t.Errorf("drop line: %v", l)
			}
			sub, _ = connectSession(t, b.addr, "mbsub", false)
			for i := range row.wantKept {
				p := sub.ExpectPublish(t)
				if p.Payload[0] != byte('a'+i) {
					t.Errorf("stored message %d: %q", i, p.Payload[:1])
				}
				sub.Send(t, rawmqtt.Ack(rawmqtt.HeaderPuback, p.ID))
			}
			sub.ExpectSilence(t, 200*time.Millisecond)
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
			sleeper.SubscribeGranted(t, row.qos, "slow/#")
			pub := connect(t, b.addr, "fastpub", 30)
			payload := string(make([]byte, 256<<10))
			begin := time.Now()
			go func() {
				for i := range 60 {
					m := rawmqtt.Publish{Topic: "slow/x", Payload: payload, QoS: row.qos, ID: uint16(i + 1)}
					if _, err := pub.NetConn().Write(m.Bytes()); err != nil {
						return
					}
				}
				pub.NetConn().Write(rawmqtt.Pingreq())
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
					p, err := pub.Read(ioTimeout)
					if err != nil {
						t.Fatalf("publisher's PINGRESP: %v", err)
					}
					if p.Header == rawmqtt.HeaderPingresp {
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
			sleeper.DrainUntilClosed(t, ioTimeout)
		})
	}
}
