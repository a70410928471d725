package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/forkmq/forkmq/internal/scoreboard"
)

func get(t testing.TB, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	body, _ := io.ReadAll(rec.Body)
	return rec.Code, string(body)
}

// TestRates: rates are computed per process between two snapshots, and a
// process that is new has none.
func TestRates(t *testing.T) {
	a := fakeSnapshot(2, 1)
	b := fakeSnapshot(3, 3)
	a.Taken = time.Unix(100, 0)
	b.Taken = time.Unix(102, 0)
	v := NewView(&a, &b)
	if v.Interval != 2*time.Second {
		t.Errorf("interval = %v", v.Interval)
	}
	r := v.Rate(b.Clients[0].Router)
	if r.MessagesIn != 100 { // (300-100)/2
		t.Errorf("router in = %v/s, want 100", r.MessagesIn)
	}
	if got := v.Rate(b.Clients[1].Deliverer).MessagesOut; got != 90 {
		t.Errorf("deliverer out = %v/s, want 90", got)
	}
	if got := v.Rate(b.Clients[2].Router); got != (Rates{}) {
		t.Errorf("a new process has no rates yet: %+v", got)
	}
	if cpu := r.CPU; cpu < 0.0099 || cpu > 0.0101 { // 200µs of CPU over 2 s
		t.Errorf("CPU = %v%%", cpu)
	}
	if v.Total.MessagesIn != (900-200)/2.0 {
		t.Errorf("total in = %v", v.Total.MessagesIn)
	}
	if first := NewView(nil, &a); first.Interval != 0 || len(first.Processes) != 0 {
		t.Error("the first view has no rates")
	}
}

