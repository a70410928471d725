package e2e

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
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
				log.add(t, delivery{pub: pub{topic: m.topic, payload: string(m.payload), qos: m.qos, retain: m.retained, dup: m.dup}})
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
				s := connectSubscriber(t, b, mqtt311Persistent(newClientID("bsess")), false, nil)
				s.subscribe(t, 2, prefix+"#")
				published := publishStream(connectPaho(t, b, newClientID("bpub")), prefix, n)
				var log receiptLog
				for _, d := range s.until(t, prefix+"end", "end") {
					log.add(t, d)
				}
				s.settle(t)
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
			p := connectRaw(t, b, mqtt311(newClientID("ackord")))
			const n = 50
			send := func(qos byte, first uint16, ack func(id uint16) []byte) {
				var burst [][]byte
				for id := first; id < first+n; id++ {
					burst = append(burst, pub{topic: "ackord/x", payload: "p", qos: qos, id: id}.bytes())
					if ack != nil {
						burst = append(burst, ack(id))
					}
				}
				p.send(t, burst...)
			}
			expect := func(header byte, first uint16) {
				for id := first; id < first+n; id++ {
					p.expectAck(t, header, id)
				}
			}
			send(1, 1, nil)
			expect(hdrPuback, 1)
			send(2, 101, nil)
			expect(hdrPubrec, 101)
			var rels [][]byte
			for id := uint16(101); id < 101+n; id++ {
				rels = append(rels, ackBytes(hdrPubrel, id))
			}
			p.send(t, rels...)
			expect(hdrPubcomp, 101)
		})

		// A subscriber that never acknowledges its QoS 1 messages has at
		// most -max-inflight of them sent; each PUBACK lets one more in,
		// and the rest follow in order.
		t.Run("WindowWithoutAcks", func(t *testing.T) {
			t.Parallel()
			const n = 3 * burstInflight
			rc := connectRaw(t, b, mqtt311(newClientID("window")))
			rc.subscribeAt(t, 1, "win/q")
			p := connectPublisher(t, b)
			for i := range n {
				p.publish(t, "win/q", strconv.Itoa(i), 1, false)
			}
			var ids []uint16
			next := func() {
				t.Helper()
				m := rc.nextPublish(t)
				if want := strconv.Itoa(len(ids)); m.payload != want || m.qos != 1 || m.dup {
					t.Fatalf("got %v, want message %s at QoS 1 without DUP", m, want)
				}
				if slices.Contains(ids, m.id) {
					t.Fatalf("%v reuses an identifier in flight [MQTT-2.3.1-2]", m)
				}
				ids = append(ids, m.id)
			}
			for range burstInflight {
				next()
			}
			rc.expectSilence(t, 500*time.Millisecond)
			rc.send(t, ackBytes(hdrPuback, ids[0]))
			next()
			rc.expectSilence(t, 200*time.Millisecond)
			for acked := 1; len(ids) < n; acked++ {
				rc.send(t, ackBytes(hdrPuback, ids[acked]))
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
			p := connectRaw(t, b, mqtt311(newClientID("duppub")))
			first := pub{topic: "dup/x", payload: "once", qos: 2, id: 9}
			resent := first
			resent.dup = true
			p.send(t, first.bytes())
			p.expectAck(t, hdrPubrec, 9)
			p.send(t, resent.bytes())
			p.expectAck(t, hdrPubrec, 9)
			p.send(t, ackBytes(hdrPubrel, 9))
			p.expectAck(t, hdrPubcomp, 9)

			piped := pub{topic: "dup/x", payload: "piped", qos: 2, id: 10}
			pipedAgain := piped
			pipedAgain.dup = true
			p.send(t, piped.bytes(), pipedAgain.bytes())
			p.expectAck(t, hdrPubrec, 10)
			p.expectAck(t, hdrPubrec, 10)
			p.send(t, ackBytes(hdrPubrel, 10))
			p.expectAck(t, hdrPubcomp, 10)

			reused := pub{topic: "dup/x", payload: "new", qos: 2, id: 9}
			end := pub{topic: "dup/end", payload: "end", qos: 2, id: 11}
			for _, m := range []pub{reused, end} {
				p.send(t, m.bytes())
				p.expectAck(t, hdrPubrec, m.id)
				p.send(t, ackBytes(hdrPubrel, m.id))
				p.expectAck(t, hdrPubcomp, m.id)
			}
			got := sub.until(t, "dup/end", "end")
			if want := []string{"once", "piped", "new"}; !slices.Equal(payloadsOf(got), want) {
				t.Errorf("subscriber got %q, want %q, each once", payloadsOf(got), want)
			}
			for _, d := range got {
				if d.qos != 2 || d.dup {
					t.Errorf("got %v, want QoS 2 without DUP", d.pub)
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
	all   []delivery
	again int // QoS 2 resends of held identifiers
}

func (l *receiptLog) add(t testing.TB, d delivery) {
	t.Helper()
	if d.again {
		l.again++
		if !d.dup {
			t.Errorf("%v is sent again without DUP [MQTT-3.3.1-1]", d.pub)
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
		i, err := strconv.Atoi(d.payload)
		if err != nil || i < 0 || i >= len(counts) || d.topic != fmt.Sprintf("%sq%d", prefix, 1+i%2) || d.qos != byte(1+i%2) {
			problems = append(problems, fmt.Sprintf("unexpected %v", d.pub))
			continue
		}
		if d.again {
			continue
		}
		counts[i]++
		if ordered && !d.dup && i <= last[d.topic] {
			problems = append(problems, fmt.Sprintf("message %d on %s came after message %d without DUP", i, d.topic, last[d.topic]))
		}
		if !d.dup {
			last[d.topic] = i
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
