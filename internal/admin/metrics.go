package admin

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/forkmq/forkmq/internal/scoreboard"
)

// metricPrefix starts every metric name of the broker's own.
const metricPrefix = "forkmq_"

// counterHelp describes each scoreboard counter, exported as
// forkmq_<name>_total.
var counterHelp = [scoreboard.NumCounters]string{
	scoreboard.MessagesReceived: "PUBLISH packets read from clients.",
	scoreboard.MessagesSent:     "PUBLISH packets written to clients.",
	scoreboard.BytesReceived:    "Bytes read from client sockets.",
	scoreboard.BytesSent:        "Bytes written to client sockets.",
	scoreboard.PublishDropped:   "Publications dropped: for a stalled subscriber, a full persistent session, or a copy lost on a queue that stayed full.",
	scoreboard.Connects:         "Connections accepted (CONNACK 0).",
	scoreboard.ConnectsRefused:  "Connections refused (a CONNACK code other than 0, or a limit).",
	scoreboard.Subscribes:       "Topic filters subscribed.",
	scoreboard.Unsubscribes:     "Topic filters unsubscribed.",
	scoreboard.QueueWaits:       "Sends that found a subscriber's queue full and waited (back-pressure).",
}

// gaugeHelp describes each scoreboard gauge, exported as forkmq_<name>.
var gaugeHelp = [scoreboard.NumGauges]string{
	scoreboard.Subscriptions:   "Topic filters held, over every session (the entries of the topic files).",
	scoreboard.Inflight:        "QoS 1 and 2 messages sent to clients and not yet acknowledged.",
	scoreboard.BacklogMessages: "Messages taken by deliverers and not yet written to their clients.",
	scoreboard.BacklogBytes:    "Bytes of those messages.",
}

var histogramHelp = [scoreboard.NumHistograms]string{
	scoreboard.DeliveryLatency: "Time from a publication's arrival at its router to its write to a subscriber's socket.",
	scoreboard.ConnectTime:     "Time from accepting a connection to writing its CONNACK.",
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(metricPrefix+name, help, labels, nil)
}

// collector turns a view into metrics at each scrape: no state of its own
// beyond the descriptions, so a scrape always shows the broker as it is.
type collector struct {
	vw *viewer

	counters   [scoreboard.NumCounters]*prometheus.Desc
	gauges     [scoreboard.NumGauges]*prometheus.Desc
	histograms [scoreboard.NumHistograms]*prometheus.Desc

	info, uptime, clients, processes          *prometheus.Desc
	poolIdle, poolSize                        *prometheus.Desc
	budgetUsed, budgetLeft, budgetTotal       *prometheus.Desc
	queueDepth, queueCapacity, topicFiles, up *prometheus.Desc
	bridgeConnected, bridgeMessages           *prometheus.Desc
	bridgeBacklog                             *prometheus.Desc
}

func newCollector(vw *viewer) *collector {
	c := &collector{vw: vw}
	for i := range c.counters {
		name := scoreboard.Counter(i).String()
		c.counters[i] = desc(name+"_total", counterHelp[i])
	}
	for i := range c.gauges {
		c.gauges[i] = desc(scoreboard.Gauge(i).String(), gaugeHelp[i])
	}
	for i := range c.histograms {
		c.histograms[i] = desc(scoreboard.Histogram(i).String()+"_seconds", histogramHelp[i])
	}
	c.up = desc("up", "1 when the broker answered the scrape's snapshot, 0 when it failed.")
	c.info = desc("build_info", "Always 1; the labels say which engine and version serve.", "engine", "version")
	c.uptime = desc("uptime_seconds", "Seconds since the broker started.")
	c.clients = desc("clients_connected", "Clients connected (past CONNECT).")
	c.processes = desc("processes", "Worker processes (goroutines, in the goroutine engine) by role, the supervisor included.", "role")
	c.poolIdle = desc("pool_idle_pairs", "Worker pairs in the pool waiting for a client.")
	c.poolSize = desc("pool_size_pairs", "Worker pairs the supervisor keeps ready.")
	c.budgetUsed = desc("queue_budget_used_bytes", "RLIMIT_MSGQUEUE bytes the broker's queues use.")
	c.budgetLeft = desc("queue_budget_left_bytes", "RLIMIT_MSGQUEUE bytes left for new queues.")
	c.budgetTotal = desc("queue_budget_bytes", "RLIMIT_MSGQUEUE bytes the broker plans its queues within.")
	c.queueDepth = desc("queue_depth_messages", "Messages waiting in a client's queue (channel).", "queue", "client")
	c.queueCapacity = desc("queue_capacity_messages", "Messages a client's queue (channel) holds at most.", "queue", "client")
	c.bridgeConnected = desc("bridge_connected", "1 while the bridge is connected to its remote broker, 0 otherwise.", "bridge")
	c.bridgeMessages = desc("bridge_messages_total", "Messages a bridge carried, in (from the remote) or out (to it).", "bridge", "direction")
	c.bridgeBacklog = desc("bridge_backlog_messages", "Messages for a bridge's remote broker it has not taken yet (not acknowledged, or not sent while it is away).", "bridge")
	c.topicFiles = desc("topic_files", "Topic filters subscribed to: files in the process engine, trie entries in the goroutine engine.")
	return c
}

