package e2e

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/forkmq/forkmq/internal/listener"
	"github.com/forkmq/forkmq/internal/proxyproto"
	"github.com/forkmq/forkmq/internal/testpki"
)

// Reach (issue 14): TLS, WebSocket and PROXY-protocol listeners, started
// from the configuration snippets of the README's "Running it in
// production" (docs/examples), with real clients.

// reachEngines runs fn on both engines, whatever FORKMQ_E2E_ENGINES says:
// the process engine terminates sessions in its supervisor, the goroutine
// engine in its one process, and both must serve the same files alike.
func reachEngines(t *testing.T, fn func(t *testing.T, engine string)) {
	for _, e := range []string{"goroutine", "process"} {
		t.Run(e, func(t *testing.T) { fn(t, e) })
	}
}

// example reads docs/examples/name, checks that the README shows it as
// it is, and returns it with /etc/forkmq/ replaced by dir and each port
// of ports replaced by a free one (returned in the same order).
func example(t *testing.T, name, dir string, ports ...int) (string, []string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "examples", name))
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), string(b)) {
		t.Errorf("README does not show docs/examples/%s as it is", name)
	}
	text := strings.ReplaceAll(string(b), "/etc/forkmq/", dir+"/")
	var addrs []string
	for _, p := range ports {
		free := freePort(t)
		text = strings.Replace(text, "listener "+strconv.Itoa(p), "listener "+free, 1)
		addrs = append(addrs, "127.0.0.1:"+free)
	}
	conf := filepath.Join(dir, name)
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return conf, addrs
}

// freePort is a TCP port free a moment ago (mosquitto's listener lines
// take no port 0).
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

// pki is a CA, a server certificate and a client certificate written
// into dir under the names the examples use.
type pki struct {
	ca                                 *testpki.CA
	dir, caFile, clientCert, clientKey string
}

func newPKI(t *testing.T, dir, clientCN string) *pki {
	t.Helper()
	p := &pki{dir: dir}
	var err error
	if p.ca, err = testpki.NewCA("forkmq test CA"); err != nil {
		t.Fatal(err)
	}
	if p.caFile, err = p.ca.Write(dir, "ca"); err != nil {
		t.Fatal(err)
	}
	p.serverCert(t, "server one")
	cl, err := p.ca.Client(clientCN)
	if err != nil {
		t.Fatal(err)
	}
	if p.clientCert, p.clientKey, err = cl.Write(dir, "client"); err != nil {
		t.Fatal(err)
	}
	return p
}

// serverCert (re)writes server.crt and server.key with this common name.
func (p *pki) serverCert(t *testing.T, cn string) {
	t.Helper()
	s, err := p.ca.Server(cn)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Write(p.dir, "server"); err != nil {
		t.Fatal(err)
	}
}

func (p *pki) clientTLS(t *testing.T) *tls.Config {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(p.clientCert, p.clientKey)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{RootCAs: p.ca.Pool(), ServerName: "localhost", Certificates: []tls.Certificate{cert}}
}

// listenerOpen waits for the broker's "listener open" line of this scheme
// and returns its address on the loopback interface.
func listenerOpen(t *testing.T, b *broker, scheme string) string {
	t.Helper()
	addr := b.waitLog(t, ioTimeout, "listener open", func(e logEntry) bool { return e.str("scheme") == scheme }).str("addr")
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("listener open at %q: %v", addr, err)
	}
	return "127.0.0.1:" + port
}

