package worker

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
	"testing"
)

// signalsChildEnv makes the test binary, re-run by TestIgnoreTerminalSignals,
// play a worker's start: ignore the terminal signals, then send itself
// each signal named in the test.
const signalsChildEnv = "FORKMQ_TEST_SIGNALS_CHILD"

// TestIgnoreTerminalSignals checks, in a child process, that a worker
// survives SIGHUP and SIGINT (the terminal's, or a stray kill) and that
// SIGTERM still ends it as a signal does, with no handler of os/signal.
func TestIgnoreTerminalSignals(t *testing.T) {
	if os.Getenv(signalsChildEnv) != "" {
		return // the child's work is in init; see signalsChild
	}
	cases := []struct {
		signal   syscall.Signal
		survives bool
	}{
		{syscall.SIGHUP, true},
		{syscall.SIGINT, true},
		{syscall.SIGTERM, false},
	}
	for _, c := range cases {
		t.Run(c.signal.String(), func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), signalsChildEnv+"="+c.signal.String())
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			switch {
			case c.survives && err != nil:
				t.Fatalf("child ended with %v after %s, want exit 0; output:\n%s", err, c.signal, out)
			case !c.survives && !errors.As(err, &exit):
				t.Fatalf("child ended with %v after %s, want killed by it; output:\n%s", err, c.signal, out)
			case !c.survives:
				if ws := exit.Sys().(syscall.WaitStatus); !ws.Signaled() || ws.Signal() != c.signal {
					t.Fatalf("child ended with %v, want killed by %s", ws, c.signal)
				}
			}
		})
	}
}

// signalsChild is the child of TestIgnoreTerminalSignals. kill(2) to
// oneself delivers (or, when ignored, discards) the signal before it
// returns, so surviving the call means the signal was ignored.
func init() {
	name := os.Getenv(signalsChildEnv)
	if name == "" {
		return
	}
	if err := ignoreTerminalSignals(); err != nil {
		println("ignoreTerminalSignals:", err.Error())
		os.Exit(3)
	}
	for _, sig := range []syscall.Signal{syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM} {
		if sig.String() == name {
			if err := syscall.Kill(os.Getpid(), sig); err != nil {
				println("kill:", err.Error())
				os.Exit(3)
			}
		}
	}
	os.Exit(0)
}
