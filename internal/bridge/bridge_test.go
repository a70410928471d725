package bridge

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/rs/zerolog"

	"github.com/forkmq/forkmq/internal/mosqconf"
	"github.com/forkmq/forkmq/internal/testpki"
)

// wait bounds every wait on the loopback and on mosquitto: generous, as
// nothing here measures speed.
const wait = 15 * time.Second

// remote is a real mosquitto the test starts, with persistence, so that a
// restart keeps persistent sessions and their queued messages.
type remote struct {
	t    *testing.T
	dir  string
	port string
	cmd  *exec.Cmd
}

func startRemote(t *testing.T) *remote { return startRemoteWith(t, "") }

// freePort is a TCP port free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

// startRemoteWith starts mosquitto with more configuration lines after its
// plain listener's.
func startRemoteWith(t *testing.T, extra string) *remote {
	t.Helper()
	bin, err := exec.LookPath("mosquitto")
	if err != nil {
		if bin, err = exec.LookPath("/usr/sbin/mosquitto"); err != nil {
			t.Skip("mosquitto not installed (scripts/install-deps.sh installs package mosquitto)")
		}
	}
	r := &remote{t: t, dir: t.TempDir(), port: freePort(t)}
	// user root: started as root, mosquitto would otherwise run as user
	// mosquitto, which cannot write its persistence file in the test's
	// directory, and a restart would lose the sessions' queued messages.
	conf := fmt.Sprintf("listener %s 127.0.0.1\nallow_anonymous true\nuser root\npersistence true\npersistence_location %s/\nmax_queued_messages 100000\n%s", r.port, r.dir, extra)
	if err := os.WriteFile(filepath.Join(r.dir, "mosquitto.conf"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	r.cmd = exec.Command(bin, "-c", filepath.Join(r.dir, "mosquitto.conf"))
	r.start()
	t.Cleanup(r.stop)
	return r
}

func (r *remote) addr() string { return "127.0.0.1:" + r.port }

// start runs mosquitto and waits until it accepts connections.
func (r *remote) start() {
	r.t.Helper()
	r.cmd = exec.Command(r.cmd.Path, r.cmd.Args[1:]...)
	r.cmd.Stdout, r.cmd.Stderr = os.Stderr, os.Stderr
	if err := r.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	deadline := time.Now().Add(wait)
	for {
		c, err := net.Dial("tcp", r.addr())
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("mosquitto does not accept on %s: %v", r.addr(), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop ends mosquitto with SIGTERM (it saves its persistence file).
func (r *remote) stop() {
	if r.cmd.Process == nil || r.cmd.ProcessState != nil {
		return
	}
	r.cmd.Process.Signal(syscall.SIGTERM)
	r.cmd.Wait()
}

// fakeLocal is the local broker: it records what the bridge publishes,
// and refuses the first fail messages.
type fakeLocal struct {
	mu   sync.Mutex
	msgs []Message
	fail int
}

func (l *fakeLocal) Publish(m Message) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fail > 0 {
		l.fail--
		return errors.New("local broker refuses")
	}
	l.msgs = append(l.msgs, m)
	return nil
}

func (l *fakeLocal) topics() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]int{}
	for _, m := range l.msgs {
		out[m.Topic+" "+string(m.Payload)]++
	}
	return out
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", wait, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// remoteClient is a Paho client on the remote broker, collecting what it
// receives on filter.
type remoteClient struct {
	c    mqtt.Client
	mu   sync.Mutex
	seen map[string]int
}

func connectRemote(t *testing.T, r *remote, id string, clean bool, filter string) *remoteClient {
	t.Helper()
	rc := &remoteClient{seen: map[string]int{}}
	o := mqtt.NewClientOptions().AddBroker("tcp://" + r.addr()).SetClientID(id).SetProtocolVersion(4).
		SetCleanSession(clean).SetAutoReconnect(true).SetConnectRetry(true).
		SetConnectRetryInterval(100 * time.Millisecond).SetMaxReconnectInterval(200 * time.Millisecond)
	handler := func(_ mqtt.Client, m mqtt.Message) {
		rc.mu.Lock()
		rc.seen[m.Topic()+" "+string(m.Payload())]++
		rc.mu.Unlock()
	}
	if filter != "" {
		o.SetOnConnectHandler(func(c mqtt.Client) { c.Subscribe(filter, 1, handler).Wait() })
	}
	rc.c = mqtt.NewClient(o)
	if tok := rc.c.Connect(); !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("remote client: %v", tok.Error())
	}
	eventually(t, "remote client subscribed", func() bool { return rc.c.IsConnectionOpen() })
	t.Cleanup(func() { rc.c.Disconnect(100) })
	return rc
}

func (rc *remoteClient) count(key string) int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.seen[key]
}

func (rc *remoteClient) distinct() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.seen)
}

