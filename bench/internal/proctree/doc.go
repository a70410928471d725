// Package proctree measures a process and all its descendants from /proc:
// the CPU time the whole tree has used, including children that already
// exited and were reaped, and the tree's resident (RSS) and proportional
// (PSS) memory.
//
// CPU accounting: /proc/<pid>/stat gives each process's own utime and stime
// (all its threads, live or gone) and cutime and cstime, the times of the
// children it has waited for. Summing all four over the live processes of the
// tree counts every process that ever belonged to it exactly once: a live one
// by its own times, a reaped one inside its parent's cutime/cstime. (A child
// the tree has not waited for yet is a zombie and still live here.)
package proctree
