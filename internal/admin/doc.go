// Package admin is the broker's optional admin listener: Prometheus
// metrics, a live view of the architecture at work, and the status
// command's table, all drawn from a Snapshot that each engine provides
// (Source) — the process engine from its scoreboard, queues and topic
// files, the goroutine engine from its goroutines, channels and trie.
//
// # HTTP surface (Server)
//
//	/              the live view: one page that draws the supervisor, every
//	               client's pair (pid, role, client id, CPU, memory), every
//	               queue with its depth and capacity, the topic files with
//	               lines to the queues they list, and messages/s along each
//	               pair; it fetches /view once a second and swaps it in
//	/view          the drawing alone (server-rendered SVG and a table)
//	/status        the status command's table, as text
//	/snapshot.json the view as JSON
//	/metrics       Prometheus metrics
//
// The drawing is computed in Go (layout) and written by html/template: the
// page carries twenty lines of script and no front-end build. One snapshot
// serves every viewer and scraper for half a second, and rates are taken
// between consecutive snapshots (View).
//
// # Metrics
//
// Counters, one per scoreboard counter, named after it (every process's,
// those that have exited included):
//
//	forkmq_messages_received_total   PUBLISH packets read from clients
//	forkmq_messages_sent_total       PUBLISH packets written to clients
//	forkmq_bytes_received_total      bytes read from client sockets
//	forkmq_bytes_sent_total          bytes written to client sockets
//	forkmq_publish_dropped_total     publications dropped (stalled subscriber, full session, lost copy)
//	forkmq_connects_total            connections accepted (CONNACK 0)
//	forkmq_connects_refused_total    connections refused (CONNACK ≠ 0, a limit)
//	forkmq_subscribes_total          topic filters subscribed
//	forkmq_unsubscribes_total        topic filters unsubscribed
//	forkmq_queue_waits_total         sends that found a queue full and waited (back-pressure)
//
// Gauges:
//
//	forkmq_up                        1 when the scrape's snapshot succeeded
//	forkmq_build_info{engine,version} 1
//	forkmq_uptime_seconds
//	forkmq_clients_connected         clients past CONNECT
//	forkmq_processes{role}           processes (goroutines) by role, the supervisor included
//	forkmq_pool_idle_pairs           process engine: workers waiting in the pool for a client
//	forkmq_pool_size_pairs           process engine: workers the supervisor keeps ready (-pool-min-spare)
//	forkmq_queue_budget_bytes        RLIMIT_MSGQUEUE bytes planned for queues
//	forkmq_queue_budget_used_bytes   of which the queues use
//	forkmq_queue_budget_left_bytes   and which are left
//	forkmq_queue_depth_messages{queue,client}     messages waiting in a queue (channel)
//	forkmq_queue_capacity_messages{queue,client}  messages it holds at most
//	forkmq_topic_files               topic filters subscribed to
//	forkmq_subscriptions             filters held, over every session (the topic files' entries)
//	forkmq_inflight                  QoS 1/2 messages sent and not acknowledged
//	forkmq_backlog_messages          messages taken by deliverers and not yet written
//	forkmq_backlog_bytes             their bytes
//
// (The backlog gauges are set once per deliverer turn. Delivery latency
// is observed for publications routed to a connected subscriber; in the
// process engine a batch carries the time its first publication was
// routed, so a later one in the same batch counts from then. Retained
// messages and a persistent session's mailbox entries are not observed.)
//
// Histograms (buckets from 50 µs doubling to 204.8 ms, scoreboard.Bounds):
//
//	forkmq_delivery_latency_seconds  from a publication's arrival at its router to its write to a subscriber
//	forkmq_connect_time_seconds      from accept to CONNACK
//
// And the serving process's own go_* and process_* metrics.
package admin
