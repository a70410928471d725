package e2e

// Helpers shared by the fault, hostile-input, limits and isolation tests:
// broker flags the harness has no option for, processes as /proc shows them,
// and raw clients for goroutines (rawmqtt's calls that return errors
// instead of failing the test).

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/forkmq/forkmq/internal/rawmqtt"
)

// brokerFlags passes command-line flags to the broker after the harness's
// own; a later flag overrides an earlier one (package flag keeps the last).
func brokerFlags(flags ...string) brokerOption {
	return func(c *brokerConfig) { c.args = append(c.args, flags...) }
}

// quietLog lowers the broker's log level to info: load tests would
// otherwise log (and the harness parse) a line per packet.
var quietLog = brokerFlags("-log-level", "info")

// onProcessEngine runs fn as the subtest "process" when that engine is
// under test: the scenario is about worker processes and their queues,
// which the goroutine engine does not have.
func onProcessEngine(t *testing.T, fn func(t *testing.T)) {
	t.Helper()
	if !slices.Contains(engines(), "process") {
		t.Skip("needs the process engine (FORKMQ_E2E_ENGINES lacks it)")
	}
	t.Run("process", fn)
}

// workerPair is the router and deliverer pids of one client, from its
// "client connected" line.
type workerPair struct{ router, deliverer int }

func pairOf(l logEntry) workerPair {
	return workerPair{router: l.int("router_pid"), deliverer: l.int("deliverer_pid")}
}

// findLog is waitLog for any goroutine: it scans the lines from index from
// on and returns the first with message msg that match accepts, and the
// index after it.
func (b *broker) findLog(from int, timeout time.Duration, msg string, match func(logEntry) bool) (logEntry, int, error) {
	deadline := time.Now().Add(timeout)
	for {
		entries := b.log.entries()
		for i := from; i < len(entries); i++ {
			e := entries[i]
			if e.str("message") == msg && (match == nil || match(e)) {
				return e, i + 1, nil
			}
		}
		if time.Now().After(deadline) {
			return logEntry{}, from, fmt.Errorf("no %q log line within %v", msg, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// logLinesWithPrefix returns the lines whose message starts with prefix
// (several messages go on with advice in parentheses).
func (b *broker) logLinesWithPrefix(prefix string) []logEntry {
	var out []logEntry
	for _, e := range b.log.entries() {
		if strings.HasPrefix(e.str("message"), prefix) {
			out = append(out, e)
		}
	}
	return out
}

// waitGone waits until pid has exited (a zombie has) and returns how long
// that took.
func waitGone(pid int, timeout time.Duration) (time.Duration, error) {
	start := time.Now()
	err := eventually(timeout, func() error {
		if alive(pid) {
			return fmt.Errorf("pid %d still runs", pid)
		}
		return nil
	})
	return time.Since(start), err
}

// zombiesOf lists the children of ppid that have exited and were not
// reaped (state Z).
func zombiesOf(ppid int) []proc {
	entries, _ := os.ReadDir("/proc")
	var out []proc
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if p, ok := readProc(pid); ok && p.ppid == ppid && p.state == 'Z' {
			out = append(out, p)
		}
	}
	return out
}

// procStatus returns a field of /proc/<pid>/status, such as "VmRSS" or "Uid".
func procStatus(pid int, field string) (string, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return strings.TrimSpace(v), nil
		}
	}
	return "", fmt.Errorf("/proc/%d/status has no %s", pid, field)
}

// rssKiB is the resident set size of pid in KiB.
func rssKiB(pid int) (int, error) {
	v, err := procStatus(pid, "VmRSS")
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSuffix(v, " kB"))
}

// openFDs counts the open descriptors of pid.
func openFDs(pid int) int {
	return len(dirNames(fmt.Sprintf("/proc/%d/fd", pid)))
}

