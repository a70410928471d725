package rawmqtt

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// recorder is a TB that records what a test would report. Fatalf stops
// the expectation as testing's does, by leaving the goroutine's function
// (here with a panic that run recovers).
type recorder struct {
	*testing.T // Cleanup; Helper
	errors     []string
	fatal      string
}

var errStopped = errors.New("Fatalf")

func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.fatal = fmt.Sprintf(format, args...)
	panic(errStopped)
}

// run calls fn and reports whether it returned without Fatalf.
func (r *recorder) run(fn func(TB)) (finished bool) {
	defer func() {
		if v := recover(); v != nil && v != errStopped {
			panic(v)
		}
	}()
	fn(r)
	return true
}

// TestExpectationsReport: each expectation passes on the right answer and
// fails, saying what came instead, on a wrong one.
func TestExpectationsReport(t *testing.T) {
	pubA := Publish{Topic: "a", Payload: "x"}.Bytes()
	for _, tc := range []struct {
		name   string
		broker []byte // what the fake broker sends, then it closes
		closes bool   // the broker closes after sending; else it waits
		expect func(t TB, c *Conn)
		fatal  string // "" must pass; else a substring of the failure
		errors int    // Errorf calls
	}{
		{"Expect", []byte{HeaderPingresp, 0}, false, func(t TB, c *Conn) { c.Expect(t, HeaderPingresp) }, "", 0},
		{"Expect other", []byte{HeaderPingresp, 0}, false, func(t TB, c *Conn) { c.Expect(t, HeaderSuback) }, "want SUBACK (0x90), got PINGRESP (0xd0)", 0},
		{"ExpectAck", Ack(HeaderPuback, 4), false, func(t TB, c *Conn) { c.ExpectAck(t, HeaderPuback, 4) }, "", 0},
		{"ExpectAck other id", Ack(HeaderPuback, 5), false, func(t TB, c *Conn) { c.ExpectAck(t, HeaderPuback, 4) }, "want PUBACK (0x40) for identifier 4, got PUBACK (0x40) body 00 05", 0},
		{"ExpectConnack", []byte{HeaderConnack, 2, 1, 0}, false, func(t TB, c *Conn) { c.ExpectConnack(t, Accepted, true) }, "", 0},
		{"ExpectConnack present", []byte{HeaderConnack, 2, 1, 0}, false, func(t TB, c *Conn) { c.ExpectConnack(t, Accepted, false) }, "", 1},
		{"ExpectConnack reserved flag", []byte{HeaderConnack, 2, 2, 0}, false, func(t TB, c *Conn) { c.ExpectConnack(t, Accepted, false) }, "", 1},
		{"ExpectConnack code", []byte{HeaderConnack, 2, 0, 5}, false, func(t TB, c *Conn) { c.ExpectConnack(t, Accepted, false) }, "return code 5 (not authorized), want 0", 0},
		{"ExpectConnack short", []byte{HeaderConnack, 1, 0}, false, func(t TB, c *Conn) { c.ExpectConnack(t, Accepted, false) }, "CONNACK remaining length 1", 0},
		{"PUBLISH before CONNACK", append(append([]byte(nil), pubA...), HeaderConnack, 2, 0, 0), false, func(t TB, c *Conn) {
			c.ExpectConnack(t, Accepted, false)
			if m := c.ExpectPublish(t); m.Topic != "a" {
				t.Fatalf("the early PUBLISH is not read first: %v", m)
			}
		}, "", 1},
		{"ExpectPublish malformed", Publish{Topic: "a", QoS: 3, ID: 1}.Bytes(), false, func(t TB, c *Conn) { c.ExpectPublish(t) }, "QoS 3 [MQTT-3.3.1-4]", 0},
		{"ExpectPlainPublish retained", Publish{Topic: "a", Retain: true}.Bytes(), false, func(t TB, c *Conn) { c.ExpectPlainPublish(t, 0) }, "want PUBLISH (0x30), got PUBLISH (0x31)", 0},
		{"ExpectClosed", nil, true, func(t TB, c *Conn) { c.ExpectClosed(t, WaitTimeout) }, "", 0},
		{"ExpectClosed packet", []byte{HeaderPingresp, 0}, true, func(t TB, c *Conn) { c.ExpectClosed(t, WaitTimeout) }, "want the connection closed, got PINGRESP", 0},
		{"ExpectClosed open", nil, false, func(t TB, c *Conn) { c.ExpectClosed(t, 50*time.Millisecond) }, "closed within 50ms", 0},
		{"DrainUntilClosed", []byte{HeaderPingresp, 0, HeaderPingresp, 0}, true, func(t TB, c *Conn) { c.DrainUntilClosed(t, WaitTimeout) }, "", 0},
		{"ExpectSilence", nil, false, func(t TB, c *Conn) { c.ExpectSilence(t, 50*time.Millisecond) }, "", 0},
		{"ExpectSilence closed", nil, true, func(t TB, c *Conn) { c.ExpectSilence(t, WaitTimeout) }, "the connection closed", 0},
		{"ExpectRefused", []byte{HeaderConnack, 2, 0, 2}, true, func(t TB, c *Conn) { c.ExpectRefused(t) }, "", 0},
		{"ExpectRefused accepted", connackAccepted, true, func(t TB, c *Conn) { c.ExpectRefused(t) }, "want the connection closed or a refusing CONNACK", 0},
		{"ExpectClosedOrFailedSuback", []byte{HeaderSuback, 4, 0, 1, 0x80, 0x80}, false, func(t TB, c *Conn) { c.ExpectClosedOrFailedSuback(t) }, "", 0},
		{"ExpectClosedOrFailedSuback granted", []byte{HeaderSuback, 4, 0, 1, 0x80, 0}, false, func(t TB, c *Conn) { c.ExpectClosedOrFailedSuback(t) }, "a SUBACK refusing every filter", 0},
		{"SubscribeGranted", []byte{HeaderSuback, 4, 0, 1, 1, 1}, false, func(t TB, c *Conn) { c.SubscribeGranted(t, 1, "a", "b") }, "", 0},
		{"SubscribeGranted lower", []byte{HeaderSuback, 4, 0, 1, 1, 0}, false, func(t TB, c *Conn) { c.SubscribeGranted(t, 1, "a", "b") }, `SUBACK for "b": 0x0, want the QoS asked for, 1`, 0},
		{"SubscribeGranted other id", []byte{HeaderSuback, 3, 0, 2, 1}, false, func(t TB, c *Conn) { c.SubscribeGranted(t, 1, "a") }, "[MQTT-3.8.4-2]", 0},
		{"Ping", append(Ack(HeaderPubrel, 3), HeaderPingresp, 0), false, func(t TB, c *Conn) { c.Ping(t) }, "", 0},
		{"Ping other", pubA, false, func(t TB, c *Conn) { c.Ping(t) }, "want PINGRESP, got PUBLISH", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := fakeBroker(t, func(c net.Conn) error {
				c.Write(tc.broker)
				if !tc.closes {
					_, _ = c.Read(make([]byte, 64)) // until the client closes
				}
				return nil
			})
			r := &recorder{T: t}
			c := Open(r, addr)
			finished := r.run(func(t TB) { tc.expect(t, c) })
			c.Close()
			switch {
			case tc.fatal == "" && !finished:
				t.Errorf("failed: %s", r.fatal)
			case tc.fatal != "" && (finished || !strings.Contains(r.fatal, tc.fatal)):
				t.Errorf("failure %q, want one with %q", r.fatal, tc.fatal)
			}
			if len(r.errors) != tc.errors {
				t.Errorf("reported %q, want %d errors", r.errors, tc.errors)
			}
		})
	}
}

