// Command broker is forkmq's MQTT 3.1.1 broker: a parent process that
// listens and serves every client with two worker processes of its own,
// connected by a POSIX message queue (see docs/ARCHITECTURE.md). With
// -engine goroutine it runs the same broker in one process instead, a
// goroutine pair and channels per client (package goengine), as the control
// of the comparison.
package main