// assertNoZombies requires that the broker has no unreaped child.
func (b *broker) assertNoZombies(t testing.TB) {
	t.Helper()
	if err := eventually(leakTimeout, func() error {
		if z := zombiesOf(b.PID); len(z) > 0 {
			return fmt.Errorf("unreaped children of the broker: %v", z)
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
}

// connLeftovers says what is left of the connection served by queueName:
// its queue, client records or topic entries; nil when nothing is.
func (b *broker) connLeftovers(queueName string) error {
	var errs errList
	queues, err := listQueues(b.QueuePrefix)
	if err != nil {
		return err
	}
	if slices.Contains(queues, queueName) {
		errs.add("queue %s still exists", queueName)
	}
	if slices.Contains(b.recordedQueues(), queueName) {
		errs.add("client records of %s remain", queueName)
	}
	subscribed, err := topicQueues(b.StateDir)
	if err != nil {
		errs.add("topic entries: %v", err)
	}
	if slices.Contains(subscribed, queueName) {
		errs.add("topic entries of %s remain", queueName)
	}
	return errs.err()
}

// dialQuiet dials the broker without a test: for goroutines.
func dialQuiet(addr string) (*rawmqtt.Conn, error) {
	nc, err := net.DialTimeout("tcp", addr, ioTimeout)
	if err != nil {
		return nil, err
	}
	return rawmqtt.NewConn(nc, rawmqtt.Options{}), nil
}

// connectQuiet dials, sends connect and requires CONNACK 0: for
// goroutines.
func connectQuiet(addr string, connect []byte) (*rawmqtt.Conn, error) {
	rc, err := dialQuiet(addr)
	if err != nil {
		return nil, err
	}
	if err := rc.Handshake(connect); err != nil {
		rc.Close()
		return nil, err
	}
	return rc, nil
}

// copyWorker copies the worker binary into a fresh directory of mode 0755
// (the harness builds it in a private temporary directory) so that an
// unprivileged user can run it, and returns its path.
func copyWorker(t testing.TB) string {
	t.Helper()
	dir := publicTempDir(t, "forkmq-worker-")
	data, err := os.ReadFile(filepath.Join(binDir, "worker"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "worker")
	if err := os.WriteFile(path, data, 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// publicTempDir makes a temporary directory of mode 0755, removed when the
// test ends (t.TempDir's are private to root).
func publicTempDir(t testing.TB, prefix string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// supervisorFDs counts the supervisor's descriptors less the control
// channel it holds for each of its workers: the pool may hold more idle
// workers after a flood than before, each with its channel.
func (b *broker) supervisorFDs() int {
	return openFDs(b.PID) - len(childrenOf(b.PID))
}

// assertFDsAtMost requires the supervisor to hold at most fds descriptors
// beside its workers' channels (supervisorFDs before a flood), within
// leakTimeout.
func (b *broker) assertFDsAtMost(t testing.TB, fds int) {
	t.Helper()
	if b.perClient() == 0 {
		return // the goroutine engine holds its clients' sockets itself
	}
	mustEventually(t, leakTimeout, func() error {
		if now := b.supervisorFDs(); now > fds {
			return fmt.Errorf("the supervisor has %d open descriptors beside its workers' channels, had %d before", now, fds)
		}
		return nil
	})
}

// killPID sends SIGKILL to pid, which must exist.
func killPID(pid int) error {
	if pid <= 0 {
		return fmt.Errorf("no pid to kill (%d)", pid)
	}
	return syscall.Kill(pid, syscall.SIGKILL)
}

// killSupervisor kills the broker's supervisor with SIGKILL (the harness
// will not stop it) and waits for its workers to follow it: every one must
// be gone within 2 s of its death (the lifeline pipe reaches EOF).
func (b *broker) killSupervisor(t testing.TB, workers []int) {
	t.Helper()
	b.stopOnce.Do(func() {})
	if err := b.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-b.exited
	for _, pid := range workers {
		if _, err := waitGone(pid, 2*time.Second); err != nil {
			t.Errorf("after the supervisor's death: worker %v", err)
		}
	}
}
