// Package proctitle sets what `ps` and `top` show for this process: its
// command line, as /proc/<pid>/cmdline reads it, and its command name
// (comm). A worker shows its role, its client identifier and its client's
// address there ("forkmq: router client-7 127.0.0.1:50442"), or "forkmq:
// idle" while it waits in the pool.
//
// Go has no setproctitle. The kernel reads a process's command line from
// the memory its arguments were given in, and Go's os.Args strings point
// into that memory, so Take claims it and Set rewrites it in place, like
// setproctitle(3) does (the whole title lives within the space the original
// arguments took). The command name is the main thread's comm, set through
// /proc/self/comm (prctl(PR_SET_NAME) would name only the calling thread,
// which in Go need not be the main one).
package proctitle
