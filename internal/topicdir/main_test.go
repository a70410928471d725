package topicdir

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
)

// The test binary doubles as a helper process: TestMain runs the mode named
// in TOPICDIR_HELPER instead of the tests.
const (
	envHelper   = "TOPICDIR_HELPER"
	envPath     = "TOPICDIR_PATH"
	envID       = "TOPICDIR_ID"
	envOps      = "TOPICDIR_OPS"
	envLogLimit = "TOPICDIR_LOGLIMIT"
	envArgs     = "TOPICDIR_ARGS"
)

func TestMain(m *testing.M) {
	mode := os.Getenv(envHelper)
	if mode == "" {
		os.Exit(m.Run())
	}
	if err := runHelper(mode); err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func runHelper(mode string) error {
	if v := os.Getenv(envLogLimit); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return err
		}
		logLimit = n
	}
	d, err := Open(os.Getenv(envPath))
	if err != nil {
		return err
	}
	defer d.Close()
	switch mode {
	case "churn":
		return helperChurn(d)
	case "op":
		return helperOp(d, strings.Fields(os.Getenv(envArgs)))
	}
	return fmt.Errorf("unknown mode %q", mode)
}

// churnFilters overlap between processes, so they edit the same files.
var churnFilters = []string{
	"a/b", "a/+", "a/#", "#", "+/b", "a//b", "A/B", "$SYS/x", "+/+/c",
	"sport/tennis/+", strings.Repeat("long/", 80) + "#",
}

// churnQueues are the queues process id owns.
func churnQueues(id int) []string {
	return []string{
		fmt.Sprintf("forkmq.test%02d.0", id),
		fmt.Sprintf("forkmq.test%02d.1", id),
		fmt.Sprintf("forkmq.test%02d.2", id),
	}
}

// churnState is what a churn process reports it left subscribed:
// queue -> filter -> QoS.
type churnState map[string]map[string]byte

// helperChurn does random operations on its own queues and prints the
// state it left as JSON.
func helperChurn(d *Dir) error {
	id, err := strconv.Atoi(os.Getenv(envID))
	if err != nil {
		return err
	}
	ops, err := strconv.Atoi(os.Getenv(envOps))
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(uint64(id), 42))
	queues := churnQueues(id)
	state := churnState{}
	for _, q := range queues {
		state[q] = map[string]byte{}
	}
	for range ops {
		q := queues[rng.IntN(len(queues))]
		f := churnFilters[rng.IntN(len(churnFilters))]
		switch r := rng.IntN(100); {
		case r < 60:
			qos := byte(rng.IntN(3))
			replaced, err := d.Subscribe(q, f, qos)
			if err != nil {
				return err
			}
			if _, had := state[q][f]; had != replaced {
				return fmt.Errorf("Subscribe(%s, %s) replaced = %v, want %v", q, f, replaced, had)
			}
			state[q][f] = qos
		case r < 95:
			existed, err := d.Unsubscribe(q, f)
			if err != nil {
				return err
			}
			if _, had := state[q][f]; had != existed {
				return fmt.Errorf("Unsubscribe(%s, %s) existed = %v, want %v", q, f, existed, had)
			}
			delete(state[q], f)
		default:
			if err := d.RemoveQueue(q); err != nil {
				return err
			}
			clear(state[q])
		}
	}
	return json.NewEncoder(os.Stdout).Encode(state)
}

// helperOp runs one operation: sub QUEUE FILTER QOS | unsub QUEUE FILTER |
// remove QUEUE.
func helperOp(d *Dir, args []string) error {
	switch {
	case len(args) == 4 && args[0] == "sub":
		qos, err := strconv.Atoi(args[3])
		if err != nil {
			return err
		}
		_, err = d.Subscribe(args[1], args[2], byte(qos))
		return err
	case len(args) == 3 && args[0] == "unsub":
		_, err := d.Unsubscribe(args[1], args[2])
		return err
	case len(args) == 2 && args[0] == "remove":
		return d.RemoveQueue(args[1])
	}
	return fmt.Errorf("bad op %q", args)
}

// topicsDir returns a fresh directory for a test, on tmpfs when there is
// one (renameio's fsync is free there).
func topicsDir(tb testing.TB) string {
	tb.Helper()
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		dir, err := os.MkdirTemp("/dev/shm", "topicdir-test-")
		if err == nil {
			tb.Cleanup(func() { os.RemoveAll(dir) })
			return dir + "/topics"
		}
	}
	return tb.TempDir() + "/topics"
}

func openDir(tb testing.TB) *Dir {
	tb.Helper()
	return openAt(tb, topicsDir(tb))
}

func openAt(tb testing.TB, path string) *Dir {
	tb.Helper()
	d, err := Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { d.Close() })
	return d
}

func subscribe(tb testing.TB, d *Dir, queue, filter string, qos byte) {
	tb.Helper()
	if _, err := d.Subscribe(queue, filter, qos); err != nil {
		tb.Fatalf("Subscribe(%q, %q): %v", queue, filter, err)
	}
}

func match(tb testing.TB, m *Matcher, topic string) map[string]byte {
	tb.Helper()
	subs, err := m.Match(topic, nil)
	if err != nil {
		tb.Fatalf("Match(%q): %v", topic, err)
	}
	got := map[string]byte{}
	for _, s := range subs {
		if _, dup := got[s.Queue]; dup {
			tb.Fatalf("Match(%q): %s twice in %v", topic, s.Queue, subs)
		}
		got[s.Queue] = s.QoS
	}
	return got
}
