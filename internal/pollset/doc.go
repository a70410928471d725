// Package pollset is an epoll set waited on through the Go runtime's
// netpoller: the set's own descriptor is registered with the poller like a
// socket, so a process parks until one of the set's descriptors is ready
// without blocking a thread in epoll_wait (which would keep its P and wake
// sysmon). The set is asked without waiting, with a raw call (package
// nowait). The deliverer waits on its queue, socket, pair channel and
// control wake-ups through one; a worker's control channel waits through
// another, watching for reading only (package control).
package pollset
