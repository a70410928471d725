package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/forkmq/forkmq/internal/proctest"
)

// defaultEngine is the engine a broker runs when FORKMQ_E2E_ENGINES is unset.
// The -engine flag is passed only for other engines, so the suite also runs
// against a broker that has a single engine and no such flag.
const defaultEngine = "process"

// Deadlines shared by the suite.
const (
	startTimeout = 10 * time.Second // until the broker logs "listening"
	stopTimeout  = 5 * time.Second  // from SIGTERM until the broker exits
	leakTimeout  = 2 * time.Second  // from clients leaving until all is released
	ioTimeout    = 5 * time.Second  // one packet, one message, one token
)

var (
	binDir   string // bin/broker and bin/worker, built once by TestMain
	buildErr error  // why they could not be built
	logDir   string // full broker logs of failed tests are kept here
)

func TestMain(m *testing.M) { os.Exit(runMain(m)) }

func runMain(m *testing.M) int {
	unlock, err := oneSuiteAtATime()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer unlock()
	defer proctest.RestoreSysctls()()
	tmp, err := os.MkdirTemp("", "forkmq-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(tmp)
	binDir = filepath.Join(tmp, "bin")
	buildErr = buildBinaries(binDir)
	logDir = os.TempDir()
	unmount := mountQueues(filepath.Join(tmp, "mqueue"))
	defer unmount()
	return m.Run()
}

// suiteLock is the machine-wide lock that one e2e suite holds while it
// runs. The suite's brokers take most of the RLIMIT_MSGQUEUE budget that
// every root process shares (the 50+50 test alone three quarters of it), so
// two suites at once, from two clones or worktrees, would fail each other.
const suiteLock = "/tmp/forkmq-e2e.lock"

func oneSuiteAtATime() (unlock func(), err error) {
	f, err := os.OpenFile(suiteLock, os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return nil, fmt.Errorf("suite lock: %w", err)
	}
	if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
		fmt.Fprintf(os.Stderr, "e2e: another e2e suite holds %s; waiting for it\n", suiteLock)
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
			f.Close()
			return nil, fmt.Errorf("suite lock: %w", err)
		}
	}
	return func() { f.Close() }, nil
}

// goTool is the go command.
func goTool() string {
	if path, err := exec.LookPath("go"); err == nil {
		return path
	}
	return "/usr/local/go/bin/go"
}

// buildBinaries builds bin/broker and bin/worker side by side into dir, as
// the Makefile does (static, the worker without the Green Tea collector):
// the broker finds its worker beside itself, and under `go test`
// os.Executable() is the test binary.
func buildBinaries(dir string) error {
	for _, name := range []string{"broker", "worker"} {
		cmd := exec.Command(goTool(), "build", "-o", filepath.Join(dir, name), "./cmd/"+name)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if name == "worker" {
			cmd.Env = append(cmd.Env, "GOEXPERIMENT=nogreenteagc")
		}
		cmd.Dir = filepath.Join("..", "..") // the module root
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build ./cmd/%s: %v\n%s", name, err, out)
		}
	}
	return nil
}

