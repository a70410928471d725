package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/forkmq/forkmq/internal/headless"
)

// withAdmin starts the broker with an admin listener on a free port.
func withAdmin() brokerOption {
	return func(c *brokerConfig) { c.args = append(c.args, "-admin-listen", "127.0.0.1:0") }
}

// adminAddr is the admin listener's address, from its log line.
func (b *broker) adminAddr(t testing.TB) string {
	t.Helper()
	return b.waitLog(t, ioTimeout, "admin listening", nil).str("addr")
}

// scrape reads /metrics into name{labels} -> value.
func scrape(t testing.TB, addr string) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("/metrics: %s: %s", resp.Status, b)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err == nil {
			out[line[:i]] = v
		}
	}
	return out
}

// TestAdminMetrics scrapes /metrics of the real broker: counters that move
// with traffic, the processes (goroutines) by role, the queues with their
// depth and capacity, the topic files; then `broker status` prints the
// same broker's table.
func TestAdminMetrics(t *testing.T) {
	forEachEngine(t, func(t *testing.T, engine string) {
		b := startBroker(t, withEngine(engine), withAdmin())
		addr := b.adminAddr(t)
		sub := connectPaho(t, b, "metrics-sub")
		in := subscribe(t, sub, "metrics/#")
		pub := connectPaho(t, b, "metrics-pub")
		before := scrape(t, addr)
		const n = 25
		for i := range n {
			publish(t, pub, "metrics/x", []byte(fmt.Sprint("payload ", i)))
		}
		in.waitCount(t, n, 10*time.Second)
		var m map[string]float64
		mustEventually(t, 10*time.Second, func() error {
			m = scrape(t, addr)
			for _, name := range []string{"forkmq_messages_received_total", "forkmq_messages_sent_total"} {
				if m[name] < before[name]+n {
					return fmt.Errorf("%s went from %v to %v, want at least +%d", name, before[name], m[name], n)
				}
			}
			// Every delivery's latency, routing to socket, is observed.
			if got := m["forkmq_delivery_latency_seconds_count"] - before["forkmq_delivery_latency_seconds_count"]; got < n {
				return fmt.Errorf("forkmq_delivery_latency_seconds_count went up by %v, want at least %d", got, n)
			}
			if m["forkmq_delivery_latency_seconds_sum"] <= before["forkmq_delivery_latency_seconds_sum"] {
				return fmt.Errorf("forkmq_delivery_latency_seconds_sum did not grow")
			}
			for _, name := range []string{"forkmq_bytes_received_total", "forkmq_bytes_sent_total"} {
				if m[name] <= before[name]+n*9 {
					return fmt.Errorf("%s went from %v to %v, want more than %d payload bytes more", name, before[name], m[name], n*9)
				}
			}
			return nil
		})
		for name, want := range map[string]float64{
			"forkmq_up": 1, "forkmq_clients_connected": 2, "forkmq_connects_total": 2,
			`forkmq_processes{role="router"}`: 2, `forkmq_processes{role="deliverer"}`: 2, `forkmq_processes{role="supervisor"}`: 1,
			"forkmq_topic_files": 1, "forkmq_subscriptions": 1, "forkmq_subscribes_total": 1,
			"forkmq_connect_time_seconds_count": 2,
		} {
			if m[name] != want {
				t.Errorf("%s = %v, want %v", name, m[name], want)
			}
		}
		if engine == "process" {
			// The pool: workers kept ready, and some waiting.
			if m["forkmq_pool_size_pairs"] < 1 {
				t.Errorf("forkmq_pool_size_pairs = %v, want the pool's size", m["forkmq_pool_size_pairs"])
			}
			mustEventually(t, 10*time.Second, func() error {
				if v := scrape(t, addr)["forkmq_pool_idle_pairs"]; v < 1 {
					return fmt.Errorf("forkmq_pool_idle_pairs = %v, want the idle pool workers", v)
				}
				return nil
			})
		}
		queues := 0
		for k, v := range m {
			if strings.HasPrefix(k, "forkmq_queue_capacity_messages{") {
				queues++
				if v < 1 {
					t.Errorf("%s = %v, want a capacity", k, v)
				}
			}
		}
		if queues != 2 {
			t.Errorf("%d queues with a capacity in /metrics, want one per client (2)", queues)
		}
		if m["forkmq_uptime_seconds"] <= 0 {
			t.Errorf("forkmq_uptime_seconds = %v, want more than 0", m["forkmq_uptime_seconds"])
		}

		// broker status: the same table, for the terminal.
		out, err := exec.Command(filepath.Join(binDir, "broker"), "status", "-state-dir", b.StateDir, "-interval", "200ms").CombinedOutput()
		if err != nil {
			t.Fatalf("broker status: %v\n%s", err, out)
		}
		for _, want := range []string{"forkmq " + engine + " engine", "metrics-sub", "metrics-pub", "router", "deliverer", "metrics/#"} {
			if !strings.Contains(string(out), want) {
				t.Errorf("broker status does not show %q:\n%s", want, out)
			}
		}
	})
}