// TestReceiverFlow: the receiver's side of QoS 1 and 2 over two
// connections of one session: a QoS 2 message sent again before PUBREL is
// marked Again [MQTT-4.3.3-2], PUBREL is answered with PUBCOMP and frees
// the identifier, the held identifiers carry over to the next connection,
// and an identifier reused for another message before PUBREL is an error
// [MQTT-2.3.1-2].
func TestReceiverFlow(t *testing.T) {
	first := fakeBroker(t, func(c net.Conn) error {
		c.Write(append(Publish{Topic: "q", Payload: "two", QoS: 2, ID: 3}.Bytes(), Publish{Topic: "q", Payload: "one", QoS: 1, ID: 4}.Bytes()...))
		return expectBytes(c, Ack(HeaderPubrec, 3), Ack(HeaderPuback, 4))
	})
	c := Open(t, first)
	for _, want := range []Delivery{
		{Publish: Publish{Topic: "q", Payload: "two", QoS: 2, ID: 3}},
		{Publish: Publish{Topic: "q", Payload: "one", QoS: 1, ID: 4}},
	} {
		if d := c.Next(t); d != want {
			t.Errorf("got %+v, want %+v", d, want)
		}
	}
	rx := c.ReceiverState()
	c.Close()

	second := fakeBroker(t, func(c net.Conn) error {
		if err := expectBytes(c, MQTT311("s").Persistent().Bytes()); err != nil {
			return err
		}
		c.Write(append([]byte{HeaderConnack, 2, 1, 0}, Publish{Topic: "q", Payload: "two", QoS: 2, ID: 3, Dup: true}.Bytes()...))
		if err := expectBytes(c, Ack(HeaderPubrec, 3)); err != nil {
			return err
		}
		c.Write(append(Ack(HeaderPubrel, 3), Publish{Topic: "q", Payload: "new", QoS: 2, ID: 3}.Bytes()...))
		if err := expectBytes(c, Ack(HeaderPubcomp, 3), Ack(HeaderPubrec, 3)); err != nil {
			return err
		}
		c.Write(Publish{Topic: "q", Payload: "other", QoS: 2, ID: 3}.Bytes())
		return nil
	})
	c = Resumed(t, second, MQTT311("s").Persistent(), true, rx)
	if d := c.Next(t); !d.Again || !d.Dup || d.Payload != "two" {
		t.Errorf("resent message: %+v, want Again", d)
	}
	if d := c.Next(t); d.Again || d.Payload != "new" {
		t.Errorf("after PUBREL: %+v, want a new message", d)
	}
	if _, err := c.Receive(WaitTimeout); err == nil || !strings.Contains(err.Error(), "[MQTT-2.3.1-2]") {
		t.Errorf("identifier reused before PUBREL: %v, want the error", err)
	}
}

