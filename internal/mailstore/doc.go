// Package mailstore is the on-disk form of a persistent session's mailbox:
// one file per QoS 1/2 message routed to the session (an entry), and one
// journal recording how far each entry's flow got.
//
// An entry is written once, under its final name, by the router that
// routes the message, and never changed: a 12-byte header (magic, the
// envelope's length, its CRC-32C) and the envelope. A router killed while
// writing leaves an entry whose header or length does not check, which a
// reader skips (Read says ErrTorn); nobody rings for it, as the doorbell
// goes only after the write. A file that does not start as an entry does
// (ErrForeign) is skipped too, and never deleted as torn: an older
// broker's mailbox file, which the deliverer converts to an entry when it
// opens the session (package worker, convertOlder), or a file of neither
// format, left alone. A second persistent subscriber of the same
// message gets a hard link to the first one's entry (Link), not a second
// write.
//
// The journal (Journal, the file ".journal" in the folder) is the
// deliverer's: one record appended with one write(2) when an entry is sent
// under a packet identifier, and one when PUBREC comes back for it (QoS 2).
// Settling an entry removes its file and writes nothing: an entry whose
// file is gone is settled whatever the journal says. So per message the
// deliverer makes one append and one unlink, where it renamed the entry
// twice and unlinked it before. On a new connection Recover replays the
// journal — a torn last record, from a deliverer killed mid-write, ends the
// replay — and Rewrite compacts it to the flows still under way: written to
// ".journal.new", then renamed over the journal, so an interrupted
// compaction leaves the old journal whole. The journal is compacted the
// same way whenever it outgrows its limit.
//
// What is on disk survives the broker's processes being killed at any
// moment (the kernel's page cache outlives them); like the rest of the
// state directory it is not fsynced, so it does not survive the machine
// losing power.
//
// Names start with the wall clock in nanoseconds as 16 hex digits (Name):
// sorting them sorts entries by the time they were routed. Names starting
// with "." are not entries.
package mailstore
