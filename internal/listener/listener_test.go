package listener

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/rs/zerolog"

	"github.com/forkmq/forkmq/internal/proxyproto"
	"github.com/forkmq/forkmq/internal/testpki"
)

// ioWait bounds every wait on the loopback: generous, as nothing here
// measures speed.
const ioWait = 10 * time.Second

// logBuf collects a listener's log lines.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) lines(substr string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, s := range strings.Split(l.b.String(), "\n") {
		if strings.Contains(s, substr) {
			out = append(out, s)
		}
	}
	return out
}

// echo serves a listener whose connections, terminated, echo every byte
// back; it records each connection. It returns the connections' channel.
func echo(t *testing.T, cfg Config) (*Listener, *logBuf, chan *Conn) {
	t.Helper()
	logs := &logBuf{}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	l, err := Open(cfg, zerolog.New(logs))
	if err != nil {
		t.Fatal(err)
	}
	conns := make(chan *Conn, 16)
	served := make(chan struct{})
	go func() {
		defer close(served)
		l.Serve(func(c *Conn) {
			p, err := Terminate(c, nil)
			if err != nil {
				t.Error(err)
				return
			}
			conns <- p
			go func() {
				io.Copy(p, p)
				p.Close()
			}()
		})
	}()
	t.Cleanup(func() {
		l.Close()
		<-served
	})
	return l, logs, conns
}

// roundTrip writes msg on c and reads it back.
func roundTrip(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	c.SetDeadline(time.Now().Add(ioWait))
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("read back: %v", err)
	}
	if string(got) != msg {
		t.Fatalf("read %q back, wrote %q", got, msg)
	}
}

func recv(t *testing.T, conns chan *Conn) *Conn {
	t.Helper()
	select {
	case c := <-conns:
		return c
	case <-time.After(ioWait):
		t.Fatal("no connection handed over")
		return nil
	}
}

type pki struct {
	ca                *testpki.CA
	dir               string
	caFile            string
	certFile, keyFile string
	client            tls.Certificate
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	p := &pki{dir: t.TempDir()}
	var err error
	if p.ca, err = testpki.NewCA("test CA"); err != nil {
		t.Fatal(err)
	}
	if p.caFile, err = p.ca.Write(p.dir, "ca"); err != nil {
		t.Fatal(err)
	}
	p.reissue(t, "server one")
	cl, err := p.ca.Client("device-7")
	if err != nil {
		t.Fatal(err)
	}
	if p.client, err = cl.TLS(); err != nil {
		t.Fatal(err)
	}
	return p
}

// reissue writes a new server certificate with this common name.
func (p *pki) reissue(t *testing.T, cn string) {
	t.Helper()
	s, err := p.ca.Server(cn)
	if err != nil {
		t.Fatal(err)
	}
	if p.certFile, p.keyFile, err = s.Write(p.dir, "server"); err != nil {
		t.Fatal(err)
	}
}

func (p *pki) clientConfig(withCert bool) *tls.Config {
	c := &tls.Config{RootCAs: p.ca.Pool(), ServerName: "localhost"}
	if withCert {
		c.Certificates = []tls.Certificate{p.client}
	}
	return c
}

