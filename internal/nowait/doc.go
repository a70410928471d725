// Package nowait makes the system calls that never wait — on non-blocking
// descriptors, or epoll_wait with a zero timeout — without telling the Go
// scheduler (unix.RawSyscall instead of unix.Syscall).
//
// Why: a worker is a Go process with GOMAXPROCS=1 that sleeps most of the
// time and wakes for one message. The first unix.Syscall after the process
// was idle wakes the runtime's sysmon thread (runtime.entersyscall:
// sched.sysmonwait), which then sleeps in 20 µs steps until the process is
// idle again: a futex wake, a nanosleep or more and two context switches of
// another thread, per wake of the worker, for calls that return at once. A
// call made here leaves sysmon asleep. Only calls that cannot block belong
// here: a raw call that blocks holds the process's only P, and no other
// goroutine runs until it returns.
//
// Each function retries on EINTR and returns the errno as a unix.Errno
// (so errors.Is(err, unix.EAGAIN) works), nil when there is none.
package nowait
