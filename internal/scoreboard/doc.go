// Package scoreboard counts what every process of the broker does without
// slowing any of them down: a shared memory-mapped file in the state
// directory with one slot per process, after Apache httpd's scoreboard.
//
// # The file
//
//	offset 0     header, 64 bytes: magic "fmqscore", version, slot size,
//	             slot count, creation time
//	offset 64    slot 0, slot 1 …  one slot per process, 768 bytes each
//	             (12 cache lines, so that no two writers share a line)
//
// A slot holds who its process is — role, pid, client identifier (at most
// 64 bytes), remote address, queue name, state, start time — and what it
// has done: counters (messages and bytes in and out, dropped, connects…),
// gauges (subscriptions, messages in flight…) and two latency histograms
// (delivery, connect). Every field is a machine word in native byte order,
// read and written with atomic operations: counting is one atomic add to
// memory this process's CPU already owns, no system call, no lock, no
// message. Readers (whoever publishes $SYS or serves /metrics) sum the
// slots.
//
// # Who writes what
//
// The supervisor alone allocates and releases slots (Board.Allocate,
// Board.Release); it owns a slot while it sets it up or clears it. A worker
// owns the slot it was given (a Ref: index and generation) from its start
// to its exit, and writes only that slot (Writer). The goroutine engine
// uses the same board in memory (New), a slot per goroutine pair member.
//
// # Generations: a reader never mixes two owners
//
// Each slot's generation is a sequence lock: the supervisor makes it odd
// before it touches a slot and even again after, so a slot's generation
// changes whenever its owner does. A reader copies a slot between two loads
// of the generation and keeps the copy only if both are the same even
// number; otherwise it reads again. A worker's own changes to its identity
// (its client identifier after CONNECT, its state) are guarded the same way
// by a second sequence number in the slot, which only that worker writes.
//
// A slot's counters and histograms are never reset: they count the work
// of every process that has had the slot, so a total over all slots keeps
// what exited processes did, never counts anything twice, and never goes
// backwards, without any lock between readers and the supervisor. What the
// present owner did is the counters minus the slot's base, which Allocate
// sets to the counters' values when it hands the slot over. Gauges are the
// owner's state and are cleared when it leaves.
//
// # A writer that dies mid-update
//
// A counter cannot be torn: each is one word, changed by one atomic add
// that happened or did not. Two counters changed together (a message and
// its bytes) may be seen one without the other for an instant; totals are
// exact once the writer is done. A worker killed inside an identity change
// leaves its identity sequence odd: readers report the slot's identity as
// unstable (Slot.Unstable) and go on counting its counters, until the
// supervisor, having reaped the worker, releases the slot. A supervisor
// killed inside Allocate or Release leaves the slot's generation odd for
// good: readers stop listing that slot after a bounded number of tries and
// still count its counters in the totals; the next broker creates the file
// anew.
//
// Every process maps the whole file, so a worker could scribble on another
// slot: the scoreboard is for watching the broker, and nothing the broker
// decides depends on it.
package scoreboard
