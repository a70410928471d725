package goengine

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/forkmq/forkmq/internal/core"
	"github.com/forkmq/forkmq/internal/options"
	"github.com/forkmq/forkmq/internal/packet"
)

const ioTimeout = 5 * time.Second

// Packet bytes are built here by hand, not with package packet, so that a
// codec bug cannot hide itself.
const (
	hdrConnect     = 0x10
	hdrConnack     = 0x20
	hdrPublish     = 0x30
	hdrPuback      = 0x40
	hdrPubrec      = 0x50
	hdrPubrel      = 0x62
	hdrPubcomp     = 0x70
	hdrSubscribe   = 0x82
	hdrSuback      = 0x90
	hdrUnsubscribe = 0xa2
	hdrUnsuback    = 0xb0
	hdrPingreq     = 0xc0
	hdrPingresp    = 0xd0
	hdrDisconnect  = 0xe0
)

func u16(n int) []byte { return []byte{byte(n >> 8), byte(n)} }
func str(s string) []byte {
	return append(u16(len(s)), s...)
}

// pkt assembles a packet: first byte, remaining length, then the parts.
func pkt(first byte, parts ...[]byte) []byte {
	body := bytes.Join(parts, nil)
	out := []byte{first}
	n := len(body)
	for {
		b := byte(n % 128)
		n /= 128
		if n > 0 {
			b |= 0x80
		}
		out = append(out, b)
		if n == 0 {
			break
		}
	}
	return append(out, body...)
}

func connectBytes(id string, keepAlive int) []byte {
	return pkt(hdrConnect, str("MQTT"), []byte{4, 0x02}, u16(keepAlive), str(id))
}

// subscribeBytes asks for the filters at QoS 0.
func subscribeBytes(id int, filters ...string) []byte { return subscribeQoS(id, 0, filters...) }

func subscribeQoS(id int, qos byte, filters ...string) []byte {
	parts := [][]byte{u16(id)}
	for _, f := range filters {
		parts = append(parts, str(f), []byte{qos})
	}
	return pkt(hdrSubscribe, parts...)
}

// publishBytes is a PUBLISH at QoS 1 (id != 0) or QoS 0 (id 0).
func publishBytes(topic string, payload []byte, id int) []byte {
	if id == 0 {
		return pkt(hdrPublish, str(topic), payload)
	}
	return publishQoS(topic, payload, 1, id)
}

func publishQoS(topic string, payload []byte, qos byte, id int) []byte {
	return pkt(hdrPublish|qos<<1, str(topic), u16(id), payload)
}

// publishFlags is a PUBLISH with the given fixed-header flags (DUP 0x08,
// QoS, RETAIN 0x01); id is written for QoS 1 and 2.
func publishFlags(flags byte, topic string, payload []byte, id int) []byte {
	if flags&0x06 == 0 {
		return pkt(hdrPublish|flags, str(topic), payload)
	}
	return pkt(hdrPublish|flags, str(topic), u16(id), payload)
}

var (
	pingreqBytes    = []byte{hdrPingreq, 0}
	disconnectBytes = []byte{hdrDisconnect, 0}
)

// rawPacket is one packet as read off the wire.
type rawPacket struct {
	first byte
	body  []byte
}

type rawClient struct {
	conn net.Conn
	r    *bufio.Reader
}

func dial(t testing.TB, addr string) *rawClient {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, ioTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &rawClient{conn: conn, r: bufio.NewReader(conn)}
}

// connect dials and completes CONNECT/CONNACK 0.
func connect(t testing.TB, addr, id string, keepAlive int) *rawClient {
	t.Helper()
	c := dial(t, addr)
	c.send(t, connectBytes(id, keepAlive))
	if p := c.expect(t, hdrConnack); !bytes.Equal(p.body, []byte{0, 0}) {
		t.Fatalf("CONNACK %x, want accepted", p.body)
	}
	return c
}

func (c *rawClient) send(t testing.TB, b []byte) {
	t.Helper()
	c.conn.SetWriteDeadline(time.Now().Add(ioTimeout))
	if _, err := c.conn.Write(b); err != nil {
		t.Fatalf("send: %v", err)
	}
}

func (c *rawClient) read(timeout time.Duration) (rawPacket, error) {
	c.conn.SetReadDeadline(time.Now().Add(timeout))
	first, err := c.r.ReadByte()
	if err != nil {
		return rawPacket{}, err
	}
	n, shift := 0, 0
	for {
		b, err := c.r.ReadByte()
		if err != nil {
			return rawPacket{}, err
		}
		n |= int(b&0x7f) << shift
		shift += 7
		if b&0x80 == 0 {
			break
		}
	}
	body := make([]byte, n)
	_, err = io.ReadFull(c.r, body)
	return rawPacket{first: first, body: body}, err
}

