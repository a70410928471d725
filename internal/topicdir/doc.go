// Package topicdir keeps forkmq's subscriptions in files, so that every
// client's router process can subscribe, unsubscribe and route PUBLISH
// packets without a central process.
//
// # Layout
//
// The directory (state/topics, mode 0700) holds:
//
//	lock       flock taken by every writer; readers never take it
//	counter    64 bytes every process mmaps: change counter (uint64 at 0),
//	           epoch of the change log (uint64 at 8)
//	changes    change log: "forkmq-changes v1 epoch N", then one filter file
//	           name a line
//	filters/   one file per filter: the filter and its subscribers
//	queues/    one record per queue: the filters it is subscribed to
//
// docs/FILES.md gives the formats and the lock order. File names of filters
// come from package fsname ("f_" + the encoded filter), so that no filter can
// reach outside filters/ and no two filters share a file, even on a
// case-insensitive file system; files are opened through os.Root. Filter
// files of format v1, whose names kept upper case, are read as they are and
// moved to their v2 names by Sweep.
//
// # Writers
//
// Subscribe, Unsubscribe, RemoveQueue and Sweep take the process mutex, then
// the flock, and replace whole files with renameio, so a reader opens
// either the old or the new file, never half of one. Before its first file
// change a writer makes the counter odd (atomic add); after its last it
// appends the names of the filter files it changed to the change log, then
// makes the counter even again. A writer that finds the counter odd when it
// gets the lock knows the previous one died mid-change; it starts a new
// epoch instead of appending. So does a writer that finds the log over
// logLimit (1 MiB) or ending in a torn line: it replaces the log with an
// empty one whose header carries the next epoch, and stores that epoch in
// the mapped file.
//
// A queue's record is written before its filter files on Subscribe and
// after them on Unsubscribe, so a record always lists every entry of its
// queue that exists; RemoveQueue works from the record. Sweep, at broker
// start, reads every file and also catches entries whose record is lost.
// No empty filter file is ever left: the last entry's removal removes it.
//
// # Readers
//
// A Matcher holds a topic trie (package topictrie, changed in place: the
// Matcher is its only user) of the filters and their subscribing queues.
// Match loads the counter (an atomic load from shared memory, no system
// call); when it equals the value the trie was built at, Match is that load
// plus a walk over the topic's levels, whose cost does not depend on how
// many unrelated filters exist. When the counter moved, the Matcher reads
// the change log from where it stopped, whole lines only, and re-reads each
// named filter file (a missing file removes its filter). When the mapped
// epoch differs from the one of the log it has open, it rebuilds the trie
// from every filter file. Because a writer logs a name only after replacing
// the file, and bumps the counter only after logging, a Matcher that has
// seen a counter value has also seen every change made before it.
//
// A Matcher is not safe for concurrent use; make one per goroutine. Dir is
// safe for concurrent use by goroutines and processes.
package topicdir
