package e2e

import (
	"fmt"
	"io"
	"net"
	"net/http"
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

	"github.com/forkmq/forkmq/internal/bridge"
)

// mosquittoBroker is a real mosquitto the test starts, with persistence,
// as the remote end of a bridge.
type mosquittoBroker struct {
	t    *testing.T
	bin  string
	conf string
	addr string
	cmd  *exec.Cmd
}

func startMosquitto(t *testing.T) *mosquittoBroker {
	t.Helper()
	bin, err := exec.LookPath("mosquitto")
	if err != nil {
		if bin, err = exec.LookPath("/usr/sbin/mosquitto"); err != nil {
			t.Fatalf("mosquitto is missing: run scripts/install-deps.sh (%v)", err)
		}
	}
	dir := t.TempDir()
	m := &mosquittoBroker{t: t, bin: bin, conf: filepath.Join(dir, "mosquitto.conf"), addr: "127.0.0.1:" + freePort(t)}
	_, port, _ := net.SplitHostPort(m.addr)
	// user root: started as root, mosquitto would run as user mosquitto,
	// which cannot write its persistence file here.
	text := fmt.Sprintf("listener %s 127.0.0.1\nallow_anonymous true\nuser root\npersistence true\npersistence_location %s/\nmax_queued_messages 100000\n", port, dir)
	if err := os.WriteFile(m.conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	m.start()
	t.Cleanup(m.stop)
	return m
}

func (m *mosquittoBroker) start() {
	m.t.Helper()
	m.cmd = exec.Command(m.bin, "-c", m.conf)
	if err := m.cmd.Start(); err != nil {
		m.t.Fatal(err)
	}
	mustEventually(m.t, startTimeout, func() error {
		c, err := net.Dial("tcp", m.addr)
		if err == nil {
			c.Close()
		}
		return err
	})
}

// stop ends it with SIGTERM, which saves its persistence file.
func (m *mosquittoBroker) stop() {
	if m.cmd == nil || m.cmd.ProcessState != nil {
		return
	}
	m.cmd.Process.Signal(syscall.SIGTERM)
	m.cmd.Wait()
}

// tally counts the messages a Paho client receives, by "topic payload".
type tally struct {
	mu   sync.Mutex
	seen map[string]int
}

func (tl *tally) handle(_ mqtt.Client, m mqtt.Message) {
	tl.mu.Lock()
	tl.seen[m.Topic()+" "+string(m.Payload())]++
	tl.mu.Unlock()
}

func (tl *tally) count(key string) int {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	return tl.seen[key]
}

// remotePaho connects a Paho client to mosquitto that subscribes to filter
// (if any) at every connection, reconnecting on its own.
func remotePaho(t *testing.T, m *mosquittoBroker, id string, clean bool, filter string) (mqtt.Client, *tally) {
	t.Helper()
	tl := &tally{seen: map[string]int{}}
	o := mqtt.NewClientOptions().AddBroker("tcp://" + m.addr).SetClientID(id).SetProtocolVersion(4).
		SetCleanSession(clean).SetAutoReconnect(true).SetConnectRetry(true).
		SetConnectRetryInterval(100 * time.Millisecond).SetMaxReconnectInterval(200 * time.Millisecond)
	if filter != "" {
		o.SetOnConnectHandler(func(c mqtt.Client) { c.Subscribe(filter, 1, tl.handle).Wait() })
	}
	c := mqtt.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(ioTimeout) || tok.Error() != nil {
		t.Fatalf("client on mosquitto: %v", tok.Error())
	}
	mustEventually(t, ioTimeout, func() error {
		if !c.IsConnectionOpen() {
			return fmt.Errorf("%s not connected", id)
		}
		return nil
	})
	t.Cleanup(func() { c.Disconnect(100) })
	return c, tl
}

// TestBridge: the broker started from docs/examples/bridge.conf, bridged
// to a real mosquitto: readings go out with the remote prefix, commands
// come in, chat goes both ways once each (no loop), and a stream of 10,000
// QoS 1 readings loses nothing across two restarts of mosquitto.
func TestBridge(t *testing.T) {
	reachEngines(t, func(t *testing.T, engine string) {
		remote := startMosquitto(t)
		// The cluster's subscriber is persistent, so mosquitto queues for
		// it across its restarts.
		_, up := remotePaho(t, remote, newClientID("cluster-sub"), false, "#")
		down, _ := remotePaho(t, remote, newClientID("cluster-pub"), true, "")

		dir := t.TempDir()
		conf, _ := example(t, "bridge.conf", dir)
		text, _ := os.ReadFile(conf)
		os.WriteFile(conf, []byte(strings.Replace(string(text), "cluster.example:1883", remote.addr, 1)), 0o600)
		standing := 0
		if engine == "process" {
			standing = 1 // the bridge's local connection
		}
		b := startBroker(t, withEngine(engine), withConfigFile(conf), withAdmin(), withStandingClients(standing))
		b.waitLog(t, ioTimeout, "bridge connected", nil)

		local := connectPaho(t, b, newClientID("site"))
		// mosquitto's retained bridge state in $SYS.
		state := subscribe(t, local, "$SYS/broker/connection/cluster/state")
		if m := state.waitCount(t, 1, ioTimeout)[0]; string(m.payload) != "1" || !m.retained {
			t.Errorf("bridge state %q (retained %v), want a retained 1", m.payload, m.retained)
		}
		in := subscribe(t, local, "commands/#", "chat/#")
		publishQoS := func(c mqtt.Client, topic, payload string) {
			t.Helper()
			if tok := c.Publish(topic, 1, false, payload); !tok.WaitTimeout(ioTimeout) || tok.Error() != nil {
				t.Fatalf("publish %s: %v", topic, tok.Error())
			}
		}
		publishQoS(local, "sensors/t", "21")
		mustEventually(t, ioTimeout, func() error {
			if up.count("site1/sensors/t 21") != 1 {
				return fmt.Errorf("site1/sensors/t not at the cluster")
			}
			return nil
		})
		publishQoS(down, "site1/commands/reboot", "now")
		publishQoS(local, "chat/a", "from the site")
		publishQoS(down, "chat/b", "from the cluster")
		msgs := in.waitCount(t, 3, ioTimeout)
		// A fence through the bridge: once it is in, an echo would be too.
		publishQoS(down, "chat/fence", "f")
		msgs = in.waitCount(t, 4, ioTimeout)
		got := map[string]int{}
		for _, m := range in.all() {
			got[m.topic+" "+string(m.payload)]++
		}
		want := map[string]int{"commands/reboot now": 1, "chat/a from the site": 1, "chat/b from the cluster": 1, "chat/fence f": 1}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("the site received %v, want %v (%d messages)", got, want, len(msgs))
		}
		if n := up.count("chat/a from the site"); n != 1 {
			t.Errorf("the cluster received the site's chat %d times, want once", n)
		}
		if n := up.count("chat/b from the cluster"); n != 1 {
			t.Errorf("the cluster received its own chat %d times, want once (no loop)", n)
		}

		// A stream of 10,000 QoS 1 readings across two restarts of the
		// remote — issue 14's figure: none lost — each in mid-stream with
		// the bridge connected; readings go on while the remote is down
		// (they wait in the bridge's client).
		const n, gap = 10000, 20
		for i := range n {
			switch i {
			case n / 3, 2 * n / 3:
				states := len(state.all())
				remote.stop()
				mustEventually(t, 2*startTimeout, func() error {
					if all := state.all(); len(all) <= states || string(all[len(all)-1].payload) != "0" {
						return fmt.Errorf("no state 0 after the remote stopped")
					}
					return nil
				})
			case n/3 + gap, 2*n/3 + gap:
				// The readings published while the remote was away wait
				// in the bridge: /metrics and the live view say so.
				mustEventually(t, ioTimeout, func() error {
					if m := scrape(t, b.adminAddr(t)); m[`forkmq_bridge_connected{bridge="cluster"}`] != 0 || m[`forkmq_bridge_backlog_messages{bridge="cluster"}`] < gap {
						return fmt.Errorf("/metrics with the remote away: connected %v, backlog %v, want 0 and at least %d",
							m[`forkmq_bridge_connected{bridge="cluster"}`], m[`forkmq_bridge_backlog_messages{bridge="cluster"}`], gap)
					}
					if row := bridgeRow(t, b); !strings.Contains(row, `data-connected="false"`) || !strings.Contains(row, "not connected") {
						return fmt.Errorf("the live view with the remote away: %s", row)
					}
					return nil
				})
				connected := len(b.logLines("bridge connected"))
				remote.start()
				mustEventually(t, 2*startTimeout, func() error {
					if len(b.logLines("bridge connected")) <= connected {
						return fmt.Errorf("the bridge has not reconnected")
					}
					return nil
				})
			}
			publishQoS(local, "sensors/stream", strconv.Itoa(i))
		}
		if m := scrape(t, b.adminAddr(t)); engine == "goroutine" && (m[`forkmq_bridge_connected{bridge="cluster"}`] != 1 || m[`forkmq_bridge_messages_total{bridge="cluster",direction="out"}`] < n) {
			t.Errorf("/metrics: bridge connected %v, out %v, want 1 and at least %d",
				m[`forkmq_bridge_connected{bridge="cluster"}`], m[`forkmq_bridge_messages_total{bridge="cluster",direction="out"}`], n)
		}
		mustEventually(t, 2*startTimeout, func() error {
			m := scrape(t, b.adminAddr(t))
			if m[`forkmq_bridge_backlog_messages{bridge="cluster"}`] != 0 {
				return fmt.Errorf("bridge backlog %v, want 0 once the remote has everything", m[`forkmq_bridge_backlog_messages{bridge="cluster"}`])
			}
			// In the process engine the counts are the bridge process's
			// own, since its last start (it asks on its stats socket).
			if m[`forkmq_bridge_connected{bridge="cluster"}`] != 1 || m[`forkmq_bridge_messages_total{bridge="cluster",direction="out"}`] < n {
				return fmt.Errorf("/metrics: bridge connected %v, out %v, want 1 and at least %d",
					m[`forkmq_bridge_connected{bridge="cluster"}`], m[`forkmq_bridge_messages_total{bridge="cluster",direction="out"}`], n)
			}
			if row := bridgeRow(t, b); !strings.Contains(row, `data-connected="true"`) || !strings.Contains(row, `data-backlog="0"`) {
				return fmt.Errorf("the live view's bridge row: %s", row)
			}
			var lost []int
			for i := range n {
				if up.count("site1/sensors/stream "+strconv.Itoa(i)) == 0 {
					lost = append(lost, i)
				}
			}
			if len(lost) > 0 {
				return fmt.Errorf("%d of %d readings lost: %v", len(lost), n, lost)
			}
			return nil
		})
		if engine == "process" {
			killBridgePair(t, b, local, down, up, in)
		}
	})
}

