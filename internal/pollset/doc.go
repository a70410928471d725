// Package pollset is an epoll set waited on through the Go runtime's
// netpoller: the set's own descriptor is registered with the poller like a
// socket, so a process parks until one of the set's descriptors is ready
// without blocking a thread in epoll_wait (which would keep its P and wake
// sysmon). Wait asks the set without waiting, with a raw call (package
// nowait), before it parks and after; Await asks it nothing: the caller's
// own call (a read) is the test, for a caller that needs no list of what
// is ready. The deliverer waits on its queue, socket, pair channel and
// control wake-ups through one (Wait); the router's reads of its client's
// socket wait in the same set (Await); a worker's control channel waits
// through another, watching for reading only (Await, package control).
package pollset