// envLiveViewScreenshot names the PNG the live-view test writes (the
// README's picture, docs/liveview.png, is made with it).
const envLiveViewScreenshot = "FORKMQ_LIVEVIEW_SCREENSHOT"

// TestLiveViewInChromium drives the live view of the real broker in
// Debian's headless Chromium: clients connect, and their processes
// (goroutines), queues (channels) and topic files appear, with messages/s
// along the pairs while a publisher sends; when they leave, they
// disappear.
func TestLiveViewInChromium(t *testing.T) {
	exe := headless.Chromium(t)
	forEachEngine(t, func(t *testing.T, engine string) {
		b := startBroker(t, withEngine(engine), withAdmin())
		addr := b.adminAddr(t)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()

		var clients []mqtt.Client
		for i, filter := range []string{"sensors/#", "sensors/kitchen/+", "sensors/#"} {
			c := connectPaho(t, b, fmt.Sprintf("viewer-%d", i))
			subscribe(t, c, filter)
			clients = append(clients, c)
		}
		pub := connectPaho(t, b, "sensor-pub")
		clients = append(clients, pub)
		var sent atomic.Int64
		go func() {
			for ctx.Err() == nil && pub.IsConnectionOpen() {
				if pahoPublish(pub, "sensors/kitchen/temp", []byte("21.5"), 5*time.Second) == nil {
					sent.Add(1)
				}
				time.Sleep(20 * time.Millisecond)
			}
		}()

		browser, closeBrowser := headless.Browser(ctx, t, exe)
		defer closeBrowser()
		waitFor := func(what, js string) {
			t.Helper()
			// The page asks for a new drawing every second; a loaded machine
			// may take many.
			if _, err := chromedp.Run(browser, chromedp.Poll[bool](js, chromedp.WithPollingTimeout(30*time.Second))); err != nil {
				html, _ := chromedp.Run(browser, chromedp.OuterHTML("#view"))
				t.Fatalf("the live view never showed %s: %v\n%s", what, err, html)
			}
		}
		if _, err := chromedp.Run(browser, chromedp.Navigate("http://"+addr+"/")); err != nil {
			t.Fatal(err)
		}

		// Four clients' pairs and queues, the two topic filters, and
		// messages/s once the page has updated itself.
		waitFor("four clients' pairs, queues and topic files", `
			document.querySelectorAll('g.proc[data-role="router"][data-state="connected"]').length === 4 &&
			document.querySelectorAll('g.proc[data-role="deliverer"]').length === 4 &&
			document.querySelectorAll('g.queue').length === 4 &&
			document.querySelector('g.card[data-client="viewer-0"]') !== null &&
			document.querySelector('g.topic[data-filter="sensors/#"]').dataset.queues.split(' ').length === 2 &&
			document.querySelector('g.topic[data-filter="sensors/kitchen/+"]') !== null &&
			document.querySelector('#summary').dataset.clients === "4"`)
		waitFor("messages/s along the publisher's pair", `
			[...document.querySelectorAll('g.card[data-client="sensor-pub"] text.rate.in')]
				.some(e => /^in [1-9]/.test(e.textContent))`)
		if path := os.Getenv(envLiveViewScreenshot); path != "" && engine == "process" {
			headless.Screenshot(t, browser, path)
		}

		// Everyone leaves: no card, no queue, no topic file.
		for _, c := range clients {
			leave(c)
		}
		waitFor("no client left", `
			document.querySelectorAll('g.card, g.queue, g.topic').length === 0 &&
			document.querySelector('#summary').dataset.clients === "0"`)
		if sent.Load() == 0 {
			t.Error("the publisher sent nothing")
		}
	})
}

// TestStatusFromStateDir: without an admin listener, `broker status`
// reads a process-engine broker from its state directory (scoreboard,
// /proc, queue attributes, topic files), and says what to do for the
// goroutine engine, whose counts are in its memory.
func TestStatusFromStateDir(t *testing.T) {
	b := startBroker(t, withEngine("process"))
	c := connectPaho(t, b, "status-sub")
	subscribe(t, c, "status/#")
	out, err := exec.Command(filepath.Join(binDir, "broker"), "status", "-state-dir", b.StateDir, "-interval", "100ms").CombinedOutput()
	if err != nil {
		t.Fatalf("broker status: %v\n%s", err, out)
	}
	for _, want := range []string{"forkmq process engine", "status-sub", "supervisor", "router", "deliverer", "status/#"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("broker status does not show %q:\n%s", want, out)
		}
	}
	if !regexp.MustCompile(`deliverer .* 0/[1-9][0-9]*\n`).Match(out) {
		t.Errorf("broker status shows no queue depth/capacity on the deliverer's line:\n%s", out)
	}
	g := startBroker(t, withEngine("goroutine"))
	out, err = exec.Command(filepath.Join(binDir, "broker"), "status", "-state-dir", g.StateDir).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "-admin-listen") {
		t.Errorf("broker status on a goroutine engine without admin listener: %v, %s; want an error naming -admin-listen", err, out)
	}
}
