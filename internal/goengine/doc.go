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
//	the pair channel (replies, close)     ctrl, closed to ask for a close
//	the client's POSIX queue              pubs
//	deliverer's backlog                   pubs itself, bounded by the publisher (offer)
//	topic files + topicdir.Matcher        Index + Matcher (index.go)
//	spool file for a large payload        nothing: a payload is shared in memory
//	retained store (package retain)       the same store, same directory (retained.go)
//	session queue + mailbox folder        session: mailbox, flows, bell (session.go)
//	exit codes, reaping                   client.end, the first reason wins
//
// Both engines run the same protocol.Connection and its Serve read loop, so
// every MQTT rule, the keep-alive, the connect timeout and the packet size
// limit are the same code. This engine never imports queue, topicdir or
// spool.
//
// # One client
//
// The engine starts the router goroutine; it starts the deliverer. The
// router reads packets, runs the session and implements protocol.Engine and
// every optional interface (Connector, Acknowledger, Retainer, WillKeeper,
// InboundStore): replies and the client's acknowledgements go on the
// client's ctrl channel, SUBSCRIBE and UNSUBSCRIBE edit the Index (granting
// the QoS asked for), PUBLISH is matched in the Index and one immutable
// message is routed to each matching subscriber at min(published, granted)
// QoS. The deliverer is the only writer to the socket: it writes every
// waiting reply before each publication, the way the process engine's queue
// priorities put CONNACK first, owns the outbound QoS 1/2 flows (packet
// identifiers, the -max-inflight window, PUBREL), and flushes its buffer
// when nothing is waiting.
//
// The PUBACK, PUBREC or PUBCOMP answering the client's publication waits
// until the router has read all the client sent, then goes with the others
// of that burst as one ctrl item (router.hold): a publisher whose router
// waits on back-pressure after each PUBLISH costs one write a burst, not
// one a PUBACK.
//
// # Slow consumers
//
// pubs is the client's backlog: the channel holds -max-queued-messages
// publications, and the publisher checks -max-queued-bytes of topic and
// payload before it sends (router.offer; an empty backlog takes any one
// message). A full backlog makes the publisher wait — back-pressure, as
// TCP would apply it — as long as the subscriber makes progress. Only once
// the deliverer has found its client stalled (package stall: nothing
// written, taken or acknowledged for -stall-timeout) does the slow-consumer
// policy apply, to that client alone: a QoS 0 copy is dropped and counted,
// a QoS 1/2 copy ends it, with the process engine's log lines and reason.
//
// # Retained messages
//
// Retained messages are in package retain's store in <state-dir>/retained,
// the process engine's own, so they survive a restart (and either engine
// reads the other's). A new subscription gets the matching ones after
// SUBACK with RETAIN 1 at min(stored, granted) QoS, routed to the client as
// any copy is; forwarded copies have RETAIN 0; an empty payload deletes.
//
// # Sessions
//
// The Index holds sessions, not connections. A clean session lives as long
// as its connection. A persistent one (clean session 0) is kept by the
// engine under its client identifier: its subscriptions stay in the Index
// while it is offline, and every QoS 1/2 copy for it goes to its mailbox
// (at most -session-max-messages and -session-max-bytes while offline; the
// process engine's log line when one is dropped), online or not, from which
// the connection's deliverer takes as its window allows. A reconnect gets
// session present 1; its deliverer then resends the flows left unsettled
// with DUP 1 and the same packet identifiers (PUBREL past PUBREC)
// [MQTT-4.4.0-1], then the stored messages. The QoS 2 identifiers received
// and not released are kept too [MQTT-4.3.3-2]. QoS 0 copies for an
// offline session are dropped. Clean session 1 discards a stored session
// [MQTT-3.1.2-6].
//
// Unlike the process engine's, persistent sessions live in memory only:
// they do not survive a restart of the engine.
//
// A client identifier belongs to one connection: a new CONNECT with it ends
// the earlier connection and waits for its cleanup [MQTT-3.1.4-2]. A
// connection that ends without DISCONNECT has its will published after its
// cleanup [MQTT-3.1.2-8].
//
// A DISCONNECT or a refusing CONNACK closes ctrl: the deliverer writes the
// replies before it, flushes and closes the connection (publications still
// waiting are dropped, as the process engine's close envelope overtakes
// them). Any other end calls client.end, which closes the connection and the
// stop channel at once. When both goroutines are done a clean session's
// index entries are removed (a persistent one goes offline), the will is
// published, then the client leaves the count -max-clients checks, and one
// "client disconnected" line says why.
//
// # Listeners and bridges
//
// The engine serves every listener of options.Endpoints (package
// listener): plain TCP, TLS, WebSocket, each optionally behind the PROXY
// protocol. A TLS or WebSocket session is terminated in-process onto a
// socketpair (listener.Terminate), so the router and deliverer always have
// a plain socket; a client's remote address is the PROXY header's when
// there is one, and a TLS client's certificate name its user name under
// use_identity_as_username. Each bridge of the file (package bridge) is a
// session in the index that is no client and a router of its own
// (bridges.go).
//
// # Locks
//
// Engine.mu guards the sets of clients and sessions; Index.mu serialises
// index writers; session.mu guards one session's mailbox and filters; the
// retained store takes its own locks. No goroutine holds two of them.
// Readers of the index take no lock (see Index). The state directory holds
// only retained/; a directory this engine made is removed on exit if
// nothing is retained.
package goengine
