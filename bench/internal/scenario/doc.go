// Package scenario holds the benchmark's workloads. Each case runs against
// one started broker and returns a Result; a broker that refuses or fails
// yields a Result that says so, never a panic or an error that stops the
// benchmark.
//
//   - seed: the original study — an idle broker, 1+1 and 50+50 slow
//     publishers; broker CPU second by second, loss and latency.
//   - capacity: publishers as fast as the broker takes them (open loop,
//     bounded only by TCP): delivered messages/s, CPU per delivery and
//     loss at saturation, and whether the load generator saturated first.
//   - latency: publishers at fixed offered rates (fractions of each
//     broker's measured capacity, and absolute rates shared by all),
//     stamped with their scheduled send time so that a late send counts
//     as latency: p50/p99/p999 against offered load.
//   - probe: the closed-window latency probe (a fixed number of messages
//     in flight); its rate is the window over the round-trip time, not a
//     capacity.
//   - burst: 100 publishers each send a burst of QoS 1 messages at once
//     into one subscriber: nothing may be lost.
//   - connect: connection churn; takeover: a client id taken over again
//     and again; hostile: thousands of malformed connections in a row
//     while healthy clients publish; scale: thousands of idle clients,
//     their memory and the CPU they cost while idle.
//   - crosscheck: one capacity figure measured with mosquitto's own
//     clients (mosquitto_pub -l, mosquitto_sub), a load tool forkmq did not
//     write, beside mqbench's.
package scenario
