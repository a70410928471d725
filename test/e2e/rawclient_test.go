package e2e

// A raw MQTT client: packet bytes are built here by hand, field by field,
// independent of the broker's codec, so a codec bug cannot hide itself (the
// way mosquitto's broker tests do it).

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"syscall"
	"testing"
	"time"
)

// Fixed-header first bytes (packet type << 4 | flags) of MQTT 3.1.1.
const (
	hdrConnect     = 0x10
	hdrConnack     = 0x20
	hdrPublish     = 0x30 // QoS 0, no DUP, no RETAIN
	hdrSubscribe   = 0x82 // flags 0010 are mandatory [MQTT-3.8.1-1]
	hdrSuback      = 0x90
	hdrUnsubscribe = 0xA2 // flags 0010 are mandatory [MQTT-3.10.1-1]
	hdrUnsuback    = 0xB0
	hdrPingreq     = 0xC0
	hdrPingresp    = 0xD0
	hdrDisconnect  = 0xE0
)

// CONNECT flag bits [MQTT-3.1.2].
const (
	flagReserved = 0x01
	flagClean    = 0x02
	flagWill     = 0x04
)

// CONNACK return codes [MQTT-3.2.2.3, Table 3.1] and SUBACK's failure code.
const (
	connAccepted           = 0
	connBadProtocolVersion = 1
	connIdentifierRejected = 2
	connServerUnavailable  = 3
	subackFailure          = 0x80
)

const (
	connackRemainingLength  = 2 // session present, return code
	packetIDForRawSubscribe = 7 // any non-zero identifier
)

// remainingLength encodes n as MQTT's variable byte integer [MQTT-2.2.3].
func remainingLength(n int) []byte {
	var out []byte
	for {
		b := byte(n % 128)
		n /= 128
		if n > 0 {
			b |= 0x80
		}
		out = append(out, b)
		if n == 0 {
			return out
		}
	}
}

// pkt assembles a packet: fixed header byte, remaining length, then body.
func pkt(header byte, body ...[]byte) []byte {
	var n int
	for _, b := range body {
		n += len(b)
	}
	out := append([]byte{header}, remainingLength(n)...)
	for _, b := range body {
		out = append(out, b...)
	}
	return out
}

// u16 is a two-byte big-endian integer [MQTT-1.5.2].
func u16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }

// str is a length-prefixed string [MQTT-1.5.3]; its bytes are sent as given,
// valid UTF-8 or not.
func str(s string) []byte { return append(u16(uint16(len(s))), s...) }

// connectFields are the fields of a CONNECT packet, sent as given.
type connectFields struct {
	protoName   string // "MQTT", or "MQIsdp" for 3.1
	level       byte   // 4 for 3.1.1, 3 for 3.1
	flags       byte   // connect flags byte
	keepAlive   uint16 // seconds
	clientID    string
	willTopic   string // sent when flags has flagWill
	willMessage string
}

// mqtt311 is a clean-session 3.1.1 CONNECT without keep-alive.
func mqtt311(clientID string) connectFields {
	return connectFields{protoName: "MQTT", level: 4, flags: flagClean, clientID: clientID}
}

func (c connectFields) bytes() []byte {
	body := [][]byte{
		str(c.protoName), // protocol name
		{c.level},        // protocol level
		{c.flags},        // connect flags
		u16(c.keepAlive), // keep alive
		str(c.clientID),  // payload: client identifier
	}
	if c.flags&flagWill != 0 {
		body = append(body, str(c.willTopic), str(c.willMessage))
	}
	return pkt(hdrConnect, body...)
}

// publishBytes is a QoS 0 PUBLISH: topic name, then payload.
func publishBytes(topic string, payload []byte) []byte {
	return pkt(hdrPublish, str(topic), payload)
}

// subscribeBytes asks for every filter at the given QoS.
func subscribeBytes(id uint16, qos byte, filters ...string) []byte {
	body := [][]byte{u16(id)}
	for _, f := range filters {
		body = append(body, str(f), []byte{qos})
	}
	return pkt(hdrSubscribe, body...)
}

func unsubscribeBytes(id uint16, filters ...string) []byte {
	body := [][]byte{u16(id)}
	for _, f := range filters {
		body = append(body, str(f))
	}
	return pkt(hdrUnsubscribe, body...)
}

var (
	pingreqBytes    = pkt(hdrPingreq)
	disconnectBytes = pkt(hdrDisconnect)
)

// rawPacket is one packet read from the broker.
type rawPacket struct {
	header byte // type and flags
	body   []byte
}

