// Command floor measures the floor of forkmq's architecture at the seed's
// load: what "two Go processes per client, POSIX queues between them" costs
// per message when the processes do nothing else — no MQTT, no forkmq code
// but the queue and socket calls.
//
// For -n pairs of clients (50: the seed's 50 publishers and 50
// subscribers) it starts the broker's process shape: per client a router
// and a deliverer (static Go processes, GOMAXPROCS=1, built like forkmq's
// workers), a datagram socket pair between them, and a POSIX queue per
// subscriber. A publisher's router reads the PUBLISH from TCP, sends it to
// its subscriber's queue (mq_timedsend) and a PUBACK to its deliverer on
// the socket pair; the deliverer writes the PUBACK to TCP; the subscriber's
// deliverer takes the queue message and writes it to TCP; the subscriber's
// router reads the client's PUBACK. Each hop is read, send, write: the
// minimum forkmq's workers do on that path. The process tree is pinned to
// CPU 0; this program, which is also the load (2n TCP connections, one
// PUBLISH of -size bytes a second from each publisher at a random offset,
// a PUBACK from each subscriber for each delivery), runs pinned to CPU 1.
//
// It reports, over -window after -warmup, the tree's CPU per delivered
// message (schedstat of every thread of every process), the wake-ups per
// message (voluntary context switches of every thread), both also as the
// median of the window's seconds (sampled each second: a stretch of a
// slowed machine inside a run does not move it), and the same for
// mosquitto and for forkmq itself driven by the same load (targets
// "mosquitto" and "forkmq": real MQTT, CONNECT and SUBSCRIBE first), so
// that the floor's cost stands beside both, measured by one harness in one
// run. Targets of the floor (-targets, comma-separated):
//
//	pair          forkmq's shape: router and deliverer per client, waiting in Go's netpoller
//	client        one process per client (publisher: read, send, PUBACK; subscriber:
//	              waits on its queue and its socket): "two processes" against one
//	+block        (a suffix) each hop waits in a blocking system call on a locked
//	              thread, out of the netpoller (unix.Syscall: the scheduler may hand
//	              the P to another thread while it waits)
//	+rawblock     the same through unix.RawSyscall (the P stays held: sysmon cannot
//	              sleep, and preempts the thread every 10 ms)
//	+gmp2         the workers at GOMAXPROCS=2
//
// Beside the figures, each run says what it met: the load's own CPU per
// message ("gen", the same work for every target, so a run where it jumps
// met a slowed machine), the tree's CPU busy with other processes
// ("others", this machine is shared) and the time the hypervisor took from
// it ("steal"), over the same window.
//
// e.g. -targets pair,pair+block,pair+gmp2,client,mosquitto,forkmq. Every
// repetition runs each target once, in an order rotated by repetition; the
// summary gives each figure's median and range.
//
// -scenario connect measures the floor of forkmq's connect path instead:
// -conc clients (8) at a time, each in a loop opening a TCP connection,
// sending CONNECT, reading CONNACK, sending DISCONNECT and closing. The
// target "floor" is the process shape of that path with nothing but its
// hops: a supervisor that accepts and keeps a pool (-pool, 12) of
// pre-started pairs (router and deliverer, re-executions of this program,
// GOMAXPROCS=1), and hands each accepted socket to an idle pair's router
// (SCM_RIGHTS on a SOCK_SEQPACKET socket); the router reads the CONNECT
// and claims the client, the supervisor grants the claim and hands the
// socket to the deliverer, which writes CONNACK; the router reads the
// DISCONNECT, closes its copy and tells the deliverer, which closes its
// own and tells the supervisor the pair is idle. Its socket calls are
// raw, as forkmq's control channel makes them (no word to Go's scheduler,
// which would wake the sysmon thread); "floor+sched" makes them through
// the scheduler. Beside it, the same load
// against forkmq (targets "forkmq" and "forkmq-goroutine": real MQTT, with
// -max-accept-rate 0 -max-clients 200, and for the process engine
// -queue-budget 400000 -clients-per-worker 0: a worker replaced inside the
// window would take what its threads did there with it) and
// "mosquitto"; a run in which threads of the tree ended anyway says so. It reports connections per second, the tree's CPU and
// wake-ups per connection, pinned as above:
//
//	flock /tmp/forkmq-e2e.lock bin/floor -scenario connect -targets floor,floor+sched,forkmq,forkmq-goroutine -reps 3 -warmup 1s -window 10s
//
// Build it like the workers (static, without the Green Tea collector), and
// run it under the lock every broker takes:
//
//	CGO_ENABLED=0 GOEXPERIMENT=nogreenteagc go build -o bin/floor ./scripts/floor
//	flock /tmp/forkmq-e2e.lock bin/floor -targets pair,mosquitto -reps 3
package main
