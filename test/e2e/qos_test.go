package e2e

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/forkmq/forkmq/internal/rawmqtt"
)

// TestQoSMatrix: every publisher QoS against every subscription QoS, paho
// on both ends. SUBACK grants the QoS asked for [MQTT-3.8.4-6]; the
// publisher's flows complete (PUBACK [MQTT-4.3.2-2]; PUBREC, PUBREL,
// PUBCOMP [MQTT-4.3.3-2]); each subscriber gets each message once at
// min(published, granted) QoS [MQTT-3.3.5-1], DUP 0 on a first delivery
// [MQTT-3.3.1-3] and RETAIN 0 [MQTT-3.3.1-9].
func TestQoSMatrix(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, engine string) {
		b := startBroker(t, withEngine(engine))
		var subs [3]*inbox // by granted QoS
		for granted := range subs {
			subs[granted] = subscribeQoS(t, connectPaho(t, b, newClientID("qsub")), byte(granted), "qos/matrix/#")
		}
		pub := connectPaho(t, b, newClientID("qpub"))
		for qos := range byte(3) {
			if err := pahoPublishQoS(pub, fmt.Sprintf("qos/matrix/%d", qos), qos, []byte{'0' + qos}, ioTimeout); err != nil {
				t.Fatal(err)
			}
		}
		for granted, in := range subs {
			got := fence(t, pub, in, "qos/matrix/fence")
			if len(got) != 3 {
				t.Errorf("subscriber granted QoS %d got %d messages %q, want 3", granted, len(got), topicsOf(got))
			}
			for _, m := range got {
				published := m.payload[0] - '0'
				if want := min(published, byte(granted)); m.qos != want || m.dup || m.retained {
					t.Errorf("QoS %d message to a QoS %d subscription arrived at QoS %d dup=%v retain=%v, want QoS %d, no DUP, no RETAIN",
						published, granted, m.qos, m.dup, m.retained, want)
				}
			}
		}
		b.assertClean(t, 4)
	})
}

// burstInflight is the -max-inflight of TestQoSBurst's broker.
const burstInflight = 5

