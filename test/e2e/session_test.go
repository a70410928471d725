package e2e

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/forkmq/forkmq/internal/rawmqtt"
)

// disconnect sends DISCONNECT, requires the close, and waits for the
// broker's n-th "client disconnected" line of clientID: the connection is
// cleaned up then. A PUBREL may still come before the close (a PUBREC the
// client sent twice is answered twice).
func (b *broker) disconnect(t testing.TB, rc *rawmqtt.Conn, clientID string, n int) {
	t.Helper()
	rc.Send(t, rawmqtt.Disconnect())
	for rc.ClosedOrAnswered(t, "PUBREL", func(p rawmqtt.Packet) bool { return p.Header == rawmqtt.HeaderPubrel }) {
	}
	b.nthClientLine(t, "client disconnected", clientID, n)
}

// payloadsByTopic groups the payloads of messages by topic, in order.
func payloadsByTopic(ms []rawmqtt.Publish) map[string][]string {
	out := make(map[string][]string)
	for _, m := range ms {
		out[m.Topic] = append(out[m.Topic], m.Payload)
	}
	return out
}

// pubsOf lists the messages of deliveries.
func pubsOf(ds []rawmqtt.Delivery) []rawmqtt.Publish {
	out := make([]rawmqtt.Publish, len(ds))
	for i, d := range ds {
		out[i] = d.Publish
	}
	return out
}

// expectMailboxEmpty requires the mailbox of clientID's persistent session
// to hold no message once every message is acknowledged.
func (b *broker) expectMailboxEmpty(t testing.TB, clientID string) {
	t.Helper()
	mustEventually(t, leakTimeout, func() error {
		if left := b.mailboxMessages(clientID); len(left) > 0 {
			return fmt.Errorf("every message is acknowledged, yet the mailbox of %s holds %d: %v", clientID, len(left), left)
		}
		return nil
	})
}

// TestPersistentSession: a client with clean session 0 subscribes and
// leaves; QoS 1 and 2 messages published meanwhile are stored
// [MQTT-3.1.2-5] and delivered, in order per topic [MQTT-4.6.0-6], when it
// comes back with session present 1 [MQTT-3.2.2-2] (present 0 the first
// time [MQTT-3.2.2-3]); its subscription still holds without a new
// SUBSCRIBE [MQTT-3.1.2-4]. Clean session 1 then discards the session:
// session present 0, nothing stored is delivered, the subscription is gone,
// and a later clean session 0 starts afresh [MQTT-3.1.2-6].
func TestPersistentSession(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, engine string) {
		b := startBroker(t, withEngine(engine))
		id := newClientID("ps")
		s := rawmqtt.Resumed(t, b.Addr, rawmqtt.MQTT311(id).Persistent(), false, nil)
		s.SubscribeGranted(t, 2, "ps/#")
		b.disconnect(t, s, id, 1)

		p := connectPublisher(t, b)
		want := publishRounds(t, p, "ps/", 5)
		s = rawmqtt.Resumed(t, b.Addr, rawmqtt.MQTT311(id).Persistent(), true, s.ReceiverState())
		p.Publish(t, rawmqtt.Publish{Topic: "ps/end", Payload: "end", QoS: 1})
		got := s.Until(t, "ps/end", "end")
		if g, w := payloadsByTopic(pubsOf(got)), payloadsByTopic(want); !maps.EqualFunc(g, w, slices.Equal) {
			t.Errorf("after reconnecting got %v, want %v", g, w)
		}
		checkDeliveries(t, "after reconnecting", got, want)
		s.Settle(t)
		b.expectMailboxEmpty(t, id)
		b.disconnect(t, s, id, 2)

		p.Publish(t, rawmqtt.Publish{Topic: "ps/q1", Payload: "stale", QoS: 1})
		p.Publish(t, rawmqtt.Publish{Topic: "ps/q2", Payload: "stale", QoS: 2})
		c := rawmqtt.Resumed(t, b.Addr, rawmqtt.MQTT311(id), false, nil)
		marker := newFenceTopic()
		c.SubscribeGranted(t, 0, marker)
		p.Publish(t, rawmqtt.Publish{Topic: "ps/q1", Payload: "after clean", QoS: 1})
		checkDeliveries(t, "a clean session", c.SelfFence(t, marker), nil)
		b.disconnect(t, c, id, 3)

		s = rawmqtt.Resumed(t, b.Addr, rawmqtt.MQTT311(id).Persistent(), false, nil)
		s.SubscribeGranted(t, 0, marker)
		p.Publish(t, rawmqtt.Publish{Topic: "ps/q1", Payload: "after the discard", QoS: 1})
		checkDeliveries(t, "a new persistent session", s.SelfFence(t, marker), nil)

		// The publisher's router routed to the first session's queue, and
		// the new session's queue has the same name: the new session gets
		// what it now subscribes to.
		s.SubscribeGranted(t, 1, "ps/new")
		p.Publish(t, rawmqtt.Publish{Topic: "ps/new", Payload: "to the new session", QoS: 1})
		if before := s.Until(t, "ps/new", "to the new session"); len(before) != 0 {
			t.Errorf("the new session got %v before the message to it, want nothing", pubsOf(before))
		}
	})
}

