package e2e

// Helpers that start brokers with extra flags, kill their processes and
// restart them on the same state directory, and skip what an engine lacks
// or a known broker bug breaks.

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/forkmq/forkmq/internal/state"
)

// withArgs passes extra flags to the broker.
func withArgs(args ...string) brokerOption {
	return func(c *brokerConfig) { c.args = append(c.args, args...) }
}

// requireProcessEngine skips a test of what only the process engine has
// (worker processes) or the goroutine engine lacks; missing names it.
func requireProcessEngine(t testing.TB, engine, missing string) {
	t.Helper()
	if engine != "process" {
		t.Skipf("the %s engine lacks %s", engine, missing)
	}
}

// restart starts another broker on b's state directory with b's options
// (b must have stopped or been killed).
func (b *broker) restart(t testing.TB) *broker {
	t.Helper()
	cfg := b.cfg
	return startBroker(t, func(c *brokerConfig) { *c = cfg })
}

// killParent SIGKILLs the broker process alone, as a crash would, and
// requires every worker to exit on its own (the lifeline pipe) within
// leakTimeout. What the broker recorded on disk and its queues stay for the
// next broker on the state directory to sweep; the test's cleanup no longer
// stops this one.
func (b *broker) killParent(t testing.TB) {
	t.Helper()
	b.stopOnce.Do(func() {
		workers := b.workerPIDs()
		if err := syscall.Kill(b.PID, syscall.SIGKILL); err != nil {
			t.Fatalf("SIGKILL the broker: %v", err)
		}
		<-b.exited
		t.Cleanup(func() {
			// Should no broker have taken the state directory over and
			// swept it, its queues would starve the tests that follow.
			queues, _ := listQueues(b.QueuePrefix)
			for _, q := range queues {
				os.Remove(filepath.Join(mqDir, q))
			}
		})
		err := eventually(leakTimeout, func() error {
			var errs errList
			for _, pid := range workers {
				if p, ok := readProc(pid); ok && p.state != 'Z' {
					errs.add("worker %v still runs after its broker was killed", p)
				}
			}
			return errs.err()
		})
		if err != nil {
			t.Errorf("after SIGKILL of the broker: %v", err)
		}
	})
}

// clientLines returns every line with the message msg about clientID,
// oldest first.
func (b *broker) clientLines(msg, clientID string) []logEntry {
	var out []logEntry
	for _, l := range b.logLines(msg) {
		if l.str("client_id") == clientID {
			out = append(out, l)
		}
	}
	return out
}

// nthClientLine waits for the n-th (from 1) line with the message msg
// ("client connected", "client disconnected") about clientID: a client
// that connects again gets a new pair of workers and new lines.
func (b *broker) nthClientLine(t testing.TB, msg, clientID string, n int) logEntry {
	t.Helper()
	var lines []logEntry
	b.waitLog(t, ioTimeout, msg, func(logEntry) bool {
		lines = b.clientLines(msg, clientID)
		return len(lines) >= n
	})
	return lines[n-1]
}

// killWorker SIGKILLs the router or deliverer (role) that a "client
// connected" line names, after checking that the pid still is that worker.
func (b *broker) killWorker(t testing.TB, l logEntry, role string) {
	t.Helper()
	pid := l.int(role + "_pid")
	p, ok := readProc(pid)
	if !ok || p.ppid != b.PID || p.role() != role {
		t.Fatalf("pid %d of the %s of %s is not a %s of the broker: %v", pid, role, l.str("client_id"), role, p)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("SIGKILL the %s: %v", role, err)
	}
}

// mailboxMessages lists the messages the persistent session of clientID
// holds in its mailbox (spool/<session queue>/, hidden markers excluded);
// none for an engine without queues.
func (b *broker) mailboxMessages(clientID string) []string {
	if b.QueuePrefix == "" {
		return nil
	}
	l := state.Layout{Root: b.StateDir, Instance: b.Instance}
	var out []string
	for _, name := range dirNames(filepath.Join(l.Spool(), l.SessionQueue(state.HashClientID(clientID)))) {
		if !strings.HasPrefix(name, ".") {
			out = append(out, name)
		}
	}
	return out
}