// bridgeRow is the live view's row of the bridge "cluster".
func bridgeRow(t *testing.T, b *broker) string {
	t.Helper()
	resp, err := http.Get("http://" + b.adminAddr(t) + "/view")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	_, row, ok := strings.Cut(string(body), `data-bridge="cluster"`)
	if !ok {
		t.Fatalf("the live view has no row for the bridge:\n%s", body)
	}
	row, _, _ = strings.Cut(row, "</tr>")
	return row
}

// killBridgePair: a SIGKILL of the worker pair serving the process
// engine's bridge, in mid-stream both ways, loses no QoS 1 message: the
// bridge process loses its local connection, ends, and is started again
// with its persistent local session (restart_timeout 1 10 in the example).
func killBridgePair(t *testing.T, b *broker, local, down mqtt.Client, up *tally, in *inbox) {
	t.Helper()
	var pair logEntry
	for _, l := range b.logLines("client connected") {
		if l.str("client_id") == bridge.LocalClientID("cluster") {
			pair = l
		}
	}
	if pair.raw == "" {
		t.Fatal("no client connected line for the bridge's local connection")
	}
	publishQoS := func(c mqtt.Client, topic, payload string) {
		t.Helper()
		if tok := c.Publish(topic, 1, false, payload); !tok.WaitTimeout(ioTimeout) || tok.Error() != nil {
			t.Fatalf("publish %s: %v", topic, tok.Error())
		}
	}
	const n = 100
	before := len(in.all())
	for i := range n {
		if i == n/2 {
			for _, key := range []string{"router_pid", "deliverer_pid"} {
				if err := syscall.Kill(pair.int(key), syscall.SIGKILL); err != nil {
					t.Fatalf("kill the bridge's %s %d: %v", key, pair.int(key), err)
				}
			}
		}
		publishQoS(local, "sensors/kill", strconv.Itoa(i))
		publishQoS(down, "site1/commands/kill", strconv.Itoa(i))
	}
	b.waitLog(t, 2*startTimeout, "bridge process ended", nil)
	mustEventually(t, 4*startTimeout, func() error {
		var lostUp, lostDown []int
		got := map[string]bool{}
		for _, m := range in.all()[before:] {
			got[m.topic+" "+string(m.payload)] = true
		}
		for i := range n {
			if up.count("site1/sensors/kill "+strconv.Itoa(i)) == 0 {
				lostUp = append(lostUp, i)
			}
			if !got["commands/kill "+strconv.Itoa(i)] {
				lostDown = append(lostDown, i)
			}
		}
		if len(lostUp)+len(lostDown) > 0 {
			return fmt.Errorf("after the SIGKILL of the bridge's pair, lost going out %v, coming in %v", lostUp, lostDown)
		}
		return nil
	})
}