// TestSessionWorkerKilled: a persistent-session subscriber receives 300
// QoS 1 and 300 QoS 2 messages while its deliverer (or router) is
// SIGKILLed mid-stream; it reconnects with clean session 0 and the broker
// resumes the session [MQTT-4.4.0-1]: every QoS 1 message arrives at least
// once, every QoS 2 message exactly once (a resend of an identifier the
// client holds is the same message [MQTT-4.3.3-2]) and resends carry DUP 1
// [MQTT-3.3.1-1]; first deliveries stay in order per topic [MQTT-4.6.0-6].
// The settled messages leave the mailbox.
func TestSessionWorkerKilled(t *testing.T) {
	t.Parallel()
	const perQoS = 300
	forEachEngine(t, func(t *testing.T, engine string) {
		requireProcessEngine(t, engine, "worker processes to kill")
		b := startBroker(t, withEngine(engine))
		for _, role := range []string{"deliverer", "router"} {
			t.Run(role, func(t *testing.T) {
				t.Parallel()
				id := newClientID("killed")
				prefix := "killed/" + role + "/"
				s := rawmqtt.Resumed(t, b.Addr, rawmqtt.MQTT311(id).Persistent(), false, nil)
				s.SubscribeGranted(t, 2, prefix+"#")
				published := publishStream(connectPaho(t, b, newClientID("killpub")), prefix, 2*perQoS)

				var log receiptLog
				for len(log.all) < perQoS/3 {
					log.add(t, s.Next(t))
				}
				b.killWorker(t, b.nthClientLine(t, "client connected", id, 1), role)
				for {
					d, err := s.Receive(ioTimeout)
					if d.Topic != "" {
						// Received, even if its acknowledgement could not
						// be written: the client holds a QoS 2 one now.
						log.add(t, d)
					}
					if err != nil {
						if !rawmqtt.IsClosed(err) {
							t.Fatalf("after SIGKILL of the %s: want the connection closed: %v", role, err)
						}
						break
					}
				}
				before := len(log.all)
				s = rawmqtt.Resumed(t, b.Addr, rawmqtt.MQTT311(id).Persistent(), true, s.ReceiverState())
				if err := <-published; err != nil {
					t.Fatal(err)
				}
				for {
					d := s.Next(t)
					if d.Topic == prefix+"end" {
						break
					}
					log.add(t, d)
				}
				s.Settle(t)
				t.Logf("%d deliveries before the SIGKILL, %d after; %d QoS 2 resends of held identifiers", before, len(log.all)-before, log.again)
				// Order is TestQoSBurst's concern.
				log.check(t, prefix, perQoS, false)
				b.expectMailboxEmpty(t, id)
			})
		}
	})
}

