package rawmqtt

import (
	"errors"
	"net"
	"slices"
	"time"
)

// TB is what the expectations need of a test: *testing.T, *testing.B and
// *testing.F have it. An interface rather than testing.TB keeps package
// testing out of the benchmark's binary.
type TB interface {
	Helper()
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
	Cleanup(func())
}

// Open dials addr and sends nothing; the connection is closed when the
// test ends.
func Open(t TB, addr string) *Conn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, WaitTimeout)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { nc.Close() })
	return NewConn(nc, Options{})
}

// Connected opens a connection, sends CONNECT c and requires CONNACK 0
// with session present 0 [MQTT-3.2.2-1, MQTT-3.2.2-3].
func Connected(t TB, addr string, c Connect) *Conn {
	t.Helper()
	return Resumed(t, addr, c, false, nil)
}

// Resumed is Connected with the session present flag CONNACK must carry
// [MQTT-3.2.2-2, MQTT-3.2.2-3], and with rx as the receiver's QoS 2 state
// (nil: a new one): a persistent session's state carries over from the
// connection before.
func Resumed(t TB, addr string, c Connect, present bool, rx *ReceiverState) *Conn {
	t.Helper()
	conn := Open(t, addr)
	if rx != nil {
		conn.rx = rx
	}
	conn.Send(t, c.Bytes())
	conn.ExpectConnack(t, Accepted, present)
	return conn
}

// Refused opens a connection, sends connect and requires CONNACK with the
// non-zero code and session present 0 [MQTT-3.2.2-4], then the close
// [MQTT-3.2.2-5].
func Refused(t TB, addr string, connect []byte, code byte) {
	t.Helper()
	c := Open(t, addr)
	c.Send(t, connect)
	c.ExpectConnack(t, code, false)
	c.ExpectClosed(t, WaitTimeout)
}

// Send writes packets (see Write) or fails the test.
func (c *Conn) Send(t TB, packets ...[]byte) {
	t.Helper()
	if err := c.Write(packets...); err != nil {
		t.Fatalf("send: %v", err)
	}
}

// ExpectPacket reads one packet, whatever it is.
func (c *Conn) ExpectPacket(t TB) Packet {
	t.Helper()
	p, err := c.Read(WaitTimeout)
	if err != nil {
		t.Fatalf("want a packet: %v", err)
	}
	return p
}

// Expect reads one packet and requires its first byte to be header, flags
// included.
func (c *Conn) Expect(t TB, header byte) Packet {
	t.Helper()
	p, err := c.Read(WaitTimeout)
	if err != nil {
		t.Fatalf("want %s, read: %v", HeaderName(header), err)
	}
	if p.Header != header {
		t.Fatalf("want %s, got %v", HeaderName(header), p)
	}
	return p
}

// ExpectAck reads an acknowledgement with the given header that carries
// id and nothing else.
func (c *Conn) ExpectAck(t TB, header byte, id uint16) {
	t.Helper()
	p := c.Expect(t, header)
	if got, err := p.ID(); err != nil || got != id {
		t.Fatalf("want %s for identifier %d, got %v", HeaderName(header), id, p)
	}
}

// Connack reads a well-formed CONNACK. A PUBLISH or PUBREL before it fails
// the test [MQTT-3.2.0-1] but is kept and read first afterwards, so that
// the test can tell what else goes wrong.
func (c *Conn) Connack(t TB) Connack {
	t.Helper()
	var early []Packet
	for {
		p, err := c.Read(WaitTimeout)
		if err != nil {
			t.Fatalf("want CONNACK: %v", err)
		}
		if p.Type() == TypePublish || p.Header == HeaderPubrel {
			early = append(early, p)
			continue
		}
		if len(early) > 0 {
			t.Errorf("the broker sent %d packets before CONNACK, the first %v [MQTT-3.2.0-1]", len(early), early[0])
			c.pending = append(early, c.pending...)
		}
		a, err := p.Connack()
		if err != nil {
			t.Fatalf("want CONNACK: %v", err)
		}
		return a
	}
}

// ExpectConnack reads a CONNACK with the return code and session present
// flag given; the other acknowledge flags must be 0 [MQTT-3.2.2.1].
func (c *Conn) ExpectConnack(t TB, code byte, present bool) {
	t.Helper()
	a := c.Connack(t)
	var want byte
	if present {
		want = 1
	}
	if a.Flags != want {
		t.Errorf("CONNACK acknowledge flags %#x, want session present %#x", a.Flags, want)
	}
	if a.Code != code {
		t.Fatalf("CONNACK return code %d (%s), want %d", a.Code, connackText(a.Code), code)
	}
}

// ExpectPublish reads a PUBLISH with any flags and decodes it; it
// acknowledges nothing.
func (c *Conn) ExpectPublish(t TB) Publish {
	t.Helper()
	p, err := c.Read(WaitTimeout)
	if err != nil {
		t.Fatalf("want PUBLISH: %v", err)
	}
	m, err := p.Publish()
	if err != nil {
		t.Fatalf("%v", err)
	}
	return m
}

