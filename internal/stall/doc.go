// Package stall tells a subscriber that reads slowly from one that has
// stopped reading, the distinction the slow-consumer policy rests on.
//
// A subscriber whose backlog (the messages held for it, up to
// -max-queued-messages / -max-queued-bytes) is full slows its publishers
// down: they wait for room, as TCP would make them. That wait is bounded by
// the stall timeout: a subscriber that has made no progress for that long —
// no byte accepted by its socket, no message taken from its backlog, no
// acknowledgement settled — has stalled, and only then does the policy
// apply, to it alone: QoS 0 copies are dropped (counted and logged), a QoS
// 1/2 copy costs it its connection (its persistent session keeps the
// message). A subscriber that keeps reading, however slowly, never loses a
// message to a full backlog.
//
// Both engines use it: the deliverer records progress in a Watch and gives
// the stall verdict, right after a write its socket refused (or while its
// window waits for acknowledgements), so its own delays never count against
// the client; whoever waits for room in the backlog (a router in the
// goroutine engine) reads the verdict.
package stall