func (c *rawClient) expect(t testing.TB, first byte) rawPacket {
	t.Helper()
	p, err := c.read(ioTimeout)
	if err != nil {
		t.Fatalf("waiting for %#x: %v", first, err)
	}
	if p.first != first {
		t.Fatalf("got packet %#x %x, want %#x", p.first, abbrev(p.body), first)
	}
	return p
}

// expectPublish reads a QoS 0 PUBLISH with RETAIN 0 and DUP 0
// [MQTT-3.3.1-9, MQTT-3.3.1-3].
func (c *rawClient) expectPublish(t testing.TB) (string, []byte) {
	t.Helper()
	topic, _, payload := c.expectPublishQoS(t, 0)
	return topic, payload
}

// expectPublishQoS reads a PUBLISH at qos with RETAIN 0 and DUP 0 and
// returns its topic, packet identifier and payload.
func (c *rawClient) expectPublishQoS(t testing.TB, qos byte) (string, int, []byte) {
	t.Helper()
	p := c.expect(t, hdrPublish|qos<<1)
	tl := int(binary.BigEndian.Uint16(p.body))
	topic, rest := string(p.body[2:2+tl]), p.body[2+tl:]
	if qos == 0 {
		return topic, 0, rest
	}
	return topic, int(binary.BigEndian.Uint16(rest)), rest[2:]
}

// expectNothing asserts no packet arrives within d.
func (c *rawClient) expectNothing(t testing.TB, d time.Duration) {
	t.Helper()
	if p, err := c.read(d); err == nil {
		t.Fatalf("unexpected packet %#x %q", p.first, abbrev(p.body))
	}
}

// expectClosed waits for the broker to close the connection and returns how
// long it took.
func (c *rawClient) expectClosed(t testing.TB, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		p, err := c.read(time.Until(start.Add(timeout)))
		var ne net.Error
		switch {
		case err == nil:
			continue // packets still in flight
		case errors.As(err, &ne) && ne.Timeout():
			t.Fatalf("connection still open after %v (last packet %#x)", timeout, p.first)
		}
		return time.Since(start)
	}
}

func (c *rawClient) subscribe(t testing.TB, filters ...string) {
	t.Helper()
	c.subscribeAt(t, 0, filters...)
}

// subscribeAt subscribes at qos and checks that qos is granted [MQTT-3.8.4-6].
func (c *rawClient) subscribeAt(t testing.TB, qos byte, filters ...string) {
	t.Helper()
	c.send(t, subscribeQoS(3, qos, filters...))
	p := c.expect(t, hdrSuback)
	want := append(u16(3), bytes.Repeat([]byte{qos}, len(filters))...)
	if !bytes.Equal(p.body, want) {
		t.Fatalf("SUBACK %x, want %x", p.body, want)
	}
}

// fence publishes a marker and reads until it arrives: every message the
// publisher sent before it has been delivered by then.
func fence(t testing.TB, pub, sub *rawClient, marker string) []string {
	t.Helper()
	pub.send(t, publishBytes(marker, nil, 0))
	var topics []string
	for {
		tp, _ := sub.expectPublish(t)
		if tp == marker {
			return topics
		}
		topics = append(topics, tp)
	}
}

func abbrev(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "…"
	}
	return string(b)
}

