package goengine

import (
	"bytes"
	"context"
	"encoding/json"
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
	"github.com/forkmq/forkmq/internal/rawmqtt"
)

const ioTimeout = 5 * time.Second

// The tests speak through internal/rawmqtt, whose packet bytes are built
// by hand, not with package packet, so that a codec bug cannot hide itself.

// connect dials and completes CONNECT/CONNACK 0 with clean session 1.
func connect(t testing.TB, addr, id string, keepAlive uint16) *rawmqtt.Conn {
	t.Helper()
	return rawmqtt.Connected(t, addr, withKeepAlive(rawmqtt.MQTT311(id), keepAlive))
}

// fence publishes a marker and reads until it arrives: every message the
// publisher sent before it has been delivered by then. Each must be a QoS 0
// PUBLISH with RETAIN 0 and DUP 0 [MQTT-3.3.1-9, MQTT-3.3.1-3].
func fence(t testing.TB, pub, sub *rawmqtt.Conn, marker string) []string {
	t.Helper()
	pub.Send(t, rawmqtt.Publish{Topic: marker}.Bytes())
	var topics []string
	for {
		m := sub.ExpectPlainPublish(t, 0)
		if m.Topic == marker {
			return topics
		}
		topics = append(topics, m.Topic)
	}
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
	sub.SubscribeGranted(t, 0, "ps/+/temp")
	pub := connect(t, b.addr, "pub", 30)
	pub.Send(t, rawmqtt.Publish{Topic: "ps/kitchen/temp", Payload: "21.5", QoS: 1, ID: 7}.Bytes())
	// [MQTT-4.3.2-2] QoS 1 is acknowledged with the same identifier.
	pub.ExpectAck(t, rawmqtt.HeaderPuback, 7)
	if m := sub.ExpectPlainPublish(t, 0); m.Topic != "ps/kitchen/temp" || m.Payload != "21.5" {
		t.Errorf("got %v", m)
	}
	// UNSUBSCRIBE stops the flow [MQTT-3.10.4-4].
	sub.UnsubscribeAcked(t, 9, "ps/+/temp")
	sub.SubscribeGranted(t, 0, "ps/fence")
	if got := fence(t, pub, sub, "ps/fence"); len(got) != 0 {
		t.Errorf("after UNSUBSCRIBE got %q", got)
	}
	l := b.log.waitLine(t, "client connected", func(m map[string]any) bool { return m["client_id"] == "sub" })
	for _, f := range []string{"remote", "router_pid", "deliverer_pid", "queue", "keep_alive"} {
		if l[f] == nil {
			t.Errorf("client connected line lacks %s: %v", f, l)
		}
	}
	sub.Send(t, rawmqtt.Disconnect())
	sub.DrainUntilClosed(t, ioTimeout)
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
		sub.SubscribeGranted(t, 0, row.filter, marker)
		for _, name := range append(append([]string(nil), row.noMatch...), row.match...) {
			pub.Send(t, rawmqtt.Publish{Topic: name, Payload: name}.Bytes())
		}
		got := fence(t, pub, sub, marker)
		if strings.Join(got, " ") != strings.Join(row.match, " ") {
			t.Errorf("filter %q got %q, want %q", row.filter, got, row.match)
		}
		sub.Send(t, rawmqtt.Disconnect())
	}
}

// TestOverlappingFiltersOnce: a client whose filters overlap gets each
// message once [MQTT-3.3.5-1].
func TestOverlappingFiltersOnce(t *testing.T) {
	b := start(t, nil)
	sub := connect(t, b.addr, "ovl", 30)
	sub.SubscribeGranted(t, 0, "ov/#", "ov/+", "ov/x", "#")
	pub := connect(t, b.addr, "ovpub", 30)
	pub.Send(t, rawmqtt.Publish{Topic: "ov/x", Payload: "1"}.Bytes())
	if got := fence(t, pub, sub, "ov/fence"); len(got) != 1 {
		t.Errorf("got %q, want ov/x once", got)
	}
}

