package proctest

import (
	"fmt"
	"os"
	"strings"
)

// raisedSysctls are the kernel limits a broker started as root raises
// when -max-clients needs them (supervisor/limits.go), with a log line. A
// broker run for real leaves them raised, as its operator asked; a test
// suite that starts brokers must leave the machine as it found it.
var raisedSysctls = []string{
	"/proc/sys/fs/mqueue/queues_max",
	"/proc/sys/kernel/pid_max",
	"/proc/sys/kernel/threads-max",
}

// RestoreSysctls reads those limits now and returns a function that writes
// back each whose value changed since: call it when the suite's brokers
// are gone. One that cannot be read (not Linux, a container hiding it) or
// written (not root) is left alone: the suite only undoes what its own
// brokers could do.
func RestoreSysctls() (restore func()) { return restoreFiles(raisedSysctls) }

// restoreFiles is RestoreSysctls for any files of one value each.
func restoreFiles(paths []string) (restore func()) {
	before := map[string]string{}
	for _, p := range paths {
		if b, err := os.ReadFile(p); err == nil {
			before[p] = strings.TrimSpace(string(b))
		}
	}
	return func() {
		for p, v := range before {
			b, err := os.ReadFile(p)
			if err != nil || strings.TrimSpace(string(b)) == v {
				continue
			}
			if err := os.WriteFile(p, []byte(v+"\n"), 0o644); err != nil {
				fmt.Fprintf(os.Stderr, "could not restore %s to %s: %v\n", p, v, err)
			}
		}
	}
}
