// Package spool carries publications that are too large for a queue message.
//
// A copy of at most 64 KiB for a live client's queue goes into that queue's
// segment (Segments, SegmentReader): the router appends it, in whole
// pages, to the file spool/<queue>/segment and sends the deliverer its
// place; the deliverer reads it and punches it out of the file, which
// frees its memory. Two system calls on each side, no file made or
// removed per message; the segment goes with the queue's folder.
//
// A larger copy, or one for a persistent session's mailbox, travels as a
// file of its own. A router writes the publication once into a temporary
// file, hard-links it into the spool folder of every receiving queue, sends
// each deliverer only
// the link's name, and removes its temporary name. A deliverer opens its
// link, unlinks it at once (the open file keeps the bytes alive) and streams
// the payload to its socket. So each copy lives exactly as long as someone can
// still deliver it, and the supervisor removes a queue's whole spool folder
// when the client is gone: nothing is left on disk afterwards.
//
// Layout under the spool directory:
//
//	tmp/<name>       being written or linked by one router
//	<queue>/<name>   one copy waiting for that queue's deliverer
//	<queue>/segment  the queue's copies of up to 64 KiB (holes where taken)
//
// A name is <wall clock in ns, 16 hex digits>-<pid>-<seq>: unique, and
// sorting names sorts copies by the time they were written, so a persistent
// session's mailbox (see Mailbox) replays in arrival order.
package spool
