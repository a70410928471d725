// Package filelock serialises the writers of one shared directory of the
// state (topics/, retained/) across goroutines and processes at once.
//
// A Lock is a lock file plus an in-process mutex. flock(2) alone does not
// serialise the goroutines of one process: the lock belongs to the open file
// description, which they share, so every goroutine would "hold" it at once.
// The mutex orders this process's writers; the flock orders processes.
//
// Lock order: the mutex, then the flock, released in reverse. Do does not
// nest: fn must not call Do on the same Lock, and no process holds two
// Locks at once (docs/FILES.md lists every lock of the state directory).
// A flock interrupted by a signal (EINTR) is retried, so a worker's signal
// handlers never turn into a spurious lock error.
//
// TryLock is the non-blocking flock the retained store takes on its own
// temporary files, to tell a live writer's file from a dead one's.
package filelock
