// Command mqbench measures MQTT brokers against each other: forkmq's
// process engine (two worker processes per client), its goroutine engine,
// mosquitto (with its defaults, and with set_tcp_nodelay) and mochi-mqtt, or
// any broker given as a command line. It runs the seed, capacity, latency,
// probe, burst, connect, takeover, hostile, scale and crosscheck scenarios
// with its own load generator, each broker in a random order per
// repetition, pinned apart from the generator, on a machine it checks is
// quiet and a tree it checks is committed, and writes report.md,
// results.json and PNG plots into bench/results/<timestamp>/.
//
//	mqbench                        # everything, 3 repetitions (about two hours)
//	mqbench -quick                 # shorter durations
//	mqbench -smoke                 # every scenario for about a second, forkmq engines only
//	mqbench -brokers mosquitto,mochi -scenarios capacity,latency
//	mqbench -broker 'nano=/opt/nanomq start --url tcp://127.0.0.1:{port}'
package main