// logBuf keeps the engine's JSON log lines.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// lines returns the parsed lines whose message is msg.
func (l *logBuf) lines(msg string) []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for line := range strings.Lines(l.b.String()) {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["message"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// waitLine waits for a line with msg that satisfies match.
func (l *logBuf) waitLine(t testing.TB, msg string, match func(map[string]any) bool) map[string]any {
	t.Helper()
	deadline := time.Now().Add(ioTimeout)
	for {
		for _, m := range l.lines(msg) {
			if match == nil || match(m) {
				return m
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q log line within %v", msg, ioTimeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type testBroker struct {
	e    *Engine
	addr string
	log  *logBuf
	stop func() // stops the engine and checks what it left; idempotent
}

// start runs an engine on 127.0.0.1:0 and stops it at the end of the test,
// asserting that Run returns nil, that every client was cleaned up and that
// the index is empty.
func start(t *testing.T, mod func(*options.Options)) *testBroker {
	t.Helper()
	cfg := testOptions(filepath.Join(t.TempDir(), "state"), 20)
	if mod != nil {
		mod(&cfg)
	}
	return startConfig(t, cfg)
}

// testOptions are the defaults of the goroutine engine on a free port.
func testOptions(stateDir string, maxClients int) options.Options {
	o := options.Default()
	o.Engine, o.Listen, o.StateDir, o.MaxClients = options.Goroutine, "127.0.0.1:0", stateDir, maxClients
	return o
}

func startConfig(t *testing.T, cfg options.Options) *testBroker {
	t.Helper()
	lb := &logBuf{}
	e, err := New(cfg, zerolog.New(lb).Level(zerolog.DebugLevel))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(ioTimeout):
				t.Errorf("Run did not return within %v of the cancel", ioTimeout)
			}
			e.mu.Lock()
			if n := len(e.clients); n != 0 {
				t.Errorf("%d clients left after shutdown", n)
			}
			e.mu.Unlock()
			if !e.index.Empty() {
				t.Errorf("index not empty after shutdown")
			}
			if t.Failed() {
				t.Logf("engine log:\n%s", lb.b.String())
			}
		})
	}
	t.Cleanup(stop)
	l := lb.waitLine(t, "listening", nil)
	if l["addr"] != e.Addr().String() || l["queue_prefix"] == "" || l["state_dir"] == "" {
		t.Errorf("listening line: %v", l)
	}
	return &testBroker{e: e, addr: e.Addr().String(), log: lb, stop: stop}
}

func TestPubSub(t *testing.T) {
	b := start(t, nil)
	sub := connect(t, b.addr, "sub", 30)
	sub.subscribeAt(t, 0, "ps/+/temp")
	pub := connect(t, b.addr, "pub", 30)
	pub.send(t, publishBytes("ps/kitchen/temp", []byte("21.5"), 7))
	// [MQTT-4.3.2-2] QoS 1 is acknowledged with the same identifier.
	if p := pub.expect(t, hdrPuback); !bytes.Equal(p.body, u16(7)) {
		t.Errorf("PUBACK %x, want 0007", p.body)
	}
	if topic, payload := sub.expectPublish(t); topic != "ps/kitchen/temp" || string(payload) != "21.5" {
		t.Errorf("got %q %q", topic, payload)
	}
	// UNSUBSCRIBE stops the flow [MQTT-3.10.4-4].
	sub.send(t, pkt(hdrUnsubscribe, u16(9), str("ps/+/temp")))
	if p := sub.expect(t, hdrUnsuback); !bytes.Equal(p.body, u16(9)) {
		t.Errorf("UNSUBACK %x", p.body)
	}
	sub.subscribe(t, "ps/fence")
	if got := fence(t, pub, sub, "ps/fence"); len(got) != 0 {
		t.Errorf("after UNSUBSCRIBE got %q", got)
	}
	l := b.log.waitLine(t, "client connected", func(m map[string]any) bool { return m["client_id"] == "sub" })
	for _, f := range []string{"remote", "router_pid", "deliverer_pid", "queue", "keep_alive"} {
		if l[f] == nil {
			t.Errorf("client connected line lacks %s: %v", f, l)
		}
	}
	sub.send(t, disconnectBytes)
	sub.expectClosed(t, ioTimeout)
	l = b.log.waitLine(t, "client disconnected", func(m map[string]any) bool { return m["client_id"] == "sub" })
	if l["reason"] != "router: orderly" || l["queue"] == "" {
		t.Errorf("client disconnected line: %v", l)
	}
}

// TestWildcards: per row, a subscriber with the filter gets exactly the
// matching topics of what is published [MQTT-4.7].
func TestWildcards(t *testing.T) {
	b := start(t, nil)
	rows := []struct {
		filter  string
		match   []string
		noMatch []string
	}{
		{"wc/#", []string{"wc", "wc/b", "wc/b/c", "wc/"}, []string{"wcx", "x/wc"}}, // [MQTT-4.7.1-2]
		{"wc/+", []string{"wc/b", "wc/"}, []string{"wc", "wc/b/c"}},                // [MQTT-4.7.1-3]
		{"+/+", []string{"wc/b", "/b"}, []string{"wc", "wc/b/c"}},
		{"#", []string{"wc", "/wc"}, []string{"$SYS/x", "$SYS"}},      // [MQTT-4.7.2-1]
		{"+/x", []string{"wc/x"}, []string{"$SYS/x"}},                 // [MQTT-4.7.2-1]
		{"$SYS/#", []string{"$SYS/x", "$SYS"}, []string{"wc/x"}},      // [MQTT-4.7.2-1]
		{"wc/ABC", []string{"wc/ABC"}, []string{"wc/abc", "wc/ABC/"}}, // [MQTT-4.7.3-4]
	}
	pub := connect(t, b.addr, "wcpub", 30)
	for i, row := range rows {
		marker := fmt.Sprint("fence/", i)
		sub := connect(t, b.addr, marker, 30)
		sub.subscribe(t, row.filter, marker)
		for _, name := range append(append([]string(nil), row.noMatch...), row.match...) {
			pub.send(t, publishBytes(name, []byte(name), 0))
		}
		got := fence(t, pub, sub, marker)
		if strings.Join(got, " ") != strings.Join(row.match, " ") {
			t.Errorf("filter %q got %q, want %q", row.filter, got, row.match)
		}
		sub.send(t, disconnectBytes)
	}
}

// TestOverlappingFiltersOnce: a client whose filters overlap gets each
// message once [MQTT-3.3.5-1].
func TestOverlappingFiltersOnce(t *testing.T) {
	b := start(t, nil)
	sub := connect(t, b.addr, "ovl", 30)
	sub.subscribe(t, "ov/#", "ov/+", "ov/x", "#")
	pub := connect(t, b.addr, "ovpub", 30)
	pub.send(t, publishBytes("ov/x", []byte("1"), 0))
	if got := fence(t, pub, sub, "ov/fence"); len(got) != 1 {
		t.Errorf("got %q, want ov/x once", got)
	}
}

func TestPingAndSecondConnect(t *testing.T) {
	b := start(t, nil)
	c := connect(t, b.addr, "pinger", 30)
	for range 3 {
		c.send(t, pingreqBytes) // [MQTT-3.12.4-1]
		if p := c.expect(t, hdrPingresp); len(p.body) != 0 {
			t.Errorf("PINGRESP body %x", p.body)
		}
	}
	c.send(t, connectBytes("pinger", 30)) // [MQTT-3.1.0-2]
	c.expectClosed(t, ioTimeout)
	l := b.log.waitLine(t, "client disconnected", func(m map[string]any) bool { return m["client_id"] == "pinger" })
	if l["reason"] != "router: protocol error" {
		t.Errorf("reason %v", l["reason"])
	}
	// [MQTT-3.1.0-1] the first packet must be CONNECT.
	d := dial(t, b.addr)
	d.send(t, pingreqBytes)
	d.expectClosed(t, ioTimeout)
}

// TestKeepAlive: a client silent for 1.5 × its keep-alive is disconnected
// [MQTT-3.1.2-24].
func TestKeepAlive(t *testing.T) {
	b := start(t, nil)
	c := connect(t, b.addr, "silent", 1)
	took := c.expectClosed(t, 4*time.Second)
	if took <= time.Second || took >= 2500*time.Millisecond {
		t.Errorf("disconnected after %v, want within (1 s, 2.5 s)", took)
	}
	l := b.log.waitLine(t, "client disconnected", func(m map[string]any) bool { return m["client_id"] == "silent" })
	if l["reason"] != "router: keep-alive timeout" {
		t.Errorf("reason %v", l["reason"])
	}
}

func TestConnectTimeout(t *testing.T) {
	b := start(t, func(c *options.Options) { c.ConnectWait = 300 * time.Millisecond })
	c := dial(t, b.addr)
	if took := c.expectClosed(t, ioTimeout); took < 250*time.Millisecond {
		t.Errorf("closed after %v, before the connect timeout", took)
	}
}

// TestMaxClients: the client past -max-clients gets CONNACK 3 and the log
// names the limit and its fix; once a client leaves, a new one is served.
func TestMaxClients(t *testing.T) {
	b := start(t, func(c *options.Options) { c.MaxClients = 2 })
	first := connect(t, b.addr, "m1", 30)
	connect(t, b.addr, "m2", 30)
	third := dial(t, b.addr)
	third.send(t, connectBytes("m3", 30))
	third.conn.SetReadDeadline(time.Now().Add(ioTimeout))
	got := make([]byte, 4)
	if _, err := io.ReadFull(third.r, got); err != nil || !bytes.Equal(got, []byte{0x20, 0x02, 0x00, 0x03}) {
		t.Fatalf("third client got %x (%v), want 20020003", got, err)
	}
	third.expectClosed(t, ioTimeout)
	l := b.log.waitLine(t, "client refused: server unavailable", nil)
	if l["limit"] != "-max-clients" || l["fix"] == nil || l["remote"] == nil {
		t.Errorf("refusal line: %v", l)
	}
	first.send(t, disconnectBytes)
	first.expectClosed(t, ioTimeout)
	b.log.waitLine(t, "client disconnected", func(m map[string]any) bool { return m["client_id"] == "m1" })
	connect(t, b.addr, "m4", 30)
}

// TestLargePayload: a 16 MiB payload reaches the subscriber intact.
func TestLargePayload(t *testing.T) {
	b := start(t, nil)
	sub := connect(t, b.addr, "bigsub", 30)
	sub.subscribe(t, "big")
	pub := connect(t, b.addr, "bigpub", 30)
	payload := make([]byte, 16<<20)
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	go pub.conn.Write(publishBytes("big", payload, 0))
	topic, got := sub.expectPublish(t)
	if topic != "big" || !bytes.Equal(got, payload) {
		t.Errorf("got %q with %d bytes, want 16 MiB intact", topic, len(got))
	}
}

// TestProtocolLevelRefused: an unsupported level gets CONNACK 1, flushed
// before the close [MQTT-3.1.2-2, MQTT-3.2.2-5].
func TestProtocolLevelRefused(t *testing.T) {
	b := start(t, nil)
	c := dial(t, b.addr)
	c.send(t, pkt(hdrConnect, str("MQTT"), []byte{5, 0x02}, u16(30), str("v5")))
	if p := c.expect(t, hdrConnack); !bytes.Equal(p.body, []byte{0, 1}) {
		t.Errorf("CONNACK %x, want 0001", p.body)
	}
	c.expectClosed(t, ioTimeout)
}

// TestRepliesOvertakePublications: with publications and replies waiting,
// the deliverer writes every reply first, and no publication before the
// router says CONNACK is out (Start) [MQTT-3.2.0-1].
func TestRepliesOvertakePublications(t *testing.T) {
	server, peer := tcpPair(t)
	cfg := options.Default()
	c := newClient("goroutine.test.1", server, &cfg, zerolog.Nop())
	for i := range 3 {
		c.pubs <- core.Item{Kind: core.Publication, Msg: &core.Message{Topic: "p", Payload: []byte{byte(i)}}}
	}
	for _, p := range []packet.Packet{&packet.Connack{}, &packet.Pingresp{}} {
		b, _ := packet.Append(nil, p)
		c.ctrl <- own{it: core.Item{Kind: core.Reply, Packet: b}}
	}
	c.ctrl <- own{it: core.Item{Kind: core.Close}} // orderly: flush and close
	newDeliverer(c, core.Limits{Window: 1, BacklogMsgs: 10, BacklogBytes: 1 << 20}).run()
	got, _ := io.ReadAll(peer)
	if want := []byte{0x20, 0x02, 0x00, 0x00, 0xd0, 0x00}; !bytes.Equal(got, want) {
		t.Errorf("wrote %x, want %x (replies, then the close overtakes publications)", got, want)
	}
	if c.reason() != "deliverer: orderly" {
		t.Errorf("reason %q", c.reason())
	}
}

// TestShutdownClosesClients: cancelling Run closes every connection and
// logs each client's departure.
func TestShutdownClosesClients(t *testing.T) {
	lb := &logBuf{}
	e, err := New(testOptions(filepath.Join(t.TempDir(), "s"), 100), zerolog.New(lb))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	a := connect(t, e.Addr().String(), "bye1", 30)
	a.subscribe(t, "bye/#")
	bc := connect(t, e.Addr().String(), "bye2", 30)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	a.expectClosed(t, ioTimeout)
	bc.expectClosed(t, ioTimeout)
	if n := len(lb.lines("client disconnected")); n != 2 {
		t.Errorf("%d disconnect lines, want 2", n)
	}
	if _, err := net.Dial("tcp", e.Addr().String()); err == nil {
		t.Error("still accepting after shutdown")
	}
}

func tcpPair(t testing.TB) (*net.TCPConn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	peer, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { peer.Close(); server.Close() })
	peer.SetReadDeadline(time.Now().Add(ioTimeout))
	return server.(*net.TCPConn), peer
}

