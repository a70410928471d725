// Package core is everything that is MQTT in a forkmq broker, written once
// for both engines. An engine supplies only its transport — how messages
// move — behind the small interfaces declared here; everything else (which
// subscriber gets which copy at which QoS, the outbound QoS 1/2 flows, the
// order of what a client is sent, back-pressure and the slow-consumer
// policy, retained messages after SUBACK, wills, the claim of a client
// identifier) is this package's, so that any difference a benchmark shows
// between the engines is the transport's by construction.
//
// One client is served by two roles, in two processes (process engine) or
// two goroutines (goroutine engine):
//
//   - Router reads nothing itself: the engine runs the client's inbound
//     protocol.Connection, whose engine the Router is. It routes each
//     PUBLISH to the matching subscriptions (Index) — to other clients
//     through an Outlet, to its own client through its Own channel — and
//     sends its client's replies through Own too.
//   - Deliverer is the state of the socket's only writer: it takes Items
//     from the Own channel (replies first) and publications from the
//     client's inbox, keeps the outbound QoS 1/2 window, and encodes what is
//     to be written into an Output, which the engine writes. Its backlog is
//     bounded; the engine stops taking from the inbox when it is full
//     (back-pressure), until the client has stalled (package stall).
//
// The interfaces, and who implements them:
//
//	            process engine                      goroutine engine
//	Index       topic files (package topicdir)      an in-memory trie
//	Outlet      POSIX queues, spool, mailboxes      channels, session mailboxes
//	Own         the pair channel (a socket pair)    a channel of Items
//	Sessions    client-id locks, session files      maps in memory
//	Mailbox     a persistent session's spool folder a list in memory
package core