// TestQoSBurst runs QoS 1 and 2 under a small in-flight window
// (-max-inflight 5), one scenario per subtest on one broker.
func TestQoSBurst(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, engine string) {
		b := startBroker(t, withEngine(engine), withArgs("-max-inflight", strconv.Itoa(burstInflight)))

		// [MQTT-4.6.0-6] 200 messages sent without waiting, alternately at
		// QoS 1 and 2 on one topic per QoS, reach a paho subscriber
		// complete, each once, in order per topic and QoS.
		t.Run("PahoInOrder", func(t *testing.T) {
			t.Parallel()
			const n, prefix = 200, "burst/paho/"
			in := subscribeQoS(t, connectPaho(t, b, newClientID("bsub")), 2, prefix+"#")
			if err := <-publishStream(connectPaho(t, b, newClientID("bpub")), prefix, n); err != nil {
				t.Fatal(err)
			}
			got := in.waitCount(t, n+1, 4*ioTimeout)
			if len(got) != n+1 || got[n].topic != prefix+"end" {
				t.Fatalf("got %d messages, the last on %s, want %d and then %send", len(got), got[len(got)-1].topic, n, prefix)
			}
			var log receiptLog
			for _, m := range got[:n] {
				log.add(t, rawmqtt.Delivery{Publish: rawmqtt.Publish{Topic: m.topic, Payload: string(m.payload), QoS: m.qos, Retain: m.retained, Dup: m.dup}})
			}
			log.check(t, prefix, n/2, true)
		})

		// The same with a raw subscriber of a persistent session, whose
		// messages pass through its mailbox, twice as many, in parallel.
		for i := range 2 {
			t.Run(fmt.Sprintf("InOrderPersistentSession%d", i), func(t *testing.T) {
				t.Parallel()
				const n = 600
				prefix := fmt.Sprintf("burst/session%d/", i)
				s := rawmqtt.Resumed(t, b.Addr, rawmqtt.MQTT311(newClientID("bsess")).Persistent(), false, nil)
				s.SubscribeGranted(t, 2, prefix+"#")
				published := publishStream(connectPaho(t, b, newClientID("bpub")), prefix, n)
				var log receiptLog
				for _, d := range s.Until(t, prefix+"end", "end") {
					log.add(t, d)
				}
				s.Settle(t)
				if err := <-published; err != nil {
					t.Fatal(err)
				}
				if len(log.all) != n {
					t.Errorf("got %d messages, want %d", len(log.all), n)
				}
				log.check(t, prefix, n/2, true)
			})
		}

		// The broker as receiver answers a pipelined burst in order:
		// PUBACKs in the order of the QoS 1 PUBLISHes, PUBRECs and PUBCOMPs
		// in the order of the QoS 2 ones (the ordering rules MQTT-4.6.0-2
		// to -4 state for a client, held by the server too).
		t.Run("AcksInOrder", func(t *testing.T) {
			t.Parallel()
			p := rawmqtt.Connected(t, b.Addr, rawmqtt.MQTT311(newClientID("ackord")))
			const n = 50
			send := func(qos byte, first uint16, ack func(id uint16) []byte) {
				var burst [][]byte
				for id := first; id < first+n; id++ {
					burst = append(burst, rawmqtt.Publish{Topic: "ackord/x", Payload: "p", QoS: qos, ID: id}.Bytes())
					if ack != nil {
						burst = append(burst, ack(id))
					}
				}
				p.Send(t, burst...)
			}
			expect := func(header byte, first uint16) {
				for id := first; id < first+n; id++ {
					p.ExpectAck(t, header, id)
				}
			}
			send(1, 1, nil)
			expect(rawmqtt.HeaderPuback, 1)
			send(2, 101, nil)
			expect(rawmqtt.HeaderPubrec, 101)
			var rels [][]byte
			for id := uint16(101); id < 101+n; id++ {
				rels = append(rels, rawmqtt.Ack(rawmqtt.HeaderPubrel, id))
			}
			p.Send(t, rels...)
			expect(rawmqtt.HeaderPubcomp, 101)
		})

		// A subscriber that never acknowledges its QoS 1 messages has at
		// most -max-inflight of them sent; each PUBACK lets one more in,
		// and the rest follow in order.
		t.Run("WindowWithoutAcks", func(t *testing.T) {
			t.Parallel()
			const n = 3 * burstInflight
			rc := rawmqtt.Connected(t, b.Addr, rawmqtt.MQTT311(newClientID("window")))
			rc.SubscribeCodes(t, 1, "win/q")
			p := connectPublisher(t, b)
			for i := range n {
				p.Publish(t, rawmqtt.Publish{Topic: "win/q", Payload: strconv.Itoa(i), QoS: 1})
			}
			var ids []uint16
			next := func() {
				t.Helper()
				m := rc.ExpectPublish(t)
				if want := strconv.Itoa(len(ids)); m.Payload != want || m.QoS != 1 || m.Dup {
					t.Fatalf("got %v, want message %s at QoS 1 without DUP", m, want)
				}
				if slices.Contains(ids, m.ID) {
					t.Fatalf("%v reuses an identifier in flight [MQTT-2.3.1-2]", m)
				}
				ids = append(ids, m.ID)
			}
			for range burstInflight {
				next()
			}
			rc.ExpectSilence(t, 500*time.Millisecond)
			rc.Send(t, rawmqtt.Ack(rawmqtt.HeaderPuback, ids[0]))
			next()
			rc.ExpectSilence(t, 200*time.Millisecond)
			for acked := 1; len(ids) < n; acked++ {
				rc.Send(t, rawmqtt.Ack(rawmqtt.HeaderPuback, ids[acked]))
				next()
			}
		})

		// [MQTT-4.3.3-2] A QoS 2 PUBLISH sent again with DUP 1 and the same
		// packet identifier before PUBREL, after its PUBREC or right behind
		// the first copy, is delivered once and answered with PUBREC again;
		// once PUBREL released the identifier, it starts a new message.
		t.Run("QoS2Resend", func(t *testing.T) {
			t.Parallel()
			sub := watchAt(t, b, 2, "dup/#")
			p := rawmqtt.Connected(t, b.Addr, rawmqtt.MQTT311(newClientID("duppub")))
			first := rawmqtt.Publish{Topic: "dup/x", Payload: "once", QoS: 2, ID: 9}
			resent := first
			resent.Dup = true
			p.Send(t, first.Bytes())
			p.ExpectAck(t, rawmqtt.HeaderPubrec, 9)
			p.Send(t, resent.Bytes())
			p.ExpectAck(t, rawmqtt.HeaderPubrec, 9)
			p.Send(t, rawmqtt.Ack(rawmqtt.HeaderPubrel, 9))
			p.ExpectAck(t, rawmqtt.HeaderPubcomp, 9)

			piped := rawmqtt.Publish{Topic: "dup/x", Payload: "piped", QoS: 2, ID: 10}
			pipedAgain := piped
			pipedAgain.Dup = true
			p.Send(t, piped.Bytes(), pipedAgain.Bytes())
			p.ExpectAck(t, rawmqtt.HeaderPubrec, 10)
			p.ExpectAck(t, rawmqtt.HeaderPubrec, 10)
			p.Send(t, rawmqtt.Ack(rawmqtt.HeaderPubrel, 10))
			p.ExpectAck(t, rawmqtt.HeaderPubcomp, 10)

			reused := rawmqtt.Publish{Topic: "dup/x", Payload: "new", QoS: 2, ID: 9}
			end := rawmqtt.Publish{Topic: "dup/end", Payload: "end", QoS: 2, ID: 11}
			for _, m := range []rawmqtt.Publish{reused, end} {
				p.Send(t, m.Bytes())
				p.ExpectAck(t, rawmqtt.HeaderPubrec, m.ID)
				p.Send(t, rawmqtt.Ack(rawmqtt.HeaderPubrel, m.ID))
				p.ExpectAck(t, rawmqtt.HeaderPubcomp, m.ID)
			}
			got := sub.Until(t, "dup/end", "end")
			if want := []string{"once", "piped", "new"}; !slices.Equal(payloadsOf(got), want) {
				t.Errorf("subscriber got %q, want %q, each once", payloadsOf(got), want)
			}
			for _, d := range got {
				if d.QoS != 2 || d.Dup {
					t.Errorf("got %v, want QoS 2 without DUP", d.Publish)
				}
			}
		})
	})
}