// TestTLSListener: mosquitto_sub and mosquitto_pub over TLS with client
// certificates the test made, the certificate's common name as the user
// name in the ACL's %u; plain MQTT sent to the TLS port is one log line;
// a SIGHUP reloads the server certificate and a connected client stays.
func TestTLSListener(t *testing.T) {
	for _, tool := range []string{"mosquitto_sub", "mosquitto_pub", "stdbuf"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is missing: run scripts/install-deps.sh (%v)", tool, err)
		}
	}
	reachEngines(t, func(t *testing.T, engine string) {
		dir := t.TempDir()
		p := newPKI(t, dir, "sensor-1")
		acl, err := os.ReadFile(filepath.Join("..", "..", "docs", "examples", "tls.acl"))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "acl"), acl, 0o600); err != nil {
			t.Fatal(err)
		}
		conf, _ := example(t, "tls.conf", dir, 8883)
		b := startBroker(t, withEngine(engine), withConfigFile(conf))
		addr := listenerOpen(t, b, "mqtts")
		_, port, _ := strings.Cut(addr, ":")
		tlsArgs := []string{"-h", "localhost", "-p", port, "-V", "mqttv311", "--cafile", p.caFile, "--cert", p.clientCert, "--key", p.clientKey}

		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		defer cancel()
		sub := startMosquittoSub(t, ctx, append(slices.Clone(tlsArgs),
			"-i", newClientID("tlssub"), "-t", "sensors/#", "-v", "-C", "1", "-W", "15")...)
		pub := func(topic, msg string) {
			t.Helper()
			out, err := exec.CommandContext(ctx, "mosquitto_pub", append(slices.Clone(tlsArgs), "-t", topic, "-m", msg, "-q", "1")...).CombinedOutput()
			if err != nil {
				t.Fatalf("mosquitto_pub: %v\n%s", err, out)
			}
		}
		// The ACL lets sensor-1 write under its own name only: the first is
		// dropped (QoS 1 acknowledged, not routed, as mosquitto does), the
		// second arrives.
		pub("sensors/sensor-2/temp", "not mine")
		pub("sensors/sensor-1/temp", "21.5")
		got, err := sub.rest()
		if err != nil {
			t.Error(err)
		}
		if want := []string{"sensors/sensor-1/temp 21.5"}; !slices.Equal(got, want) {
			t.Errorf("mosquitto_sub printed %q, want %q", got, want)
		}
		refused := b.waitLog(t, ioTimeout, "request refused", nil)
		if !strings.Contains(refused.raw, "sensors/sensor-2/temp") {
			t.Errorf("refused: %s", refused.raw)
		}

		// Plain MQTT on the TLS port: one line, and the connection closed.
		raw, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		raw.Write([]byte("\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c\x00\x00"))
		raw.SetReadDeadline(time.Now().Add(ioTimeout))
		raw.Read(make([]byte, 64)) // the TLS alert, then the close
		raw.Close()
		if l := b.waitLog(t, ioTimeout, "handshake failed; connection closed", nil); l.str("stage") != "tls" {
			t.Errorf("failed handshake line: %s", l.raw)
		}

		// SIGHUP with a new server certificate: the connected client keeps
		// its session, a new one sees the new certificate.
		cc := p.clientTLS(t)
		stayID := newClientID("tlsstay")
		stay := connectPaho(t, b, stayID, func(o *mqtt.ClientOptions) {
			o.Servers = nil
			o.AddBroker("ssl://" + addr).SetTLSConfig(cc)
		})
		in := subscribe(t, stay, "sensors/#")
		p.serverCert(t, "server two")
		if err := b.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		b.waitLog(t, ioTimeout, "SIGHUP: certificate reloaded", nil)
		c, err := tls.Dial("tcp", addr, cc)
		if err != nil {
			t.Fatal(err)
		}
		if cn := c.ConnectionState().PeerCertificates[0].Subject.CommonName; cn != "server two" {
			t.Errorf("after SIGHUP a new client sees %q, want server two", cn)
		}
		c.Close()
		if !stay.IsConnectionOpen() {
			t.Fatal("the connected client was dropped by the reload")
		}
		publish(t, stay, "sensors/sensor-1/hum", []byte("40"))
		in.waitCount(t, 1, ioTimeout)
		for _, l := range b.logLines("client disconnected") {
			if l.str("client_id") == stayID {
				t.Errorf("the reload dropped the connected client: %s", l.raw)
			}
		}
	})
}

// TestWebSocketListener: Paho Go over ws:// and wss:// exchanges messages
// with a client over plain TCP, including one of 200 KB (many frames).
func TestWebSocketListener(t *testing.T) {
	reachEngines(t, func(t *testing.T, engine string) {
		dir := t.TempDir()
		p := newPKI(t, dir, "browser")
		conf, _ := example(t, "websockets.conf", dir, 8080, 8081)
		b := startBroker(t, withEngine(engine), withConfigFile(conf))
		tcp := connectPaho(t, b, newClientID("tcp"))
		tcpIn := subscribe(t, tcp, "from/#")
		big := []byte(strings.Repeat("0123456789", 20_000))
		for _, scheme := range []string{"ws", "wss"} {
			addr := listenerOpen(t, b, scheme)
			id := newClientID(scheme)
			c := connectPaho(t, b, id, func(o *mqtt.ClientOptions) {
				o.Servers = nil
				o.AddBroker(scheme + "://" + strings.Replace(addr, "127.0.0.1", "localhost", 1) + "/mqtt")
				o.SetTLSConfig(&tls.Config{RootCAs: p.ca.Pool(), ServerName: "localhost"})
			})
			in := subscribe(t, c, "to/"+scheme)
			publish(t, tcp, "to/"+scheme, big)
			if m := in.waitCount(t, 1, ioTimeout)[0]; len(m.payload) != len(big) {
				t.Errorf("%s client received %d bytes, want %d", scheme, len(m.payload), len(big))
			}
			n := len(tcpIn.all())
			publish(t, c, "from/"+scheme, []byte("hello from "+scheme))
			if m := tcpIn.waitCount(t, n+1, ioTimeout)[n]; string(m.payload) != "hello from "+scheme {
				t.Errorf("tcp client received %q", m.payload)
			}
			connected := b.connectedLine(t, id)
			if host, _, _ := net.SplitHostPort(connected.str("remote")); !net.ParseIP(host).IsLoopback() {
				t.Errorf("%s client's remote %q", scheme, connected.str("remote"))
			}
		}
		if l := b.logLines("handshake failed; connection closed"); len(l) != 0 {
			t.Errorf("failed handshakes: %v", l[0].raw)
		}
	})
}

