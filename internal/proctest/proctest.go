package proctest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// The environment of a helper process: which helper, and its arguments as
// a JSON array (so any string survives).
const (
	envName = "FORKMQ_PROCTEST_HELPER"
	envArgs = "FORKMQ_PROCTEST_ARGS"
)

// Helpers maps a helper's name to what it runs with the arguments given to
// Command.
type Helpers map[string]func(args []string) error

// Main is a TestMain: it runs m's tests, or, in a process that Command
// started, the helper named there. A helper's error is printed to stderr
// and ends the process with status 1.
func Main(m *testing.M, helpers Helpers) {
	name, isHelper := os.LookupEnv(envName)
	if !isHelper {
		os.Exit(m.Run())
	}
	var args []string
	err := json.Unmarshal([]byte(os.Getenv(envArgs)), &args)
	if run := helpers[name]; err == nil && run == nil {
		err = fmt.Errorf("no such helper")
	} else if err == nil {
		err = run(args)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "helper %s: %v\n", name, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// Command returns a command that re-runs the test binary as the helper
// name with args. ctx kills it.
func Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	enc, err := json.Marshal(args)
	if err != nil {
		panic(err) // strings always marshal
	}
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envName+"="+name, envArgs+"="+string(enc))
	return cmd
}

// Dir returns the path of a fresh directory for the test, named name and
// not yet created, on tmpfs when /dev/shm is there. It is removed when the
// test ends.
func Dir(tb testing.TB, name string) string {
	tb.Helper()
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		if dir, err := os.MkdirTemp("/dev/shm", "forkmq-test-"); err == nil {
			tb.Cleanup(func() { os.RemoveAll(dir) })
			return filepath.Join(dir, name)
		}
	}
	return filepath.Join(tb.TempDir(), name)
}

// Open returns what open opens at path, failing the test on an error, and
// closes it when the test ends.
func Open[T io.Closer](tb testing.TB, open func(path string) (T, error), path string) T {
	tb.Helper()
	v, err := open(path)
	if err != nil {
		tb.Fatalf("open %s: %v", path, err)
	}
	tb.Cleanup(func() { v.Close() })
	return v
}
