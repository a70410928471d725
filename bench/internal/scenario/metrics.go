package scenario

// Metric describes a measured quantity for the report.
type Metric struct {
	Name   string `json:"name"`
	Label  string `json:"label"`
	Unit   string `json:"unit"`
	Better string `json:"better"` // "higher", "lower", or "" when neither
}

// Metrics lists every metric a run may report, in report order.
var Metrics = []Metric{
	{"msgs_per_s", "delivered messages/s", "msg/s", "higher"},
	{"offered_per_s", "offered load", "deliveries/s", ""},
	{"sent_per_s", "published messages/s", "msg/s", ""},
	{"window_rate", "closed-window rate (the window over the round trip, not a capacity)", "msg/s", ""},
	{"cpu_s_per_million", "broker CPU per million deliveries", "s", "lower"},
	{"latency_p50_ms", "latency p50", "ms", "lower"},
	{"latency_p99_ms", "latency p99", "ms", "lower"},
	{"latency_p999_ms", "latency p99.9", "ms", "lower"},
	{"latency_max_ms", "latency max", "ms", "lower"},
	{"loss_pct", "loss", "%", "lower"},
	{"lost", "lost messages", "msg", "lower"},
	{"received", "messages received", "msg", ""},
	{"duplicates", "duplicates", "msg", "lower"},
	{"reordered", "reordered", "msg", "lower"},
	{"unexpected", "messages from no followed publisher, or unreadable", "msg", "lower"},
	{"qos_downgraded", "subscriptions granted a lower QoS than asked", "", "lower"},
	{"unacked", "QoS 1 PUBLISH never acknowledged (not counted as lost)", "msg", "lower"},
	{"stalls", "window stalls (1 s without progress)", "", "lower"},
	{"burst_s", "time to deliver the whole burst", "s", "lower"},
	{"conns_per_s", "connections/s", "conn/s", "higher"},
	{"connack_p50_ms", "CONNACK latency p50", "ms", "lower"},
	{"connack_p99_ms", "CONNACK latency p99", "ms", "lower"},
	{"connack_max_ms", "CONNACK latency max", "ms", "lower"},
	{"refusals", "refused connections", "conn", "lower"},
	{"cpu_ms_per_conn", "broker CPU per connection", "ms", "lower"},
	{"takeovers", "takeovers done", "", ""},
	{"takeover_p50_ms", "takeover latency p50", "ms", "lower"},
	{"takeover_p99_ms", "takeover latency p99", "ms", "lower"},
	{"takeover_max_ms", "takeover latency max", "ms", "lower"},
	{"old_closed_p99_ms", "old connection closed after, p99", "ms", "lower"},
	{"takeover_stale", "taken-over connections left open", "conn", "lower"},
	{"cpu_ms_per_takeover", "broker CPU per takeover", "ms", "lower"},
	{"hostile_done", "malformed connections done", "conn", "higher"},
	{"hostile_s", "time for the malformed connections", "s", "lower"},
	{"hostile_per_s", "malformed connections/s", "conn/s", "higher"},
	{"hostile_close_p99_ms", "malformed connection closed after, p99", "ms", "lower"},
	{"hostile_unclosed", "malformed connections left open", "conn", "lower"},
	{"cpu_pct", "broker CPU (mean)", "% of a core", "lower"},
	{"cpu_pct_max", "broker CPU (max of one sample)", "% of a core", "lower"},
	{"cpu_s", "broker CPU time", "s", "lower"},
	{"held", "clients held", "clients", "higher"},
	{"connect_s", "time to connect them", "s", "lower"},
	{"idle_cpu_pct", "broker CPU while they idle", "% of a core", "lower"},
	{"idle_cpu_us_per_client_s", "broker CPU per idle client", "µs/s", "lower"},
	{"rss_mib", "broker tree RSS", "MiB", "lower"},
	{"pss_mib", "broker tree PSS", "MiB", "lower"},
	{"rss_kib_per_client", "RSS per client", "KiB", "lower"},
	{"pss_kib_per_client", "PSS per client", "KiB", "lower"},
	{"procs", "broker processes", "", "lower"},
	{"packets_per_s", "MQTT packets on the wire", "pkt/s", ""},
	{"gen_cpu_pct", "load generator CPU (mean)", "% of a core", ""},
	{"gen_lag_p99_ms", "generator's pacing lateness p99", "ms", ""},
	{"tool_cpu_pct", "mosquitto_pub + mosquitto_sub CPU", "% of a core", ""},
	{"log_drop_lines", "broker log lines about dropped messages", "lines", "lower"},
}

// MetricByName returns the metric's description.
func MetricByName(name string) (Metric, bool) {
	for _, m := range Metrics {
		if m.Name == name {
			return m, true
		}
	}
	return Metric{}, false
}