// publishStream publishes n messages from c without waiting between them,
// alternately at QoS 1 on prefix+"q1" and QoS 2 on prefix+"q2", payload the
// sequence number; once all are acknowledged, a QoS 1 "end" on
// prefix+"end". The channel says how it went.
func publishStream(c mqtt.Client, prefix string, n int) <-chan error {
	done := make(chan error, 1)
	go func() {
		toks := make([]mqtt.Token, n)
		for i := range n {
			qos := byte(1 + i%2)
			toks[i] = c.Publish(fmt.Sprintf("%sq%d", prefix, qos), qos, false, strconv.Itoa(i))
		}
		for i, tok := range toks {
			if !tok.WaitTimeout(4 * ioTimeout) {
				done <- fmt.Errorf("publish %d: not acknowledged within %v", i, 4*ioTimeout)
				return
			}
			if err := tok.Error(); err != nil {
				done <- fmt.Errorf("publish %d: %w", i, err)
				return
			}
		}
		done <- pahoPublishQoS(c, prefix+"end", 1, []byte("end"), ioTimeout)
	}()
	return done
}

// receiptLog records what a subscriber of publishStream received.
type receiptLog struct {
	all   []rawmqtt.Delivery
	again int // QoS 2 resends of held identifiers
}

func (l *receiptLog) add(t testing.TB, d rawmqtt.Delivery) {
	t.Helper()
	if d.Again {
		l.again++
		if !d.Dup {
			t.Errorf("%v is sent again without DUP [MQTT-3.3.1-1]", d.Publish)
		}
	}
	l.all = append(l.all, d)
}

// check requires every QoS 1 message at least once, every QoS 2 message
// exactly once, at the published QoS, and if ordered, first deliveries in
// order per topic.
func (l *receiptLog) check(t testing.TB, prefix string, perQoS int, ordered bool) {
	t.Helper()
	counts := make([]int, 2*perQoS)
	last := map[string]int{prefix + "q1": -2, prefix + "q2": -1} // even on q1, odd on q2
	var problems []string
	for _, d := range l.all {
		i, err := strconv.Atoi(d.Payload)
		if err != nil || i < 0 || i >= len(counts) || d.Topic != fmt.Sprintf("%sq%d", prefix, 1+i%2) || d.QoS != byte(1+i%2) {
			problems = append(problems, fmt.Sprintf("unexpected %v", d.Publish))
			continue
		}
		if d.Again {
			continue
		}
		counts[i]++
		if ordered && !d.Dup && i <= last[d.Topic] {
			problems = append(problems, fmt.Sprintf("message %d on %s came after message %d without DUP", i, d.Topic, last[d.Topic]))
		}
		if !d.Dup {
			last[d.Topic] = i
		}
	}
	for i, n := range counts {
		switch qos := 1 + i%2; {
		case n == 0:
			problems = append(problems, fmt.Sprintf("QoS %d message %d lost", qos, i))
		case qos == 2 && n > 1:
			problems = append(problems, fmt.Sprintf("QoS 2 message %d delivered %d times", i, n))
		}
	}
	if len(problems) > 0 {
		const most = 20
		t.Errorf("%d problems in %d deliveries: %s", len(problems), len(l.all), strings.Join(problems[:min(len(problems), most)], "; "))
	}
}
