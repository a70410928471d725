// Package cpuacct measures the CPU time of a group of processes in
// nanoseconds, through a cgroup of the cgroup v1 cpuacct hierarchy.
//
// /proc/<pid>/stat counts CPU time in clock ticks of 10 ms, so a one-second
// sample of a broker using 1 % of a core is one tick or none: noise. A
// cgroup's cpuacct.usage is the scheduler's own runtime of every task that
// ever ran in the group, in nanoseconds, including processes that already
// exited; and a process started inside the group keeps its children there.
// The benchmark starts each broker inside a fresh group (the shell that
// execs it joins first), so the broker's whole tree is measured to the
// nanosecond from its first instruction.
//
// The hierarchy needs root and a mounted cpuacct controller; where either is
// missing, Open fails and the caller falls back to /proc ticks.
package cpuacct