// TestOutboundQoS: a copy goes out at min(published, granted) QoS
// [MQTT-3.3.5-1]; QoS 2 runs PUBLISH, PUBREC, PUBREL, PUBCOMP
// [MQTT-4.3.3-1]; no more than MaxInflight flows are unsettled at once, and
// an acknowledgement lets the next one go [MQTT-4.6.0-2].
func TestOutboundQoS(t *testing.T) {
	b := start(t, func(c *options.Options) { c.MaxInflight = 2 })
	sub := connect(t, b.addr, "qsub", 30)
	sub.subscribeAt(t, 2, "q2/#")
	sub.subscribeAt(t, 1, "q1/#")
	pub := connect(t, b.addr, "qpub", 30)

	pub.send(t, publishQoS("q2/a", []byte("two"), 2, 5))
	if p := pub.expect(t, hdrPubrec); !bytes.Equal(p.body, u16(5)) {
		t.Errorf("PUBREC %x", p.body)
	}
	topic, id, payload := sub.expectPublishQoS(t, 2)
	if topic != "q2/a" || string(payload) != "two" || id == 0 {
		t.Fatalf("got %q id %d %q", topic, id, payload)
	}
	sub.send(t, pkt(hdrPubrec, u16(id)))
	if p := sub.expect(t, hdrPubrel); !bytes.Equal(p.body, u16(id)) {
		t.Errorf("PUBREL %x, want id %d", p.body, id)
	}
	sub.send(t, pkt(hdrPubcomp, u16(id)))
	pub.send(t, pkt(hdrPubrel, u16(5)))
	pub.expect(t, hdrPubcomp)

	// Published at QoS 2 to a QoS 1 subscription: QoS 1. The window is 2.
	for i := range 4 {
		pub.send(t, publishQoS("q1/x", []byte{byte('a' + i)}, 2, 10+i))
		pub.expect(t, hdrPubrec)
	}
	var ids []int
	for range 2 {
		_, id, _ := sub.expectPublishQoS(t, 1)
		ids = append(ids, id)
	}
	sub.expectNothing(t, 200*time.Millisecond)
	sub.send(t, pkt(hdrPuback, u16(ids[0])))
	if _, _, p := sub.expectPublishQoS(t, 1); string(p) != "c" {
		t.Errorf("after one PUBACK got %q, want c", p)
	}
	sub.expectNothing(t, 200*time.Millisecond)
	sub.send(t, pkt(hdrPuback, u16(ids[1])))
	if _, _, p := sub.expectPublishQoS(t, 1); string(p) != "d" {
		t.Errorf("after the second PUBACK got %q, want d", p)
	}
}

