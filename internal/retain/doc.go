// Package retain keeps forkmq's retained messages (MQTT 3.1.1 §3.3.1.3) in
// files, so that every client's router process can store them on PUBLISH
// and send them on SUBSCRIBE without a central process, and so that they
// survive a restart of the broker, however it ended.
//
// # Layout
//
// The directory (state/retained, mode 0700) holds:
//
//	lock         flock a writer holds to commit; readers never take it
//	msgs/NAME    one file per retained topic: a text header, then the payload
//	.NAME12345   a writer's temporary file (renameio), renamed into msgs/
//
// docs/FILES.md gives the file format and the lock order.
//
// # Names
//
// NAME is the topic's file name in package fsname's encoding with prefix
// "t_" (the names version 1 wrote): no topic can name a path outside msgs/
// and two topics never share a file even on a case-folding file system:
// "t_" + the topic with '/' as ',' and every byte outside [a-z0-9._-] as
// %XX, or, when that is over 200 bytes, "h_" + a prefix of it + "." + 32 hex
// digits of the topic's SHA-256. Every file stores its topic, and every name
// is the first slot of a chain (NAME, NAME=1, …) so that a hash collision
// puts the second topic in the next slot. The files are opened through
// os.Root.
//
// # Writers
//
// Set writes the whole file to a temporary name and syncs it without any
// lock, holding a flock on the temporary file itself; then it takes the
// process mutex and the flock on lock, checks that the slot it wrote for is
// still its topic's, and renames the file into place. So concurrent Sets of
// one topic never interleave: each reader opens one whole file, and the last
// to commit wins. Deleting (an empty payload) happens under the lock. Files
// never move between slots, so that readers can walk chains without a lock:
// a deleted file followed by others in its chain becomes a tombstone (a
// header saying "free", reused by the next new topic of the chain), and the
// last file of a chain is removed together with the tombstones before it.
// Open removes temporary files left by killed writers: those older than a
// minute whose flock nobody holds.
//
// # Readers
//
// Get and a Match with a wildcard-free filter walk the topic's chain
// (normally one open). A Match with wildcards lists msgs/ — one name per
// retained topic — and decides from the name alone whether a plain-named
// topic matches; a hashed name keeps enough of the topic to rule out most
// filters. It opens only the files that may match, reads their header and
// hands the callback a Message whose payload stays in the file: Message.Open
// returns a reader over it (valid until the callback returns) and its size,
// so a 256 MiB payload is streamed, not loaded. Get reads the payload whole.
package retain
