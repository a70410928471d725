// Command reachbench measures what issue 14 asks of the broker's reach
// and mqbench cannot drive: MQTT over TLS, and a bridge.
//
//	reachbench -mode tls-cpu      CPU per delivery, 1→1 QoS 0, TLS over plain TCP, each engine
//	reachbench -mode handshakes   a TLS client's p99 latency with and without 200 TLS handshakes/s
//	reachbench -mode terminator   the process engine's terminator (its supervisor, one process
//	                              for every session) against a prototype of one process per client
//	reachbench -mode bridge       messages/s through a bridge to a local mosquitto over
//	                              publishing to that mosquitto directly
//
// Every mode starts its brokers itself (bin/broker, bin/worker, mosquitto),
// pins them to CPU 0 and itself to CPU 1, and prints one line per figure
// and the ratio the target is about: run it under the e2e lock,
// one mode at a time (`flock /tmp/forkmq-e2e.lock reachbench -mode …`).
// Only ratios of one run mean anything on a busy machine.
//
// How it measures: CPU is the broker's process tree's (utime+stime of the
// supervisor and every worker, from /proc, package proctree) over the
// stream, divided by the messages the subscriber received; memory is the
// tree's PSS (smaps_rollup). The publisher writes QoS 0 PUBLISHes in
// bursts of 64 and waits, every 1,024, until the subscriber has all but
// 4,096 of them, so no queue overflows and nothing is dropped; a stream
// that loses messages says so.
package main