func (c *collector) all() []*prometheus.Desc {
	out := []*prometheus.Desc{c.up, c.info, c.uptime, c.clients, c.processes, c.poolIdle, c.poolSize,
		c.budgetUsed, c.budgetLeft, c.budgetTotal, c.queueDepth, c.queueCapacity, c.topicFiles,
		c.bridgeConnected, c.bridgeMessages, c.bridgeBacklog}
	out = append(out, c.counters[:]...)
	out = append(out, c.gauges[:]...)
	return append(out, c.histograms[:]...)
}

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.all() {
		ch <- d
	}
}

// scrapeTimeout bounds one snapshot for a scrape.
const scrapeTimeout = 5 * time.Second

// Collect implements prometheus.Collector.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	v, err := c.vw.view(ctx)
	if err != nil {
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 0)
		return
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	gauge(c.up, 1)
	gauge(c.info, 1, v.Engine, v.Version)
	if !v.Started.IsZero() {
		gauge(c.uptime, v.Taken.Sub(v.Started).Seconds())
	}
	for i, d := range c.counters {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v.Totals.Counters[i]))
	}
	for i, d := range c.gauges {
		gauge(d, float64(v.Totals.Gauges[i]))
	}
	for i, d := range c.histograms {
		h := v.Histograms[i]
		buckets := make(map[float64]uint64, len(scoreboard.Bounds))
		var cum uint64
		for k, bound := range scoreboard.Bounds {
			cum += h.Buckets[k]
			buckets[bound.Seconds()] = cum
		}
		ch <- prometheus.MustNewConstHistogram(d, h.Count, h.Sum.Seconds(), buckets)
	}
	connected := 0
	for _, cl := range v.Clients {
		if cl.Router.State == scoreboard.StateConnected.String() {
			connected++
		}
	}
	gauge(c.clients, float64(connected))
	roles := make(map[string]int)
	for _, p := range v.processes() {
		roles[p.Role]++
	}
	for role, n := range roles {
		gauge(c.processes, float64(n), role)
	}
	gauge(c.poolIdle, float64(v.Pool.Idle))
	gauge(c.poolSize, float64(v.Pool.Size))
	gauge(c.budgetUsed, float64(v.QueueBudget.Used))
	gauge(c.budgetTotal, float64(v.QueueBudget.Total))
	gauge(c.budgetLeft, float64(v.QueueBudget.Total-min(v.QueueBudget.Used, v.QueueBudget.Total)))
	for _, q := range v.Queues {
		gauge(c.queueDepth, float64(q.Depth), q.Name, q.Client)
		gauge(c.queueCapacity, float64(q.Capacity), q.Name, q.Client)
	}
	gauge(c.topicFiles, float64(len(v.Topics)))
	for _, b := range v.Bridges {
		up := 0.0
		if b.Connected {
			up = 1
		}
		gauge(c.bridgeConnected, up, b.Name)
		gauge(c.bridgeBacklog, float64(b.Backlog), b.Name)
		ch <- prometheus.MustNewConstMetric(c.bridgeMessages, prometheus.CounterValue, float64(b.In), b.Name, "in")
		ch <- prometheus.MustNewConstMetric(c.bridgeMessages, prometheus.CounterValue, float64(b.Out), b.Name, "out")
	}
}

// metricsHandler serves /metrics: the broker's metrics and those of the
// serving process's Go runtime, on a registry of its own (no global state).
func metricsHandler(vw *viewer) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(newCollector(vw), collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}