func TestPingAndSecondConnect(t *testing.T) {
	b := start(t, nil)
	c := connect(t, b.addr, "pinger", 30)
	for range 3 {
		c.Send(t, rawmqtt.Pingreq()) // [MQTT-3.12.4-1]
		if p := c.Expect(t, rawmqtt.HeaderPingresp); len(p.Body) != 0 {
			t.Errorf("PINGRESP with a body: %v", p)
		}
	}
	c.Send(t, withKeepAlive(rawmqtt.MQTT311("pinger"), 30).Bytes()) // [MQTT-3.1.0-2]
	c.DrainUntilClosed(t, ioTimeout)
	l := b.log.waitLine(t, "client disconnected", func(m map[string]any) bool { return m["client_id"] == "pinger" })
	if l["reason"] != "router: protocol error" {
		t.Errorf("reason %v", l["reason"])
	}
	// [MQTT-3.1.0-1] the first packet must be CONNECT.
	d := rawmqtt.Open(t, b.addr)
	d.Send(t, rawmqtt.Pingreq())
	d.DrainUntilClosed(t, ioTimeout)
}

// TestKeepAlive: a client silent for 1.5 × its keep-alive is disconnected
// [MQTT-3.1.2-24].
func TestKeepAlive(t *testing.T) {
	b := start(t, nil)
	c := connect(t, b.addr, "silent", 1)
	took := c.DrainUntilClosed(t, 4*time.Second)
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
	c := rawmqtt.Open(t, b.addr)
	if took := c.DrainUntilClosed(t, ioTimeout); took < 250*time.Millisecond {
		t.Errorf("closed after %v, before the connect timeout", took)
	}
}

// TestMaxClients: the client past -max-clients gets CONNACK 3 and the log
// names the limit and its fix; once a client leaves, a new one is served.
func TestMaxClients(t *testing.T) {
	b := start(t, func(c *options.Options) { c.MaxClients = 2 })
	first := connect(t, b.addr, "m1", 30)
	connect(t, b.addr, "m2", 30)
	third := rawmqtt.Open(t, b.addr)
	third.Send(t, withKeepAlive(rawmqtt.MQTT311("m3"), 30).Bytes())
	if p, err := third.Read(ioTimeout); err != nil || p.Header != rawmqtt.HeaderConnack || !bytes.Equal(p.Body, []byte{0, rawmqtt.RefusedServerUnavailable}) {
		t.Fatalf("third client got %v (%v), want CONNACK 20020003", p, err)
	}
	third.DrainUntilClosed(t, ioTimeout)
	l := b.log.waitLine(t, "client refused: server unavailable", nil)
	if l["limit"] != "-max-clients" || l["fix"] == nil || l["remote"] == nil {
		t.Errorf("refusal line: %v", l)
	}
	first.Send(t, rawmqtt.Disconnect())
	first.DrainUntilClosed(t, ioTimeout)
	b.log.waitLine(t, "client disconnected", func(m map[string]any) bool { return m["client_id"] == "m1" })
	connect(t, b.addr, "m4", 30)
}

// TestLargePayload: a 16 MiB payload reaches the subscriber intact.
func TestLargePayload(t *testing.T) {
	b := start(t, nil)
	sub := connect(t, b.addr, "bigsub", 30)
	sub.SubscribeGranted(t, 0, "big")
	pub := connect(t, b.addr, "bigpub", 30)
	payload := make([]byte, 16<<20)
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	go pub.NetConn().Write(rawmqtt.Publish{Topic: "big", Payload: string(payload)}.Bytes())
	if m := sub.ExpectPlainPublish(t, 0); m.Topic != "big" || m.Payload != string(payload) {
		t.Errorf("got %q with %d bytes, want 16 MiB intact", m.Topic, len(m.Payload))
	}
}

