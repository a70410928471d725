// Package harness is mqbench's runner: it checks that the measurement can
// be trusted (a clean tree at a known commit, binaries built from it, a
// quiet machine), runs every case of the chosen scenarios against each
// broker — a fresh broker per run, the brokers in a new random order in
// every repetition, broker and load generator on different cores — watches
// the machine during each run, flags what makes a figure doubtful (a busy
// machine, a saturated load generator), and writes results.json, report.md
// and the plots.
//
// The pieces are sibling packages: broker (starting and stopping brokers
// from command lines), cpuacct (a broker's CPU in nanoseconds), machine
// (other processes' CPU), proctree (memory of a process tree), scenario
// (the workloads), tally (loss, order and latency accounting) and report.
package harness