// TestProxyProtocolListener: behind a load balancer that writes PROXY v1
// or v2, the header's client address is the one the broker logs; a
// header of the other version, or none, closes that connection only.
func TestProxyProtocolListener(t *testing.T) {
	reachEngines(t, func(t *testing.T, engine string) {
		for _, v := range []int{1, 2} {
			t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
				dir := t.TempDir()
				conf, _ := example(t, "proxy.conf", dir)
				text, _ := os.ReadFile(conf)
				os.WriteFile(conf, []byte(strings.Replace(string(text), "enable_proxy_protocol 2", fmt.Sprintf("enable_proxy_protocol %d", v), 1)), 0o600)
				b := startBroker(t, withEngine(engine), withConfigFile(conf))
				src := &net.TCPAddr{IP: net.IPv4(198, 51, 100, 23).To4(), Port: 50000 + v}
				header := func(v int) []byte {
					dst := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1).To4(), Port: 1883}
					if v == 1 {
						return proxyproto.V1(src, dst)
					}
					return proxyproto.V2(src, dst)
				}
				behind := func(h []byte) func(*mqtt.ClientOptions) {
					return func(o *mqtt.ClientOptions) {
						o.SetCustomOpenConnectionFn(func(*url.URL, mqtt.ClientOptions) (net.Conn, error) {
							c, err := net.Dial("tcp", b.Addr)
							if err != nil {
								return nil, err
							}
							if _, err := c.Write(h); err != nil {
								c.Close()
								return nil, err
							}
							return c, nil
						})
					}
				}
				id := newClientID("lb")
				c := connectPaho(t, b, id, behind(header(v)))
				if got := b.connectedLine(t, id).str("remote"); got != src.String() {
					t.Errorf("client connected from %q, want the header's %s", got, src)
				}
				in := subscribe(t, c, "lb/#")
				for _, bad := range [][]byte{header(3 - v), nil, header(v)[:10]} {
					if cl, err := dialPaho(b, newClientID("bad"), behind(bad)); err == nil {
						leave(cl)
						t.Errorf("a client with header %q connected", bad)
					}
				}
				mustEventually(t, ioTimeout, func() error {
					if n := len(b.logLines("handshake failed; connection closed")); n != 3 {
						return fmt.Errorf("%d failed handshakes logged, want 3", n)
					}
					return nil
				})
				publish(t, c, "lb/x", []byte("still served"))
				in.waitCount(t, 1, ioTimeout)
				leave(c)
				if got := b.disconnectedLine(t, id).str("remote"); got != src.String() {
					t.Errorf("client disconnected from %q, want %s", got, src)
				}
			})
		}
	})
}

// TestTerminatedSessionOutlivesHandOver: a TLS client stays served past
// listener.CloseGrace. The process engine's supervisor hands the plain
// end of the session's socketpair to the pair and must not close its own
// end then: closing it is what ends a session, CloseGrace later.
func TestTerminatedSessionOutlivesHandOver(t *testing.T) {
	reachEngines(t, func(t *testing.T, engine string) {
		t.Parallel()
		dir := t.TempDir()
		p := newPKI(t, dir, "sensor-1")
		if err := os.WriteFile(filepath.Join(dir, "acl"), []byte("pattern readwrite #\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		conf, _ := example(t, "tls.conf", dir, 8883)
		b := startBroker(t, withEngine(engine), withConfigFile(conf))
		addr := listenerOpen(t, b, "mqtts")
		c := connectPaho(t, b, newClientID("long"), func(o *mqtt.ClientOptions) {
			o.Servers = nil
			o.AddBroker("ssl://" + addr).SetTLSConfig(p.clientTLS(t))
		})
		in := subscribe(t, c, "long/#")
		time.Sleep(listener.CloseGrace + time.Second)
		publish(t, c, "long/x", []byte("still here"))
		in.waitCount(t, 1, ioTimeout)
		if !c.IsConnectionOpen() {
			t.Error("the TLS client was dropped")
		}
	})
}