func connectWithWill(t testing.TB, addr, id, willTopic, will string) *rawClient {
	t.Helper()
	c := dial(t, addr)
	c.send(t, pkt(hdrConnect, str("MQTT"), []byte{4, 0x02 | 0x04}, u16(30), str(id), str(willTopic), str(will)))
	c.expect(t, hdrConnack)
	return c
}

// TestWill: a connection that drops publishes its will [MQTT-3.1.2-8]; one
// that sends DISCONNECT does not [MQTT-3.1.2-10].
func TestWill(t *testing.T) {
	b := start(t, nil)
	watcher := connect(t, b.addr, "willwatch", 30)
	watcher.subscribe(t, "will/#")
	orderly := connectWithWill(t, b.addr, "orderly", "will/orderly", "no")
	orderly.send(t, disconnectBytes)
	orderly.expectClosed(t, ioTimeout)
	dropped := connectWithWill(t, b.addr, "dropped", "will/dropped", "yes")
	dropped.conn.Close()
	if topic, payload := watcher.expectPublish(t); topic != "will/dropped" || string(payload) != "yes" {
		t.Errorf("watcher got %q %q, want the dropped client's will", topic, payload)
	}
}

// TestTakeover: a second connection with a client identifier in use ends the
// first [MQTT-3.1.4-2], after which the first's will is published.
func TestTakeover(t *testing.T) {
	b := start(t, nil)
	watcher := connect(t, b.addr, "towatch", 30)
	watcher.subscribe(t, "to/#")
	first := connectWithWill(t, b.addr, "same", "to/will", "first gone")
	second := connect(t, b.addr, "same", 30)
	first.expectClosed(t, ioTimeout)
	if topic, payload := watcher.expectPublish(t); topic != "to/will" || string(payload) != "first gone" {
		t.Errorf("watcher got %q %q", topic, payload)
	}
	second.send(t, pingreqBytes)
	second.expect(t, hdrPingresp)
	l := b.log.waitLine(t, "client disconnected", func(m map[string]any) bool { return m["client_id"] == "same" })
	if l["reason"] != "router: stopped" {
		t.Errorf("first connection's reason %v", l["reason"])
	}
}
