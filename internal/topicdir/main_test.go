package topicdir

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/forkmq/forkmq/internal/proctest"
)

// The test binary doubles as helper processes (package proctest): "churn"
// and "op" below.
func TestMain(m *testing.M) {
	proctest.Main(m, proctest.Helpers{"churn": helperChurn, "op": helperOp})
}

// openHelper opens the directory at path for a helper process, with the
// change log limit it is given (0 keeps the default).
func openHelper(path string, limit int64) (*Dir, error) {
	if limit > 0 {
		logLimit = limit
	}
	return Open(path)
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

// helperChurn (args: path, id, operations, change log limit) does random
// operations on its own queues and prints the state it left as JSON.
func helperChurn(args []string) error {
	var id, ops int
	var limit int64
	if _, err := fmt.Sscan(strings.Join(args[1:], " "), &id, &ops, &limit); err != nil {
		return err
	}
	d, err := openHelper(args[0], limit)
	if err != nil {
		return err
	}
	defer d.Close()
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

// helperOp (args: path, then an operation) runs one operation: sub QUEUE
// FILTER QOS | unsub QUEUE FILTER | remove QUEUE.
func helperOp(args []string) error {
	d, err := openHelper(args[0], 0)
	if err != nil {
		return err
	}
	defer d.Close()
	args = args[1:]
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

func topicsDir(tb testing.TB) string { return proctest.Dir(tb, "topics") }

func openDir(tb testing.TB) *Dir { return proctest.Open(tb, Open, topicsDir(tb)) }

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
