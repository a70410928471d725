// Package goengine is forkmq's goroutine engine: the control of the
// experiment. It is the same broker as the process engine (package
// supervisor and package worker) in one process, so that a benchmark of the
// two compares the architectures and nothing else.
//
// Every part of the process engine has its counterpart here:
//
//	process engine                        goroutine engine
//	supervisor: accept, admit, refuse     Engine: acceptLoop, admit, refuse
//	router process                        router goroutine (router.go)
//	deliverer process                     deliverer goroutine (deliverer.go)
//	the client's POSIX queue              the client's two bounded channels:
//	  priority 1 (replies, close)           ctrl, closed to ask for a close
//	  priority 0 (publications)             pubs
//	topic files + topicdir.Matcher        Index + Matcher (index.go)
//	spool file for a large payload        nothing: a payload is shared in memory
//	exit codes, reaping                   client.end, the first reason wins
//
// Both engines run the same protocol.Session and its Serve read loop, so
// every MQTT rule, the keep-alive, the connect timeout and the packet size
// limit are the same code. This engine never imports queue, topicdir or
// spool.
//
// # One client
//
// The engine starts the router goroutine; it starts the deliverer. The
// router reads packets, runs the session and implements protocol.Engine and
// the optional Connector, WillKeeper and Acknowledger: replies and the
// client's acknowledgements go on the client's ctrl channel, SUBSCRIBE and
// UNSUBSCRIBE edit the Index (granting the QoS asked for), PUBLISH is matched
// in the Index and one immutable message is put on each matching client's
// pubs channel at min(published, granted) QoS (waiting at most 200 ms on a
// full one, then dropping that copy and counting it). The deliverer is the
// only writer to the socket: it writes every waiting reply before each
// publication, the way the process engine's queue priorities put CONNACK
// first, owns the outbound QoS 1/2 flows (packet identifiers, the
// -max-inflight window, PUBREL), and flushes its buffer when nothing is
// waiting.
//
// A client identifier belongs to one connection: a new CONNECT with it ends
// the earlier connection and waits for its cleanup [MQTT-3.1.4-2]. A
// connection that ends without DISCONNECT has its will published after its
// cleanup [MQTT-3.1.2-8].
//
// Not mirrored yet: persistent sessions (clean session 0). The process
// engine stores a session's subscriptions and QoS 1/2 messages across
// connections; this engine treats every session as clean and answers
// CONNACK with session present 0.
//
// A DISCONNECT or a refusing CONNACK closes ctrl: the deliverer writes the
// replies before it, flushes and closes the connection (publications still
// waiting are dropped, as the process engine's close envelope overtakes
// them). Any other end calls client.end, which closes the connection and the
// stop channel at once. When both goroutines are done the client's index
// entries are removed, then the client leaves the count -max-clients
// checks, and one "client disconnected" line says why.
//
// # Locks
//
// Engine.mu guards the set of clients; Index.mu serialises index writers.
// No goroutine holds both. Readers of the index take no lock (see Index).
// The state directory is created for parity with the process engine, never
// written, and removed on exit if this engine made it.
package goengine