// TestPublishFlows: Publish completes the sender's side of each QoS with
// the message's identifier, taking NextID when it has none; at QoS 0 a
// PINGREQ round trip follows.
func TestPublishFlows(t *testing.T) {
	addr := fakeBroker(t, func(c net.Conn) error {
		steps := []struct{ in, out []byte }{
			{Publish{Topic: "t", Payload: "0"}.Bytes(), nil},
			{Pingreq(), []byte{HeaderPingresp, 0}},
			{Publish{Topic: "t", Payload: "1", QoS: 1, ID: 1}.Bytes(), Ack(HeaderPuback, 1)},
			{Publish{Topic: "t", Payload: "2", QoS: 2, ID: 40}.Bytes(), Ack(HeaderPubrec, 40)},
			{Ack(HeaderPubrel, 40), Ack(HeaderPubcomp, 40)},
		}
		for _, s := range steps {
			if err := expectBytes(c, s.in); err != nil {
				return err
			}
			c.Write(s.out)
		}
		return nil
	})
	c := Open(t, addr)
	c.Publish(t, Publish{Topic: "t", Payload: "0"})
	if m := c.Publish(t, Publish{Topic: "t", Payload: "1", QoS: 1}); m.ID != 1 {
		t.Errorf("the first NextID is %d, want 1", m.ID)
	}
	c.Publish(t, Publish{Topic: "t", Payload: "2", QoS: 2, ID: 40})
}

func TestNextIDWraps(t *testing.T) {
	c := NewConn(nil, Options{})
	c.lastID.Store(65534)
	for _, want := range []uint16{65535, 1, 2} {
		if got := c.NextID(); got != want {
			t.Fatalf("NextID = %d, want %d", got, want)
		}
	}
}
