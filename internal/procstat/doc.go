// Package procstat reads what Linux's /proc says of a process: CPU time
// and memory. The broker's observers use it ($SYS heap/current, the live
// view, /metrics); nothing the broker decides depends on it.
package procstat