// startBridge runs a bridge from a connection block written as in a
// mosquitto.conf.
func startBridge(t *testing.T, r *remote, block string) (*Bridge, *fakeLocal) {
	t.Helper()
	return startBridgeTo(t, r.addr(), block)
}

func startBridgeTo(t *testing.T, addr, block string) (*Bridge, *fakeLocal) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "bridge.conf")
	text := fmt.Sprintf("connection test\naddress %s\nrestart_timeout 1 2\n%s", addr, block)
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := mosqconf.Parse(path)
	if err != nil {
		t.Fatal(err)
	}
	bc, err := FromFile(cfg.Bridges[0])
	if err != nil {
		t.Fatal(err)
	}
	local := &fakeLocal{}
	b, err := New(bc, local, zerolog.New(zerolog.NewTestWriter(t)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		b.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	eventually(t, "bridge connected", func() bool { return b.Stats().Connected })
	return b, local
}

// TestBothWays: a message goes out with the prefixes swapped, one comes
// in, and a both topic does not loop: the bridge's own message does not
// come back in, a remote one arrives once.
func TestBothWays(t *testing.T) {
	r := startRemote(t)
	b, local := startBridge(t, r, "remote_clientid bridge-both\ntopic sensors/# out 1 site1/ hq/site1/\ntopic cmd/# in 1 site1/ hq/site1/\ntopic chat/# both 1\n")
	sub := connectRemote(t, r, "hq-sub", true, "#")
	pub := connectRemote(t, r, "hq-pub", true, "")

	if got := b.Filters(); fmt.Sprint(got) != "[site1/sensors/# chat/#]" {
		t.Errorf("local filters %v", got)
	}
	if err := b.Forward(Message{Topic: "site1/sensors/t", Payload: []byte("21"), QoS: 1}); err != nil {
		t.Fatal(err)
	}
	if err := b.Forward(Message{Topic: "elsewhere", Payload: []byte("x"), QoS: 1}); err != ErrNotForwarded {
		t.Errorf("a message no topic carries: %v", err)
	}
	eventually(t, "out: hq/site1/sensors/t at the remote", func() bool { return sub.count("hq/site1/sensors/t 21") == 1 })

	pub.c.Publish("hq/site1/cmd/reboot", 1, false, "now").Wait()
	eventually(t, "in: site1/cmd/reboot locally", func() bool { return local.topics()["site1/cmd/reboot now"] == 1 })

	b.Forward(Message{Topic: "chat/a", Payload: []byte("from local"), QoS: 1})
	pub.c.Publish("chat/b", 1, false, "from remote").Wait()
	eventually(t, "both: the remote's chat message locally", func() bool { return local.topics()["chat/b from remote"] == 1 })
	eventually(t, "both: the local chat message at the remote", func() bool { return sub.count("chat/a from local") == 1 })
	// A fence: once this is in, the echo of chat/a would be too.
	pub.c.Publish("chat/fence", 1, false, "f").Wait()
	eventually(t, "fence", func() bool { return local.topics()["chat/fence f"] == 1 })
	if n := local.topics()["chat/a from local"]; n != 0 {
		t.Errorf("the bridge's own message came back in %d times (a loop)", n)
	}
	if s := b.Stats(); s.Out != 2 || s.In != 3 || s.Dropped != 1 {
		t.Errorf("stats %+v, want 2 out, 3 in, 1 echo dropped", s)
	}
}

// TestRemoteRestart: a stream of QoS 1 messages goes out while the remote
// broker is restarted twice; a persistent subscriber on the remote gets
// every one (duplicates only as QoS 1 allows), and messages from the
// remote flow in again after each restart.
func TestRemoteRestart(t *testing.T) {
	r := startRemote(t)
	// The subscriber's persistent session is on the remote before the
	// stream starts, so the remote queues for it across restarts.
	sub := connectRemote(t, r, "hq-durable", false, "hq/#")
	b, local := startBridge(t, r, "remote_clientid bridge-restart\ncleansession false\ntopic data/# out 1 \"\" hq/\ntopic cmd/# in 1\n")
	const n = 600
	for i := range n {
		if i == n/3 || i == 2*n/3 {
			// Each restart finds the bridge connected, in mid-stream.
			eventually(t, "bridge connected before the restart", func() bool { return b.Stats().Connected })
			r.stop()
			r.start()
		}
		b.Forward(Message{Topic: "data/x", Payload: []byte(strconv.Itoa(i)), QoS: 1})
		time.Sleep(time.Millisecond) // a stream, not one burst
	}
	deadline := time.Now().Add(wait)
	for sub.distinct() < n && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	var lost []int
	for i := range n {
		if sub.count("hq/data/x "+strconv.Itoa(i)) == 0 {
			lost = append(lost, i)
		}
	}
	if len(lost) > 0 {
		t.Fatalf("%d of %d messages lost: %v", len(lost), n, lost)
	}
	eventually(t, "bridge reconnected", func() bool { return b.Stats().Connected })
	if s := b.Stats(); s.Out != n {
		t.Errorf("%d messages out, want %d", s.Out, n)
	}
	pub := connectRemote(t, r, "hq-pub2", true, "")
	pub.c.Publish("cmd/after", 1, false, "restart").Wait()
	eventually(t, "in after the restarts", func() bool { return local.topics()["cmd/after restart"] == 1 })
}

// TestTLSRemote: with bridge_cafile, bridge_certfile and bridge_keyfile the
// bridge reaches a remote that requires a client certificate.
func TestTLSRemote(t *testing.T) {
	dir := t.TempDir()
	ca, err := testpki.NewCA("remote CA")
	if err != nil {
		t.Fatal(err)
	}
	caFile, _ := ca.Write(dir, "ca")
	srv, _ := ca.Server("remote")
	certFile, keyFile, _ := srv.Write(dir, "server")
	cl, _ := ca.Client("bridge")
	clCert, clKey, err := cl.Write(dir, "client")
	if err != nil {
		t.Fatal(err)
	}
	tlsPort := freePort(t)
	r := startRemoteWith(t, fmt.Sprintf("listener %s 127.0.0.1\ncafile %s\ncertfile %s\nkeyfile %s\nrequire_certificate true\n", tlsPort, caFile, certFile, keyFile))
	sub := connectRemote(t, r, "hq-tls-sub", true, "#")
	b, _ := startBridgeTo(t, "127.0.0.1:"+tlsPort, fmt.Sprintf("topic # out 1\nbridge_cafile %s\nbridge_certfile %s\nbridge_keyfile %s\n", caFile, clCert, clKey))
	b.Forward(Message{Topic: "over/tls", Payload: []byte("yes"), QoS: 1})
	eventually(t, "the message over TLS at the remote", func() bool { return sub.count("over/tls yes") == 1 })
}

// TestFromFile: what a connection block must have.
func TestFromFile(t *testing.T) {
	tests := []struct{ name, block, want string }{
		{"no address", "connection a\ntopic # out\n", "has no address line"},
		{"no topic", "connection a\naddress 127.0.0.1:1883\n", "has no topic line"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "b.conf")
			os.WriteFile(path, []byte(tc.block), 0o600)
			cfg, err := mosqconf.Parse(path)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := FromFile(cfg.Bridges[0]); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
	path := filepath.Join(t.TempDir(), "b.conf")
	os.WriteFile(path, []byte("connection hq\naddress 10.0.0.1:1883\ntopic # both 1\nremote_clientid edge-1\ncleansession true\nkeepalive_interval 30\n"), 0o600)
	cfg, err := mosqconf.Parse(path)
	if err != nil {
		t.Fatal(err)
	}
	c, err := FromFile(cfg.Bridges[0])
	if err != nil {
		t.Fatal(err)
	}
	if c.ClientID != "edge-1" || !c.CleanSession || c.KeepAlive != 30*time.Second || c.Addresses[0] != "10.0.0.1:1883" || c.Backoff != mosqconf.DefaultBackoff {
		t.Errorf("config %+v", c)
	}
}

// TestInNotTakenIsResent: a message the local broker does not take is
// left unacknowledged, and the remote sends it again after the next
// connection of the bridge's persistent session.
func TestInNotTakenIsResent(t *testing.T) {
	r := startRemote(t)
	b, local := startBridge(t, r, "remote_clientid bridge-nack\ncleansession false\ntopic cmd/# in 1\n")
	local.mu.Lock()
	local.fail = 1
	local.mu.Unlock()
	pub := connectRemote(t, r, "hq-pub3", true, "")
	pub.c.Publish("cmd/once", 1, false, "again").Wait()
	eventually(t, "the refusal", func() bool {
		local.mu.Lock()
		defer local.mu.Unlock()
		return local.fail == 0
	})
	if n := local.topics()["cmd/once again"]; n != 0 {
		t.Fatalf("taken %d times while refused", n)
	}
	r.stop()
	r.start()
	eventually(t, "the message sent again after the reconnection", func() bool { return local.topics()["cmd/once again"] == 1 })
	if s := b.Stats(); s.In != 1 {
		t.Errorf("%d in, want 1", s.In)
	}
}