// engines lists the engines every scenario runs against.
func engines() []string {
	v := os.Getenv("FORKMQ_E2E_ENGINES")
	if v == "" {
		return []string{defaultEngine}
	}
	var out []string
	for _, e := range strings.Split(v, ",") {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return out
}

// forEachEngine runs fn as one subtest per engine, one after the other.
func forEachEngine(t *testing.T, fn func(t *testing.T, engine string)) {
	t.Helper()
	for _, engine := range engines() {
		t.Run(engine, func(t *testing.T) { fn(t, engine) })
	}
}

// eventually polls cond until it returns nil or timeout passes, and then
// returns cond's last error.
func eventually(timeout time.Duration, cond func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// mustEventually is eventually that ends the test on failure.
func mustEventually(t testing.TB, timeout time.Duration, cond func() error) {
	t.Helper()
	if err := eventually(timeout, cond); err != nil {
		t.Fatalf("after %v: %v", timeout, err)
	}
}

// msgqueueLimit is RLIMIT_MSGQUEUE here: the bytes of POSIX queue memory
// that all root processes share.
const msgqueueLimit = 819200

// brokerConfig is what startBroker's options change.
type brokerConfig struct {
	engine     string
	maxClients int
	// queueBudget is the share of msgqueueLimit the broker sizes its queues
	// from. Up to three brokers of this package run at once (two parallel
	// tests, one of them with two brokers), and other packages' tests may
	// create queues too.
	queueBudget int
	stateDir    string // default: <t.TempDir()>/state
	args        []string
	// standing is the clients the broker keeps connected itself (the
	// process engine's bridges' local connections): the leak check at the
	// end expects them.
	standing int
}

type brokerOption func(*brokerConfig)

func withEngine(engine string) brokerOption {
	return func(c *brokerConfig) { c.engine = engine }
}

func withMaxClients(n int) brokerOption {
	return func(c *brokerConfig) { c.maxClients = n }
}

func withQueueBudget(bytes int) brokerOption {
	return func(c *brokerConfig) { c.queueBudget = bytes }
}

func withStandingClients(n int) brokerOption {
	return func(c *brokerConfig) { c.standing = n }
}

func withStateDir(dir string) brokerOption {
	return func(c *brokerConfig) { c.stateDir = dir }
}

// broker is one running bin/broker.
type broker struct {
	cfg         brokerConfig
	cmd         *exec.Cmd
	log         *logBook
	exited      chan struct{} // closed once the process has been waited for
	stopOnce    sync.Once
	Addr        string // the bound address, from the "listening" line
	PID         int
	Instance    string
	QueuePrefix string
	StateDir    string
	// queueMsgSize is the process engine's queue message size (0 for the
	// goroutine engine).
	queueMsgSize int
}

// startBroker starts bin/broker on 127.0.0.1:0 with its own state directory,
// waits until it logs "listening", and registers a cleanup that asserts
// nothing leaked while it runs, stops it with SIGTERM, asserts exit status 0
// and asserts that nothing of it is left. On failure the cleanup prints the
// broker's log.
func startBroker(t testing.TB, opts ...brokerOption) *broker {
	t.Helper()
	if buildErr != nil {
		t.Fatalf("cannot build the broker: %v", buildErr)
	}
	cfg := brokerConfig{engine: defaultEngine, maxClients: 20, queueBudget: msgqueueLimit / 4}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.stateDir == "" {
		cfg.stateDir = filepath.Join(t.TempDir(), "state")
	}
	args := []string{
		"-listen", "127.0.0.1:0",
		"-state-dir", cfg.stateDir,
		"-max-clients", strconv.Itoa(cfg.maxClients),
		"-log-format", "json",
		"-log-level", "debug",
		// $SYS off: its publisher is one more worker and its topics more
		// retained messages; the tests of $SYS turn it on (a later flag wins).
		"-sys-interval", "0",
	}
	if cfg.engine == "process" {
		args = append(args, "-queue-budget", strconv.Itoa(cfg.queueBudget))
	}
	if cfg.engine != defaultEngine {
		args = append(args, "-engine", cfg.engine)
	}
	args = append(args, cfg.args...)

	b := &broker{cfg: cfg, log: &logBook{}, exited: make(chan struct{})}
	b.cmd = exec.Command(filepath.Join(binDir, "broker"), args...)
	// Relative paths the broker might wrongly create land beside the state dir,
	// where TestTopicNamesStayInStateDir looks for them.
	b.cmd.Dir = filepath.Dir(cfg.stateDir)
	b.cmd.Stdout = &lineWriter{book: b.log}
	b.cmd.Stderr = &lineWriter{book: b.log}
	// Leaked workers hold the log pipes open; do not let them block Wait.
	b.cmd.WaitDelay = time.Second
	t.Cleanup(func() { b.dumpLogOnFailure(t) })
	if err := os.MkdirAll(b.cmd.Dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := b.cmd.Start(); err != nil {
		t.Fatalf("start broker: %v", err)
	}
	b.PID = b.cmd.Process.Pid
	go func() {
		_ = b.cmd.Wait()
		close(b.exited)
	}()
	t.Cleanup(func() {
		if !b.hasExited() {
			b.assertClean(t, b.cfg.standing)
		}
		b.stop(t)
	})

	l := b.waitLog(t, startTimeout, "listening", nil)
	b.Addr = l.str("addr")
	b.Instance = l.str("instance")
	b.QueuePrefix = l.str("queue_prefix") // the process engine's only
	b.queueMsgSize = l.int("queue_msg_size")
	b.StateDir = l.str("state_dir")
	if b.Addr == "" || (b.QueuePrefix == "" && b.perClient() > 0) {
		t.Fatalf(`"listening" line lacks addr or queue_prefix: %s`, l.raw)
	}
	if pid := l.int("pid"); pid != b.PID {
		t.Errorf(`"listening" says pid %d, the broker is pid %d`, pid, b.PID)
	}
	if b.StateDir == "" {
		b.StateDir = cfg.stateDir
	}
	return b
}

func (b *broker) hasExited() bool {
	select {
	case <-b.exited:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM, asserts the broker exits 0 within stopTimeout and that
// no worker, queue or state entry of it remains. It runs once; later calls
// (such as the cleanup's) do nothing.
func (b *broker) stop(t testing.TB) {
	t.Helper()
	b.stopOnce.Do(func() {
		workers := b.workerPIDs()
		if b.hasExited() {
			t.Errorf("broker had exited (%v) before SIGTERM", b.cmd.ProcessState)
			b.assertGone(t, workers)
			return
		}
		if err := b.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Errorf("SIGTERM: %v", err)
		}
		select {
		case <-b.exited:
		case <-time.After(stopTimeout):
			t.Errorf("broker did not exit within %v of SIGTERM; killing it", stopTimeout)
			_ = b.cmd.Process.Kill()
			<-b.exited
		}
		if code := b.cmd.ProcessState.ExitCode(); code != 0 {
			t.Errorf("broker exited with %v after SIGTERM, want status 0", b.cmd.ProcessState)
		}
		b.assertGone(t, workers)
	})
}

// waitLog waits until a log line has the message msg (any message if msg is
// "") and satisfies match (nil matches all), and returns the first such line. It fails the test when the
// broker exits first or the deadline passes.
func (b *broker) waitLog(t testing.TB, timeout time.Duration, msg string, match func(logEntry) bool) logEntry {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		for _, e := range b.log.entries() {
			if (msg == "" || e.str("message") == msg) && (match == nil || match(e)) {
				return e
			}
		}
		if b.hasExited() {
			t.Fatalf("broker exited (%v) before logging %q", b.cmd.ProcessState, msg)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q log line within %v", msg, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// logLines returns every log line with the message msg.
func (b *broker) logLines(msg string) []logEntry {
	var out []logEntry
	for _, e := range b.log.entries() {
		if e.str("message") == msg {
			out = append(out, e)
		}
	}
	return out
}

// connectedLine waits for the "client connected" line of clientID.
func (b *broker) connectedLine(t testing.TB, clientID string) logEntry {
	t.Helper()
	return b.waitLog(t, ioTimeout, "client connected", func(e logEntry) bool {
		return e.str("client_id") == clientID
	})
}

// disconnectedLine waits for the "client disconnected" line of clientID.
func (b *broker) disconnectedLine(t testing.TB, clientID string) logEntry {
	t.Helper()
	return b.waitLog(t, ioTimeout, "client disconnected", func(e logEntry) bool {
		return e.str("client_id") == clientID
	})
}

// dumpLogOnFailure writes the full broker log to a file that outlives the
// test and prints its tail.
func (b *broker) dumpLogOnFailure(t testing.TB) {
	if !t.Failed() {
		return
	}
	entries := b.log.entries()
	name := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())
	path := filepath.Join(logDir, fmt.Sprintf("forkmq-e2e-%s-%d.log", name, b.PID))
	var all bytes.Buffer
	for _, e := range entries {
		all.WriteString(e.raw)
		all.WriteByte('\n')
	}
	if err := os.WriteFile(path, all.Bytes(), 0o644); err == nil {
		t.Logf("broker log (%d lines) kept in %s; its tail:", len(entries), path)
	}
	const tail, width = 60, 600
	if len(entries) > tail {
		entries = entries[len(entries)-tail:]
	}
	for _, e := range entries {
		line := e.raw
		if len(line) > width {
			line = line[:width] + fmt.Sprintf("…(%d bytes)", len(e.raw))
		}
		t.Log(line)
	}
}

// logEntry is one line of the broker's output; fields is nil when the line
// is not JSON.
type logEntry struct {
	raw    string
	fields map[string]any
}

func (e logEntry) str(key string) string {
	switch v := e.fields[key].(type) {
	case string:
		return v
	case nil:
		return ""
	default:
		return fmt.Sprint(v)
	}
}

func (e logEntry) int(key string) int {
	switch v := e.fields[key].(type) {
	case float64:
		return int(v)
	case string:
		n, _ := strconv.Atoi(v)
		return n
	}
	return 0
}

// logBook keeps every line the broker (and its workers) printed.
type logBook struct {
	mu    sync.Mutex
	lines []logEntry
}

func (l *logBook) add(line string) {
	e := logEntry{raw: line}
	var fields map[string]any
	if json.Unmarshal([]byte(line), &fields) == nil {
		e.fields = fields
	}
	l.mu.Lock()
	l.lines = append(l.lines, e)
	l.mu.Unlock()
}

func (l *logBook) entries() []logEntry {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]logEntry(nil), l.lines...)
}

// lineWriter splits what one output stream writes into lines. exec.Cmd
// writes to it from a single goroutine.
type lineWriter struct {
	book    *logBook
	partial []byte
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.partial = append(w.partial, p...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			return len(p), nil
		}
		w.book.add(string(w.partial[:i]))
		w.partial = w.partial[i+1:]
	}
}

// errList gathers the reasons a check is not met yet.
type errList []string

func (l *errList) add(format string, args ...any) { *l = append(*l, fmt.Sprintf(format, args...)) }

func (l errList) err() error {
	if len(l) == 0 {
		return nil
	}
	return errors.New(strings.Join(l, "; "))
}
