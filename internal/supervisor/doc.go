// Package supervisor is the broker's parent process and the arbiter of its
// workers' lives, after OpenSSH's privileged monitor and Apache's prefork.
//
// It opens every listener (package listener) and terminates their TLS and
// WebSocket sessions itself, one process for every session as Postfix's
// tlsproxy(8): each client, whatever its listener, reaches the pair as a
// socket (listeners.go).
//
// It keeps a pool of idle worker processes (package worker) started ahead
// of demand, each with a control channel (package control) to it. For
// every accepted client it records the connection, makes the pair
// channel, and hands two idle workers of the pool the client's descriptors
// over their control channels (control.Hand): one becomes the client's
// router at once, the other its deliverer once the router's claim of a
// client identifier is answered (so that it finds CONNACK waiting), or
// goes back to the pool unhanded if the router ends first with nothing to
// write (its router makes the client's queue). It decides who
// serves a client identifier (control.Claim: an older connection is taken
// over, cleaned up and its will published before the claim is granted),
// keeps each client's will until the client ends, publishes it with another
// pool worker, removes the client's queue, topic entries and spool once
// both workers have dropped the client, and puts the workers back in the
// pool — or stops them after -clients-per-worker clients. The pool refills
// at prefork's ramp (1, 2, 4 … -pool-spawn-rate pairs a second) while it is
// short, starts a pair at once for a client waiting for one, and shrinks
// one pair a second above -pool-max-spare, or to nothing once no client
// has come for -pool-linger.
//
// The supervisor never parses MQTT and never reads a socket or a queue; a
// stuck client can never stall it, and no worker signals or inspects
// another. One loop acts on everything — accepted connections, control
// messages, reaped workers (SIGCHLD), finished cleanups, timers and
// signals — so no state is shared between goroutines (the accept loop, the
// control readers and the timers only send events to it). Every control
// message is checked against the table of package control: a message a
// worker may not send in its state ends that worker, with a log line.
package supervisor