// TestProtocolLevelRefused: an unsupported level gets CONNACK 1, flushed
// before the close [MQTT-3.1.2-2, MQTT-3.2.2-5].
func TestProtocolLevelRefused(t *testing.T) {
	b := start(t, nil)
	c := rawmqtt.Open(t, b.addr)
	v5 := withKeepAlive(rawmqtt.MQTT311("v5"), 30)
	v5.Level = 5
	c.Send(t, v5.Bytes())
	c.ExpectConnack(t, rawmqtt.RefusedProtocolVersion, false)
	c.DrainUntilClosed(t, ioTimeout)
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
	a.SubscribeGranted(t, 0, "bye/#")
	bc := connect(t, e.Addr().String(), "bye2", 30)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	a.DrainUntilClosed(t, ioTimeout)
	bc.DrainUntilClosed(t, ioTimeout)
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
	sub.SubscribeGranted(t, 2, "q2/#")
	sub.SubscribeGranted(t, 1, "q1/#")
	pub := connect(t, b.addr, "qpub", 30)

	pub.Send(t, rawmqtt.Publish{Topic: "q2/a", Payload: "two", QoS: 2, ID: 5}.Bytes())
	pub.ExpectAck(t, rawmqtt.HeaderPubrec, 5)
	m := sub.ExpectPlainPublish(t, 2)
	if m.Topic != "q2/a" || m.Payload != "two" {
		t.Fatalf("got %v", m)
	}
	sub.Send(t, rawmqtt.Ack(rawmqtt.HeaderPubrec, m.ID))
	sub.ExpectAck(t, rawmqtt.HeaderPubrel, m.ID)
	sub.Send(t, rawmqtt.Ack(rawmqtt.HeaderPubcomp, m.ID))
	pub.Send(t, rawmqtt.Ack(rawmqtt.HeaderPubrel, 5))
	pub.ExpectAck(t, rawmqtt.HeaderPubcomp, 5)

	// Published at QoS 2 to a QoS 1 subscription: QoS 1. The window is 2.
	for i := range uint16(4) {
		pub.Send(t, rawmqtt.Publish{Topic: "q1/x", Payload: string(rune('a' + i)), QoS: 2, ID: 10 + i}.Bytes())
		pub.ExpectAck(t, rawmqtt.HeaderPubrec, 10+i)
	}
	var ids []uint16
	for range 2 {
		ids = append(ids, sub.ExpectPlainPublish(t, 1).ID)
	}
	sub.ExpectSilence(t, 200*time.Millisecond)
	sub.Send(t, rawmqtt.Ack(rawmqtt.HeaderPuback, ids[0]))
	if m := sub.ExpectPlainPublish(t, 1); m.Payload != "c" {
		t.Errorf("after one PUBACK got %v, want c", m)
	}
	sub.ExpectSilence(t, 200*time.Millisecond)
	sub.Send(t, rawmqtt.Ack(rawmqtt.HeaderPuback, ids[1]))
	if m := sub.ExpectPlainPublish(t, 1); m.Payload != "d" {
		t.Errorf("after the second PUBACK got %v, want d", m)
	}
}

// withKeepAlive is c with keep-alive seconds.
func withKeepAlive(c rawmqtt.Connect, seconds uint16) rawmqtt.Connect {
	c.KeepAlive = seconds
	return c
}

// connectWithWill connects a clean session with a QoS 0 will that is not
// retained.
func connectWithWill(t testing.TB, addr, id, willTopic, will string) *rawmqtt.Conn {
	t.Helper()
	c := rawmqtt.Open(t, addr)
	c.Send(t, withKeepAlive(rawmqtt.MQTT311(id).WithWill(willTopic, will, 0, false), 30).Bytes())
	c.Expect(t, rawmqtt.HeaderConnack)
	return c
}

// TestWill: a connection that drops publishes its will [MQTT-3.1.2-8]; one
// that sends DISCONNECT does not [MQTT-3.1.2-10].
func TestWill(t *testing.T) {
	b := start(t, nil)
	watcher := connect(t, b.addr, "willwatch", 30)
	watcher.SubscribeGranted(t, 0, "will/#")
	orderly := connectWithWill(t, b.addr, "orderly", "will/orderly", "no")
	orderly.Send(t, rawmqtt.Disconnect())
	orderly.DrainUntilClosed(t, ioTimeout)
	dropped := connectWithWill(t, b.addr, "dropped", "will/dropped", "yes")
	dropped.Close()
	if m := watcher.ExpectPlainPublish(t, 0); m.Topic != "will/dropped" || m.Payload != "yes" {
		t.Errorf("watcher got %v, want the dropped client's will", m)
	}
}

// TestTakeover: a second connection with a client identifier in use ends the
// first [MQTT-3.1.4-2], after which the first's will is published.
func TestTakeover(t *testing.T) {
	b := start(t, nil)
	watcher := connect(t, b.addr, "towatch", 30)
	watcher.SubscribeGranted(t, 0, "to/#")
	first := connectWithWill(t, b.addr, "same", "to/will", "first gone")
	second := connect(t, b.addr, "same", 30)
	first.DrainUntilClosed(t, ioTimeout)
	if m := watcher.ExpectPlainPublish(t, 0); m.Topic != "to/will" || m.Payload != "first gone" {
		t.Errorf("watcher got %v", m)
	}
	second.Send(t, rawmqtt.Pingreq())
	second.Expect(t, rawmqtt.HeaderPingresp)
	l := b.log.waitLine(t, "client disconnected", func(m map[string]any) bool { return m["client_id"] == "same" })
	if l["reason"] != "router: stopped" {
		t.Errorf("first connection's reason %v", l["reason"])
	}
}