func (p rawPacket) String() string {
	body := p.body
	if len(body) > 32 {
		body = body[:32]
	}
	return fmt.Sprintf("packet %#02x body % x (%d bytes)", p.header, body, len(p.body))
}

// rawClient is one TCP connection to the broker.
type rawClient struct {
	conn net.Conn
	r    *bufio.Reader
}

// dialRaw connects to the broker; the connection is closed when the test ends.
func dialRaw(t testing.TB, b *broker) *rawClient {
	t.Helper()
	conn, err := net.DialTimeout("tcp", b.Addr, ioTimeout)
	if err != nil {
		t.Fatalf("dial %s: %v", b.Addr, err)
	}
	t.Cleanup(func() { conn.Close() })
	return &rawClient{conn: conn, r: bufio.NewReader(conn)}
}

// connectRaw dials, sends CONNECT and expects CONNACK 0.
func connectRaw(t testing.TB, b *broker, c connectFields) *rawClient {
	t.Helper()
	rc := dialRaw(t, b)
	rc.send(t, c.bytes())
	rc.expectConnack(t, connAccepted)
	return rc
}

func (rc *rawClient) send(t testing.TB, data ...[]byte) {
	t.Helper()
	for _, d := range data {
		if err := rc.write(d); err != nil {
			t.Fatalf("write: %v", err)
		}
	}
}

// write is send for any goroutine: it returns the error.
func (rc *rawClient) write(data []byte) error {
	_ = rc.conn.SetWriteDeadline(time.Now().Add(ioTimeout))
	_, err := rc.conn.Write(data)
	return err
}

