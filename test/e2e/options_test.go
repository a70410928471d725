package e2e

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestOptionsRefused: an option the chosen engine does not have, or a value
// out of range, stops the broker before it listens, with exit status 2 and
// a line naming the option — never silently ignored.
func TestOptionsRefused(t *testing.T) {
	t.Parallel()
	if buildErr != nil {
		t.Fatalf("cannot build the broker: %v", buildErr)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"a process-only option on the goroutine engine", []string{"-engine", "goroutine", "-queue-budget", "100000"}, "-queue-budget: only the process engine has it"},
		{"the worker binary on the goroutine engine", []string{"-engine", "goroutine", "-worker", "/bin/true"}, "-worker: only the process engine has it"},
		{"an unknown engine", []string{"-engine", "threads"}, `-engine "threads"`},
		{"a window of none", []string{"-max-inflight", "0"}, "-max-inflight 0"},
		{"an unknown flag", []string{"-max-fun", "3"}, "flag provided but not defined: -max-fun"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"-listen", "127.0.0.1:0", "-state-dir", filepath.Join(t.TempDir(), "state")}, tt.args...)
			out, err := exec.Command(filepath.Join(binDir, "broker"), args...).CombinedOutput()
			ee, ok := err.(*exec.ExitError)
			if !ok || ee.ExitCode() != 2 {
				t.Fatalf("broker %q: %v, want exit status 2\n%s", tt.args, err, out)
			}
			if !strings.Contains(string(out), tt.want) {
				t.Errorf("broker %q said %q, want it to name %q", tt.args, out, tt.want)
			}
		})
	}
}
