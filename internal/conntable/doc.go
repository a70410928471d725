// Package conntable keeps the supervisor's record of the connections it
// serves, the one a broker started after a crash reads to find the queues
// its killed predecessor's connections may have made (queues outlive
// every process; topic entries and spool folders are found by listing).
//
// The record is one file, state/conns, mapped into the supervisor's
// memory: a 16-byte header (FileMagic) and then slots of one
// native-endian uint64 each, the sequence number of a connection
// (its queue forkmq.<instance>.<seq>) or 0 for a free slot. Recording a
// connection is a store into the mapping and forgetting it a store of 0:
// no system call, no file made or removed per connection, and no blocking
// call that wakes the Go runtime's sysmon. A connection is recorded
// before it is handed to its workers (its router makes its queue), and
// forgotten once its queue is unlinked.
//
// Why this survives what it must: the mapping is MAP_SHARED, so every
// store is in the kernel's page cache at once, and a supervisor killed by
// SIGKILL or the OOM killer leaves the file as it was at its last store.
// The file is never synced: a machine that stops loses its POSIX queues
// too, so a record lost with the page cache names nothing left to remove.
// An aligned 8-byte store is never seen torn.
//
// Only the supervisor writes the file (broker.lock makes it the only
// one), so the table needs no lock; Read may run in another process (a
// test) while it does, and sees each slot old or new.
//
// Layout:
//
//	offset 0   "forkmq-conns v1\n"
//	offset 16  slot 0: uint64 sequence number, 0 = free
//	offset 24  slot 1 …
//
// The file grows by doubling when every slot is taken (ftruncate and a
// new mapping; the old one is unmapped); it starts at one page.
package conntable