// read reads one packet within timeout, decoding the fixed header by hand.
func (rc *rawClient) read(timeout time.Duration) (rawPacket, error) {
	_ = rc.conn.SetReadDeadline(time.Now().Add(timeout))
	header, err := rc.r.ReadByte()
	if err != nil {
		return rawPacket{}, err
	}
	n, mult := 0, 1
	for i := 0; ; i++ {
		b, err := rc.r.ReadByte()
		if err != nil {
			return rawPacket{}, err
		}
		n += int(b&0x7f) * mult
		mult *= 128
		if b&0x80 == 0 {
			break
		}
		if i == 3 {
			return rawPacket{}, errors.New("remaining length longer than 4 bytes")
		}
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(rc.r, body); err != nil {
		return rawPacket{}, err
	}
	return rawPacket{header: header, body: body}, nil
}

// expect reads one packet and requires its first byte to be header.
func (rc *rawClient) expect(t testing.TB, header byte) rawPacket {
	t.Helper()
	p, err := rc.read(ioTimeout)
	if err != nil {
		t.Fatalf("want packet %#02x, read: %v", header, err)
	}
	if p.header != header {
		t.Fatalf("want packet %#02x, got %v", header, p)
	}
	return p
}

// expectConnack reads a CONNACK with the given return code and session
// present 0 [MQTT-3.2.2-1, MQTT-3.2.2-4].
func (rc *rawClient) expectConnack(t testing.TB, code byte) {
	t.Helper()
	rc.expectConnackSession(t, code, false)
}

// expectConnackSession reads a CONNACK with the given return code and
// session present flag [MQTT-3.2.2-2, MQTT-3.2.2-3].
func (rc *rawClient) expectConnackSession(t testing.TB, code byte, present bool) {
	t.Helper()
	checkConnack(t, rc.expect(t, hdrConnack), code, present)
}

// checkConnack checks a CONNACK's return code and session present flag.
func checkConnack(t testing.TB, p rawPacket, code byte, present bool) {
	t.Helper()
	if len(p.body) != connackRemainingLength {
		t.Fatalf("CONNACK remaining length %d, want 2: %v", len(p.body), p)
	}
	if want := boolByte(present); p.body[0] != want {
		t.Errorf("CONNACK session present = %#x, want %#x", p.body[0], want)
	}
	if p.body[1] != code {
		t.Fatalf("CONNACK return code %d, want %d", p.body[1], code)
	}
}

// expectClosed requires the broker to close the connection within timeout
// without sending any (further) packet. It returns how long that took.
func (rc *rawClient) expectClosed(t testing.TB, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	p, err := rc.read(timeout)
	switch {
	case err == nil:
		t.Fatalf("want the connection closed, got %v", p)
	case isClosed(err):
		return time.Since(start)
	default:
		t.Fatalf("want the connection closed within %v: %v", timeout, err)
	}
	return 0
}

// isClosed tells a closed or reset connection from a timeout.
func isClosed(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false
	}
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// subscribe sends SUBSCRIBE for filters at QoS 0 and returns the SUBACK's
// return codes, after checking its packet identifier [MQTT-3.8.4-2].
func (rc *rawClient) subscribe(t testing.TB, filters ...string) []byte {
	t.Helper()
	return rc.subscribeAt(t, 0, filters...)
}

// subscribeAt is subscribe asking for qos.
func (rc *rawClient) subscribeAt(t testing.TB, qos byte, filters ...string) []byte {
	t.Helper()
	rc.send(t, subscribeBytes(packetIDForRawSubscribe, qos, filters...))
	p := rc.expect(t, hdrSuback)
	if len(p.body) < 2 || binary.BigEndian.Uint16(p.body) != packetIDForRawSubscribe {
		t.Fatalf("SUBACK packet identifier differs from SUBSCRIBE's %d: %v", packetIDForRawSubscribe, p)
	}
	return p.body[2:]
}

// expectPublish reads a QoS 0 PUBLISH and returns its topic and payload.
func (rc *rawClient) expectPublish(t testing.TB) (topic string, payload []byte) {
	t.Helper()
	p, err := rc.read(ioTimeout)
	if err != nil {
		t.Fatalf("want PUBLISH: %v", err)
	}
	if p.header&0xF0 != hdrPublish || len(p.body) < 2 {
		t.Fatalf("want PUBLISH, got %v", p)
	}
	n := int(binary.BigEndian.Uint16(p.body))
	if 2+n > len(p.body) {
		t.Fatalf("PUBLISH topic length %d exceeds its body: %v", n, p)
	}
	return string(p.body[2 : 2+n]), p.body[2+n:]
}

// closedOrAnswered waits for the broker to close the connection or to send
// one packet that answer accepts; it reports whether a packet came.
func (rc *rawClient) closedOrAnswered(t testing.TB, what string, answer func(rawPacket) bool) bool {
	t.Helper()
	p, err := rc.read(ioTimeout)
	switch {
	case err != nil && isClosed(err):
		return false
	case err != nil:
		t.Fatalf("want the connection closed or %s: %v", what, err)
	case !answer(p):
		t.Fatalf("want the connection closed or %s, got %v", what, p)
	}
	return true
}

// expectRefused requires the broker to close the connection, optionally
// after a CONNACK with a non-zero return code, but never to accept it.
func (rc *rawClient) expectRefused(t testing.TB) {
	t.Helper()
	refusal := func(p rawPacket) bool {
		return p.header == hdrConnack && len(p.body) == connackRemainingLength && p.body[1] != connAccepted
	}
	if rc.closedOrAnswered(t, "a refusing CONNACK", refusal) {
		rc.expectClosed(t, ioTimeout)
	}
}

// expectClosedOrFailedSuback accepts, for an invalid topic filter, either a
// closed connection or a SUBACK whose every return code is 0x80; the client
// then leaves.
func (rc *rawClient) expectClosedOrFailedSuback(t testing.TB) {
	t.Helper()
	failed := func(p rawPacket) bool {
		return p.header == hdrSuback && len(p.body) > 2 && !slices.ContainsFunc(p.body[2:], func(c byte) bool { return c != subackFailure })
	}
	rc.closedOrAnswered(t, "a SUBACK refusing every filter", failed)
	rc.conn.Close()
}

// connectRefused dials, sends a CONNECT, and requires CONNACK with the
// non-zero code and session present 0 [MQTT-3.2.2-4], then the close of
// the connection [MQTT-3.2.2-5].
func connectRefused(t testing.TB, b *broker, connect []byte, code byte) {
	t.Helper()
	rc := dialRaw(t, b)
	rc.send(t, connect)
	rc.expectConnack(t, code)
	rc.expectClosed(t, ioTimeout)
}

// watch connects a raw client subscribed to filters.
func watch(t testing.TB, b *broker, filters ...string) *rawClient {
	t.Helper()
	rc := connectRaw(t, b, mqtt311(newClientID("watch")))
	rc.subscribe(t, filters...)
	return rc
}

// connectWithWill connects a raw client that has a will.
func connectWithWill(t testing.TB, b *broker, topic, message string) (*rawClient, connectFields) {
	t.Helper()
	c := mqtt311(newClientID("will"))
	c.flags |= flagWill
	c.willTopic, c.willMessage = topic, message
	return connectRaw(t, b, c), c
}