// TestSessionSurvivesRestart: persistent sessions outlive the broker, after
// SIGTERM and after SIGKILL of the broker process: on the same state
// directory the next broker resumes them (session present 1
// [MQTT-3.2.2-2]). A session that was offline gets what was stored for it
// [MQTT-3.1.2-5]; a session that was connected and had not acknowledged its
// messages gets them again with DUP 1 and the same packet identifiers
// [MQTT-4.4.0-1]; both stay subscribed [MQTT-3.1.2-4].
func TestSessionSurvivesRestart(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, engine string) {
		requireProcessEngine(t, engine, "persistent sessions that outlive the broker (it keeps them in memory)")
		for name, end := range map[string]func(*broker, testing.TB){"SIGTERM": (*broker).stop, "SIGKILL": (*broker).killParent} {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				b := startBroker(t, withEngine(engine))
				offID, onID := newClientID("off"), newClientID("on")
				off := rawmqtt.Resumed(t, b.Addr, rawmqtt.MQTT311(offID).Persistent(), false, nil)
				off.SubscribeGranted(t, 2, "rs/#")
				b.disconnect(t, off, offID, 1)
				on := rawmqtt.Connected(t, b.Addr, rawmqtt.MQTT311(onID).Persistent())
				on.SubscribeCodes(t, 2, "rs/#")

				sent := publishRounds(t, connectPublisher(t, b), "rs/", 4)
				// The connected session receives all and acknowledges none.
				unacked := make(map[uint16]rawmqtt.Publish)
				for range sent {
					m := on.ExpectPublish(t)
					unacked[m.ID] = m
				}

				end(b, t)
				b = b.restart(t)
				off = rawmqtt.Resumed(t, b.Addr, rawmqtt.MQTT311(offID).Persistent(), true, nil)
				resumed := rawmqtt.Resumed(t, b.Addr, rawmqtt.MQTT311(onID).Persistent(), true, nil)
				connectPublisher(t, b).Publish(t, rawmqtt.Publish{Topic: "rs/end", Payload: "end", QoS: 1})
				checkDeliveries(t, "the session that was offline", off.Until(t, "rs/end", "end"), sent)
				var resent []rawmqtt.Publish
				for _, d := range resumed.Until(t, "rs/end", "end") {
					if first, ok := unacked[d.ID]; !ok || first.Topic != d.Topic || first.Payload != d.Payload || !d.Dup {
						t.Errorf("after the restart got %v, want a resend with DUP of an unacknowledged message (%v)", d.Publish, first)
					}
					resent = append(resent, d.Publish)
				}
				if len(resent) != len(unacked) {
					t.Errorf("after the restart %d of %d unacknowledged messages were sent again", len(resent), len(unacked))
				}
				off.Settle(t)
				resumed.Settle(t)
				b.expectMailboxEmpty(t, offID)
				b.expectMailboxEmpty(t, onID)
			})
		}
	})
}

// TestSessionMailboxBound: with -session-max-messages 5, an offline
// session keeps the first 5 QoS 1 messages; the broker drops the later
// ones and logs each drop with "mailbox full".
func TestSessionMailboxBound(t *testing.T) {
	t.Parallel()
	const bound, n = 5, 10
	forEachEngine(t, func(t *testing.T, engine string) {
		b := startBroker(t, withEngine(engine), withArgs("-session-max-messages", strconv.Itoa(bound)))
		id := newClientID("bound")
		s := rawmqtt.Resumed(t, b.Addr, rawmqtt.MQTT311(id).Persistent(), false, nil)
		s.SubscribeGranted(t, 1, "mb/#")
		b.disconnect(t, s, id, 1)
		p := connectPublisher(t, b)
		for i := range n {
			p.Publish(t, rawmqtt.Publish{Topic: "mb/q", Payload: strconv.Itoa(i), QoS: 1})
		}
		var drops []logEntry
		err := eventually(leakTimeout, func() error {
			drops = drops[:0]
			for _, e := range b.log.entries() {
				if strings.Contains(e.str("message"), "mailbox full") {
					drops = append(drops, e)
				}
			}
			if len(drops) != n-bound {
				return fmt.Errorf("%d log lines say \"mailbox full\", want %d (one per dropped message)", len(drops), n-bound)
			}
			return nil
		})
		if err != nil {
			t.Error(err)
		}

		s = rawmqtt.Resumed(t, b.Addr, rawmqtt.MQTT311(id).Persistent(), true, nil)
		for i := range bound {
			if d := s.Next(t); d.Payload != strconv.Itoa(i) {
				t.Errorf("after reconnecting got %v, want message %d", d.Publish, i)
			}
		}
		// Nothing more is stored: the broker answers a PINGREQ next, and
		// once the mailbox is settled a new message comes alone.
		s.Ping(t)
		b.expectMailboxEmpty(t, id)
		p.Publish(t, rawmqtt.Publish{Topic: "mb/end", Payload: "end", QoS: 1})
		if extra := s.Until(t, "mb/end", "end"); len(extra) > 0 {
			t.Errorf("after the first %d messages got %q too", bound, payloadsOf(extra))
		}
	})
}