// ExpectPlainPublish reads a PUBLISH at qos with DUP 0 and RETAIN 0: a
// first delivery [MQTT-3.3.1-3] to a subscriber already there
// [MQTT-3.3.1-9]. It acknowledges nothing.
func (c *Conn) ExpectPlainPublish(t TB, qos byte) Publish {
	t.Helper()
	m, err := c.Expect(t, HeaderPublish|qos<<PublishQoSShift).Publish()
	if err != nil {
		t.Fatalf("%v", err)
	}
	return m
}

// ExpectClosed requires the broker to close the connection within timeout
// without sending any (further) packet, and returns how long that took.
func (c *Conn) ExpectClosed(t TB, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	p, err := c.Read(timeout)
	switch {
	case err == nil:
		t.Fatalf("want the connection closed, got %v", p)
	case !IsClosed(err):
		t.Fatalf("want the connection closed within %v: %v", timeout, err)
	}
	return time.Since(start)
}

// DrainUntilClosed reads, and ignores, what the broker sends until it
// closes the connection, which it must within timeout; it returns how long
// that took.
func (c *Conn) DrainUntilClosed(t TB, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := start.Add(timeout)
	for {
		_, err := c.Read(time.Until(deadline))
		if err == nil {
			continue
		}
		if !IsClosed(err) {
			t.Fatalf("connection not closed by the broker within %v: %v", timeout, err)
		}
		return time.Since(start)
	}
}

// ExpectSilence requires no packet to arrive within d, and the connection
// to stay open.
func (c *Conn) ExpectSilence(t TB, d time.Duration) {
	t.Helper()
	p, err := c.Read(d)
	switch {
	case err == nil:
		t.Fatalf("want nothing for %v, got %v", d, p)
	case IsClosed(err):
		t.Fatalf("want nothing for %v, the connection closed: %v", d, err)
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("want nothing for %v: %v", d, err)
	}
}

// ClosedOrAnswered waits for the broker to close the connection or to send
// one packet that answer accepts (what describes it); it reports whether a
// packet came.
func (c *Conn) ClosedOrAnswered(t TB, what string, answer func(Packet) bool) bool {
	t.Helper()
	p, err := c.Read(WaitTimeout)
	switch {
	case err != nil && IsClosed(err):
		return false
	case err != nil:
		t.Fatalf("want the connection closed or %s: %v", what, err)
	case !answer(p):
		t.Fatalf("want the connection closed or %s, got %v", what, p)
	}
	return true
}

// ExpectRefused requires the broker to close the connection, perhaps after
// a CONNACK with a non-zero return code, but never to accept it.
func (c *Conn) ExpectRefused(t TB) {
	t.Helper()
	refusal := func(p Packet) bool {
		a, err := p.Connack()
		return err == nil && a.Code != Accepted
	}
	if c.ClosedOrAnswered(t, "a refusing CONNACK", refusal) {
		c.ExpectClosed(t, WaitTimeout)
	}
}

// ExpectClosedOrFailedSuback accepts, for an invalid topic filter, either
// the close of the connection or a SUBACK whose every return code is
// SubackFailure; then it closes the connection.
func (c *Conn) ExpectClosedOrFailedSuback(t TB) {
	t.Helper()
	failed := func(p Packet) bool {
		_, codes, err := p.Suback()
		return err == nil && !slices.ContainsFunc(codes, func(code byte) bool { return code != SubackFailure })
	}
	c.ClosedOrAnswered(t, "a SUBACK refusing every filter", failed)
	c.Close()
}

// SubscribeCodes subscribes to the filters at qos with the next packet
// identifier and returns the SUBACK's return codes, after checking its
// packet identifier [MQTT-3.8.4-2].
func (c *Conn) SubscribeCodes(t TB, qos byte, filters ...string) []byte {
	t.Helper()
	codes, err := c.Subscribe(c.NextID(), qos, filters...)
	if err != nil {
		t.Fatalf("subscribe to %q: %v", filters, err)
	}
	return codes
}

// SubscribeGranted waits until nothing is in flight to the client
// (Settle), subscribes to the filters at qos and requires SUBACK to grant
// qos for each, in order [MQTT-3.8.4-5, MQTT-3.8.4-6].
func (c *Conn) SubscribeGranted(t TB, qos byte, filters ...string) {
	t.Helper()
	c.Settle(t)
	codes := c.SubscribeCodes(t, qos, filters...)
	if len(codes) != len(filters) {
		t.Fatalf("SUBACK has %d return codes for %d filters [MQTT-3.8.4-5]", len(codes), len(filters))
	}
	for i, code := range codes {
		if code != qos {
			t.Fatalf("SUBACK for %q: %#x, want the QoS asked for, %d", filters[i], code, qos)
		}
	}
}

// UnsubscribeAcked waits until nothing is in flight to the client
// (Settle), sends UNSUBSCRIBE and requires UNSUBACK with its identifier
// [MQTT-3.10.4-4].
func (c *Conn) UnsubscribeAcked(t TB, id uint16, filters ...string) {
	t.Helper()
	c.Settle(t)
	c.Send(t, Unsubscribe(id, filters...))
	c.ExpectAck(t, HeaderUnsuback, id)
}
