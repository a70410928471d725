// Package spool carries publications that are too large for a queue message.
//
// A router writes the publication once into a temporary file, hard-links it
// into the spool folder of every receiving queue, sends each deliverer only
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
//
// A name is <wall clock in ns, 16 hex digits>-<pid>-<seq>: unique, and
// sorting names sorts copies by the time they were written, so a persistent
// session's mailbox (see Mailbox) replays in arrival order.
package spool