// TestTLS checks a TLS listener: bytes both ways, the client certificate's
// common name as the identity, a client without a certificate refused, and
// both versions of tls_version.
func TestTLS(t *testing.T) {
	p := newPKI(t)
	for _, v := range []struct {
		name string
		max  uint16
		ok   bool
	}{{"tlsv1.2", tls.VersionTLS12, true}, {"tlsv1.3", tls.VersionTLS12, false}, {"tlsv1.3", tls.VersionTLS13, true}} {
		t.Run(v.name, func(t *testing.T) {
			l, logs, conns := echo(t, Config{TLS: &TLS{CertFile: p.certFile, KeyFile: p.keyFile, CAFile: p.caFile,
				RequireCert: true, IdentityAsUsername: true, MinVersion: v.name}})
			cc := p.clientConfig(true)
			cc.MaxVersion = v.max
			c, err := tls.Dial("tcp", l.Addr().String(), cc)
			if !v.ok {
				if err == nil {
					c.SetDeadline(time.Now().Add(ioWait))
					_, err = c.Read(make([]byte, 1))
				}
				if err == nil {
					t.Fatal("a TLS 1.2 client got through a tlsv1.3 listener")
				}
				waitLines(t, logs, "handshake failed", 1)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			roundTrip(t, c, "\x10\x0cMQTT bytes")
			if got := recv(t, conns).Identity(); got != "device-7" {
				t.Errorf("identity %q, want the client certificate's CN device-7", got)
			}
		})
	}
	t.Run("no client certificate", func(t *testing.T) {
		l, logs, _ := echo(t, Config{TLS: &TLS{CertFile: p.certFile, KeyFile: p.keyFile, CAFile: p.caFile, RequireCert: true}})
		c, err := tls.Dial("tcp", l.Addr().String(), p.clientConfig(false))
		if err == nil { // TLS 1.3: the server's refusal comes with the first read
			c.SetDeadline(time.Now().Add(ioWait))
			_, err = c.Read(make([]byte, 1))
			c.Close()
		}
		if err == nil {
			t.Fatal("a client without a certificate got through require_certificate")
		}
		waitLines(t, logs, "handshake failed", 1)
	})
}

func waitLines(t *testing.T, logs *logBuf, substr string, n int) []string {
	t.Helper()
	deadline := time.Now().Add(ioWait)
	for {
		if l := logs.lines(substr); len(l) >= n {
			return l
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d %q lines, want %d: %v", len(logs.lines(substr)), substr, n, logs.lines(""))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestSlowAndFailedHandshakes checks that a connection that never
// finishes its handshake holds up no one, that plain MQTT sent to a TLS
// port is one log line and a closed connection, and that the handshake
// deadline closes the silent one.
func TestSlowAndFailedHandshakes(t *testing.T) {
	p := newPKI(t)
	const timeout = 2 * time.Second
	l, logs, _ := echo(t, Config{TLS: &TLS{CertFile: p.certFile, KeyFile: p.keyFile}, HandshakeTimeout: timeout})
	silent, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	// While the silent one holds its handshake open, others are served.
	for range 3 {
		c, err := tls.Dial("tcp", l.Addr().String(), p.clientConfig(false))
		if err != nil {
			t.Fatal(err)
		}
		roundTrip(t, c, "hello")
		c.Close()
	}
	if n := len(logs.lines("handshake failed")); n != 0 {
		t.Fatalf("%d failed handshakes logged while the silent client is within its deadline", n)
	}
	plain, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	plain.Write([]byte("\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c\x00\x00"))
	plain.SetReadDeadline(time.Now().Add(ioWait))
	io.Copy(io.Discard, plain) // until the listener closes it
	lines := waitLines(t, logs, "handshake failed", 1)
	if !strings.Contains(lines[0], `"stage":"tls"`) {
		t.Errorf("failed handshake line: %s", lines[0])
	}
	silent.SetReadDeadline(time.Now().Add(ioWait + timeout))
	if _, err := silent.Read(make([]byte, 1)); err == nil {
		t.Error("the silent connection read a byte")
	}
	waitLines(t, logs, "handshake failed", 2)
}

// TestReload replaces the certificate and key while a client is
// connected: the client keeps its session, a new one sees the new
// certificate.
func TestReload(t *testing.T) {
	p := newPKI(t)
	l, _, _ := echo(t, Config{TLS: &TLS{CertFile: p.certFile, KeyFile: p.keyFile}})
	old, err := tls.Dial("tcp", l.Addr().String(), p.clientConfig(false))
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	roundTrip(t, old, "before")
	p.reissue(t, "server two")
	if err := l.Reload(); err != nil {
		t.Fatal(err)
	}
	roundTrip(t, old, "after the reload, same session")
	c, err := tls.Dial("tcp", l.Addr().String(), p.clientConfig(false))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if cn := c.ConnectionState().PeerCertificates[0].Subject.CommonName; cn != "server two" {
		t.Errorf("a new client sees %q, want the reloaded certificate's server two", cn)
	}
	// A key that does not match leaves the previous pair in force.
	other, _ := p.ca.Server("server three")
	if _, _, err := other.Write(p.dir, "mismatch"); err != nil {
		t.Fatal(err)
	}
	l.cfg.TLS.KeyFile = p.dir + "/mismatch.key"
	if err := l.Reload(); err == nil {
		t.Error("a certificate with another's key was loaded")
	}
	c2, err := tls.Dial("tcp", l.Addr().String(), p.clientConfig(false))
	if err != nil {
		t.Fatalf("after a failed reload: %v", err)
	}
	c2.Close()
}

// TestProxy checks both PROXY versions: the header's source is the
// connection's remote address, the bytes after the header reach the
// broker, the other version and a truncated header close only their own
// connection.
func TestProxy(t *testing.T) {
	src := &net.TCPAddr{IP: net.IPv4(203, 0, 113, 9).To4(), Port: 40001}
	dst := &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1).To4(), Port: 1883}
	headers := map[int][]byte{1: proxyproto.V1(src, dst), 2: proxyproto.V2(src, dst)}
	for _, v := range []int{1, 2} {
		t.Run("v"+string(rune('0'+v)), func(t *testing.T) {
			l, logs, conns := echo(t, Config{Proxy: v})
			good, err := net.Dial("tcp", l.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer good.Close()
			good.Write(headers[v])
			roundTrip(t, good, "\x10\x0cMQTT")
			if got := recv(t, conns).RemoteAddr().String(); got != src.String() {
				t.Errorf("remote address %s, want the header's %s", got, src)
			}
			for _, bad := range [][]byte{headers[3-v], headers[v][:len(headers[v])-3], []byte("\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c\x00\x00xxxxxxxxxxxxxxxxxxxxx")} {
				c, err := net.Dial("tcp", l.Addr().String())
				if err != nil {
					t.Fatal(err)
				}
				c.Write(bad)
				if tc, ok := c.(*net.TCPConn); ok {
					tc.CloseWrite() // a truncated header ends here
				}
				c.SetReadDeadline(time.Now().Add(ioWait))
				if n, _ := io.Copy(io.Discard, c); n != 0 {
					t.Errorf("header %q: %d bytes came back", bad, n)
				}
				c.Close()
			}
			waitLines(t, logs, `"stage":"proxy"`, 3)
			roundTrip(t, good, "still served")
		})
	}
}

// TestWebSocket checks a ws listener with a WebSocket client: subprotocol
// mqtt, a packet split across two messages and two packets in one, a
// ping answered, and the client's close reaching the broker as an end.
func TestWebSocket(t *testing.T) {
	for _, secure := range []bool{false, true} {
		name := "ws"
		if secure {
			name = "wss"
		}
		t.Run(name, func(t *testing.T) {
			cfg := Config{Protocol: WebSockets}
			opts := &websocket.DialOptions{Subprotocols: []string{"mqtt"}}
			if secure {
				p := newPKI(t)
				cfg.TLS = &TLS{CertFile: p.certFile, KeyFile: p.keyFile}
				opts.HTTPClient = &http.Client{Transport: &http.Transport{TLSClientConfig: p.clientConfig(false)}}
			}
			l, logs, conns := echo(t, cfg)
			ctx, cancel := context.WithTimeout(context.Background(), ioWait)
			defer cancel()
			url := name + "://" + strings.Replace(l.Addr().String(), "127.0.0.1", "localhost", 1) + "/mqtt"
			ws, resp, err := websocket.Dial(ctx, url, opts)
			if err != nil {
				t.Fatal(err)
			}
			if ws.Subprotocol() != "mqtt" {
				t.Errorf("subprotocol %q, want mqtt", ws.Subprotocol())
			}
			if resp.Body != nil {
				resp.Body.Close()
			}
			server := recv(t, conns)
			if server.Scheme() != name {
				t.Errorf("scheme %q", server.Scheme())
			}
			// One PINGREQ split in two messages, then two in one.
			ws.Write(ctx, websocket.MessageBinary, []byte{0xc0})
			ws.Write(ctx, websocket.MessageBinary, []byte{0x00})
			ws.Write(ctx, websocket.MessageBinary, []byte{0xc0, 0x00, 0xc0, 0x00})
			var got []byte
			for len(got) < 6 {
				typ, b, err := ws.Read(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if typ != websocket.MessageBinary {
					t.Fatalf("a %v message, want binary", typ)
				}
				got = append(got, b...)
			}
			if !bytes.Equal(got, []byte{0xc0, 0, 0xc0, 0, 0xc0, 0}) {
				t.Errorf("echoed %x", got)
			}
			// A ping needs the client to be reading.
			go func() {
				for {
					if _, _, err := ws.Read(ctx); err != nil {
						return
					}
				}
			}()
			if err := ws.Ping(ctx); err != nil {
				t.Errorf("ping: %v", err)
			}
			ws.Close(websocket.StatusNormalClosure, "")
			server.SetReadDeadline(time.Now().Add(ioWait))
			if n, err := io.Copy(io.Discard, bufio.NewReader(server)); err != nil && n == 0 {
				_ = err // an end either way; the echo goroutine may have closed it
			}
			if n := len(logs.lines("handshake failed")); n != 0 {
				t.Errorf("%d failed handshakes: %v", n, logs.lines(""))
			}
		})
	}
	t.Run("no subprotocol", func(t *testing.T) {
		l, logs, _ := echo(t, Config{Protocol: WebSockets})
		ctx, cancel := context.WithTimeout(context.Background(), ioWait)
		defer cancel()
		ws, _, err := websocket.Dial(ctx, "ws://"+l.Addr().String(), nil)
		if err == nil {
			_, _, err = ws.Read(ctx)
		}
		if websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
			t.Errorf("without subprotocol mqtt: %v, want a close with policy violation", err)
		}
		waitLines(t, logs, "not mqtt", 1)
	})
	t.Run("not http", func(t *testing.T) {
		l, logs, _ := echo(t, Config{Protocol: WebSockets})
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.Write([]byte("\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c\x00\x00\r\n\r\n"))
		c.SetReadDeadline(time.Now().Add(ioWait))
		io.Copy(io.Discard, c)
		waitLines(t, logs, `"stage":"websocket"`, 1)
	})
}

// TestPump checks the terminator on its own: bytes both ways, the
// client's end half-closes the broker's socket (the broker may still
// write), and the broker's close closes the session.
func TestPump(t *testing.T) {
	session, client := net.Pipe()
	plain, other, err := Socketpair()
	if err != nil {
		t.Fatal(err)
	}
	fc, err := net.FileConn(other)
	other.Close()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- Pump(session, fc.(*net.UnixConn)) }()
	client.SetDeadline(time.Now().Add(ioWait))
	plain.SetDeadline(time.Now().Add(ioWait))
	go client.Write([]byte("CONNECT"))
	b := make([]byte, 7)
	if _, err := io.ReadFull(plain, b); err != nil || string(b) != "CONNECT" {
		t.Fatalf("broker read %q, %v", b, err)
	}
	go plain.Write([]byte("CONNACK"))
	if _, err := io.ReadFull(client, b); err != nil || string(b) != "CONNACK" {
		t.Fatalf("client read %q, %v", b, err)
	}
	plain.Close()
	if _, err := client.Read(b); err == nil {
		t.Error("the session is open after the broker closed its end")
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Pump: %v", err)
		}
	case <-time.After(ioWait):
		t.Fatal("Pump did not return")
	}
}

// TestTerminateClientNotReading: the broker closes its end while the
// client reads nothing (the pump is blocked writing to it); the session is
// closed after CloseGrace, not left open for ever.
func TestTerminateClientNotReading(t *testing.T) {
	session, client := net.Pipe() // a write blocks until the other side reads
	defer client.Close()
	done := make(chan error, 1)
	plain, err := Terminate(&Conn{Conn: session, remote: &net.TCPAddr{}, session: true}, func(err error) { done <- err })
	if err != nil {
		t.Fatal(err)
	}
	// The pump takes what the broker wrote and is left writing it to a
	// client that reads one byte of it and no more: the byte read proves
	// the pump is in that write (a write deadline alone did not: a test
	// descheduled past it wrote nothing, and the pump ended at the close).
	if _, err := plain.Write(make([]byte, 64<<10)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(client, make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	plain.Close()
	select {
	case <-done:
		if d := time.Since(start); d < CloseGrace/2 {
			t.Errorf("the session closed after %v, before its grace", d)
		}
	case <-time.After(CloseGrace + ioWait):
		t.Fatal("the pump is still blocked on a client that does not read")
	}
	if _, err := client.Write([]byte("x")); err == nil {
		t.Error("the session is still open")
	}
}
