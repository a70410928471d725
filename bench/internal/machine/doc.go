// Package machine tells whether the machine is quiet enough to measure on:
// the CPU time that processes other than the benchmark's used between two
// readings of /proc/stat, the time the hypervisor stole, and the load
// average. A benchmark taken while a test suite runs beside it measures the
// test suite too; this package is how mqbench notices, warns and refuses.
package machine