// TestMetrics scrapes /metrics and checks the documented names and values.
func TestMetrics(t *testing.T) {
	f := &fakeBroker{}
	f.set(fakeSnapshot(3, 2))
	code, body := get(t, NewServer(f), "/metrics")
	if code != 200 {
		t.Fatalf("GET /metrics = %d: %s", code, body)
	}
	parser := expfmt.NewTextParser(model.LegacyValidation) // forkmq's names are all classic Prometheus names
	families, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("the scrape does not parse: %v", err)
	}
	value := func(name string, labels map[string]string) float64 {
		t.Helper()
		fam, ok := families[name]
		if !ok {
			t.Fatalf("no metric %s", name)
		}
	metrics:
		for _, m := range fam.Metric {
			for _, lp := range m.Label {
				if want, ok := labels[lp.GetName()]; ok && want != lp.GetValue() {
					continue metrics
				}
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			case m.Histogram != nil:
				return float64(m.Histogram.GetSampleCount())
			}
		}
		t.Fatalf("no %s with %v", name, labels)
		return 0
	}
	checks := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"forkmq_up", nil, 1},
		{"forkmq_messages_received_total", nil, 600},
		{"forkmq_messages_sent_total", nil, 540},
		{"forkmq_clients_connected", nil, 3},
		{"forkmq_processes", map[string]string{"role": "router"}, 4}, // 3 clients and an idle one
		{"forkmq_processes", map[string]string{"role": "supervisor"}, 1},
		{"forkmq_pool_idle_pairs", nil, 1},
		{"forkmq_pool_size_pairs", nil, 2},
		{"forkmq_queue_budget_used_bytes", nil, 3 * 7168},
		{"forkmq_queue_budget_left_bytes", nil, 819200 - 3*7168},
		{"forkmq_queue_depth_messages", map[string]string{"queue": "forkmq.5f3a.2", "client": "sensor-2"}, 2},
		{"forkmq_queue_capacity_messages", map[string]string{"queue": "forkmq.5f3a.2"}, 10},
		{"forkmq_topic_files", nil, 2},
		{"forkmq_subscriptions", nil, 3},
		{"forkmq_delivery_latency_seconds", nil, 6},
		{"forkmq_build_info", map[string]string{"engine": "process"}, 1},
		{"forkmq_bridge_connected", map[string]string{"bridge": "cluster"}, 0},
		{"forkmq_bridge_messages_total", map[string]string{"bridge": "cluster", "direction": "in"}, 7},
		{"forkmq_bridge_messages_total", map[string]string{"bridge": "cluster", "direction": "out"}, 11},
		{"forkmq_bridge_backlog_messages", map[string]string{"bridge": "cluster"}, 3},
	}
	for _, c := range checks {
		if got := value(c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	// Histogram buckets are cumulative and in seconds.
	h := families["forkmq_delivery_latency_seconds"].Metric[0].Histogram
	for _, b := range h.Bucket {
		want := uint64(0)
		switch {
		case math.IsInf(b.GetUpperBound(), 1):
			want = 6
		case b.GetUpperBound() >= 0.0002:
			want = 5
		}
		if b.GetCumulativeCount() != want {
			t.Errorf("bucket le=%v: %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), want)
		}
	}
	if h.GetSampleSum() != 3 {
		t.Errorf("sum = %v s", h.GetSampleSum())
	}
	// Every counter of the scoreboard is exported, named after it.
	for c := scoreboard.Counter(0); c < scoreboard.NumCounters; c++ {
		name := "forkmq_" + c.String() + "_total"
		if fam, ok := families[name]; !ok || fam.GetHelp() == "" {
			t.Errorf("counter %s missing or undocumented", name)
		}
	}
	if _, ok := families["go_goroutines"]; !ok {
		t.Error("the serving process's Go runtime metrics are missing")
	}
}

// TestMetricsWhenTheBrokerFails: a failed snapshot is forkmq_up 0, not a
// failed scrape.
func TestMetricsWhenTheBrokerFails(t *testing.T) {
	f := &fakeBroker{err: errors.New("engine stopped")}
	code, body := get(t, NewServer(f), "/metrics")
	if code != 200 || !strings.Contains(body, "forkmq_up 0") {
		t.Errorf("GET /metrics = %d:\n%s", code, body)
	}
	if code, _ := get(t, NewServer(f), "/view"); code != http.StatusServiceUnavailable {
		t.Errorf("GET /view of a failing broker = %d, want 503", code)
	}
}

// TestPageAndView: the page draws every process, queue and topic file with
// ids a browser (and the browser test) can find.
func TestPageAndView(t *testing.T) {
	f := &fakeBroker{}
	f.set(fakeSnapshot(2, 1))
	srv := NewServer(f)
	code, body := get(t, srv, "/")
	if code != 200 {
		t.Fatalf("GET / = %d", code)
	}
	for _, want := range []string{
		"<!doctype html>", `fetch("view"`,
		`id="proc-supervisor"`, `data-pid="4000"`, `data-pid="4001"`, `data-pid="4003"`,
		`data-queue="forkmq.5f3a.1"`, `data-depth="1"`, `data-capacity="10"`,
		`data-filter="sensors/#"`, `data-queues="forkmq.5f3a.0 forkmq.5f3a.1"`,
		`data-filter="$SYS/#"`, `class="subscription"`, "sensor-1", "127.0.0.1:50001",
		"pool 1/2 idle",
		// The bridge: connected or not, messages each way, backlog.
		`data-bridge="cluster" data-connected="false" data-backlog="3"`, "<td>not connected</td>",
		`<td class="num">7</td><td class="num">11</td><td class="num">3</td>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	code, view := get(t, srv, "/view")
	if code != 200 || strings.Contains(view, "<html") || !strings.Contains(view, `<svg id="diagram"`) {
		t.Errorf("GET /view = %d, want the drawing alone", code)
	}
	// The goroutine engine's words.
	s := fakeSnapshot(1, 1)
	s.Engine = EngineGoroutine
	f.set(s)
	time.Sleep(cacheFor)
	if _, view := get(t, srv, "/view"); !strings.Contains(view, "goroutines") || !strings.Contains(view, ">channel<") {
		t.Errorf("the goroutine engine's view must speak of goroutines and channels:\n%s", view)
	}
}

// TestStatusTable: the status command's table has the live view's rows.
func TestStatusTable(t *testing.T) {
	a, b := fakeSnapshot(2, 1), fakeSnapshot(2, 2)
	a.Taken, b.Taken = time.Unix(0, 0), time.Unix(1, 0)
	b.Started = time.Unix(-3600, 0)
	var buf bytes.Buffer
	if err := WriteTable(&buf, NewView(&a, &b)); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{
		"forkmq process engine, up 1h0m, 2 clients, 7 processes; 200/s in, 180/s out",
		"ROLE", "QUEUE",
		"router      4002  sensor-1",
		"deliverer   4003  sensor-1",
		"forkmq.5f3a.1  1/10",
		"100/s", "90/s",
		"sensors/#     forkmq.5f3a.0 (QoS 1), forkmq.5f3a.1 (QoS 1)",
		"$SYS/#        forkmq.5f3a.0 (QoS 0)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the table lacks %q:\n%s", want, out)
		}
	}
	if len(rows(NewView(&a, &b))) != 7 {
		t.Error("the table and the page list the same 7 processes")
	}
}

// TestViewerCaches: viewers and scrapers within cacheFor share one
// snapshot.
func TestViewerCaches(t *testing.T) {
	calls := 0
	now := time.Unix(0, 0)
	vw := &viewer{interval: time.Second, now: func() time.Time { return now },
		src: SourceFunc(func(context.Context) (*Snapshot, error) { calls++; return &Snapshot{Taken: now}, nil })}
	for i := 0; i < 5; i++ {
		vw.view(context.Background())
	}
	now = now.Add(time.Second)
	v, _ := vw.view(context.Background())
	if calls != 2 || v.Interval != time.Second {
		t.Errorf("snapshots taken = %d, interval %v; want 2 and 1s", calls, v.Interval)
	}
}

// TestServe: the listener answers every endpoint and stops with its
// context.
func TestServe(t *testing.T) {
	f := &fakeBroker{}
	f.set(fakeSnapshot(1, 1))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- NewServer(f).Serve(ctx, ln) }()
	base := "http://" + ln.Addr().String()
	for path, want := range map[string]string{
		"/":              "<!doctype html>",
		"/view":          `<svg id="diagram"`,
		"/status":        "ROLE",
		"/snapshot.json": `"Engine": "process"`,
		"/metrics":       "forkmq_up 1",
	} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), want) {
			t.Errorf("GET %s = %d, want %q in:\n%.300s", path, resp.StatusCode, want, body)
		}
	}
	var snap View
	resp, _ := http.Get(base + "/snapshot.json")
	if err := json.NewDecoder(resp.Body).Decode(&snap); err != nil || len(snap.Clients) != 1 {
		t.Errorf("snapshot.json decodes to %d clients, %v", len(snap.Clients), err)
	}
	resp.Body.Close()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve = %v after its context ended", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after its context ended")
	}
}
