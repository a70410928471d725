package topicdir

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/forkmq/forkmq/internal/proctest"
	"github.com/forkmq/forkmq/internal/topic/topictest"
)

func runOp(tb testing.TB, path string, args ...string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := proctest.Command(ctx, "op", append([]string{path}, args...)...).CombinedOutput()
	if err != nil {
		tb.Fatalf("helper %v: %v\n%s", args, err, out)
	}
}

// TestMatcherSeesOtherProcess changes the directory from another process
// and checks that a Matcher here follows.
func TestMatcherSeesOtherProcess(t *testing.T) {
	path := topicsDir(t)
	d := proctest.Open(t, Open, path)
	m := d.NewMatcher()
	defer m.Close()
	if got := match(t, m, "x/y"); len(got) != 0 {
		t.Fatalf("Match = %v", got)
	}
	runOp(t, path, "sub", "forkmq.00000000.1", "x/+", "1")
	if got := match(t, m, "x/y"); !maps.Equal(got, map[string]byte{"forkmq.00000000.1": 1}) {
		t.Errorf("after sub: Match = %v", got)
	}
	runOp(t, path, "sub", "forkmq.00000000.1", "x/+", "2")
	if got := match(t, m, "x/y"); !maps.Equal(got, map[string]byte{"forkmq.00000000.1": 2}) {
		t.Errorf("after QoS change: Match = %v", got)
	}
	runOp(t, path, "unsub", "forkmq.00000000.1", "x/+")
	if got := match(t, m, "x/y"); len(got) != 0 {
		t.Errorf("after unsub: Match = %v", got)
	}
	runOp(t, path, "sub", "forkmq.00000000.2", "#", "0")
	runOp(t, path, "remove", "forkmq.00000000.2")
	if got := match(t, m, "x/y"); len(got) != 0 {
		t.Errorf("after remove: Match = %v", got)
	}
}

// TestConcurrentProcesses runs many processes doing random operations on
// overlapping filters, while a Matcher here routes, then checks the files,
// the records and both an old and a fresh Matcher against what every
// process says it left.
func TestConcurrentProcesses(t *testing.T) {
	procs, ops := 16, 200
	if testing.Short() {
		procs, ops = 4, 50
	}
	path := topicsDir(t)
	d := proctest.Open(t, Open, path)
	epoch := d.epoch.Load()
	live := d.NewMatcher()
	defer live.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	want := churnState{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make(chan error, procs)
	for id := range procs {
		wg.Go(func() {
			var stdout, stderr bytes.Buffer
			cmd := proctest.Command(ctx, "churn", path, strconv.Itoa(id), strconv.Itoa(ops), "4096")
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				errs <- fmt.Errorf("process %d: %v\n%s", id, err, stderr.Bytes())
				return
			}
			var st churnState
			if err := json.Unmarshal(stdout.Bytes(), &st); err != nil {
				errs <- fmt.Errorf("process %d: %v: %q", id, err, stdout.Bytes())
				return
			}
			mu.Lock()
			maps.Copy(want, st)
			mu.Unlock()
		})
	}
	// Route while they churn, so the live Matcher follows incrementally
	// and across epochs.
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	topics := []string{"a/b", "A/B", "a", "a//b", "x/y/c", "$SYS/x", "sport/tennis/p1", strings.Repeat("long/", 80) + "x"}
	for routing := true; routing; {
		select {
		case <-done:
			routing = false
		default:
			for _, topic := range topics {
				if _, err := live.Match(topic, nil); err != nil {
					t.Errorf("Match(%q) while churning: %v", topic, err)
				}
			}
		}
	}
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}
	if d.epoch.Load() == epoch {
		t.Error("no compaction happened during the run")
	}

	// Records agree with what each process reports.
	wantQueues := []string{}
	for q, fs := range want {
		if len(fs) > 0 {
			wantQueues = append(wantQueues, q)
		}
		subs, err := d.Subscriptions(q)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]byte{}
		for _, s := range subs {
			got[s.Filter] = s.QoS
		}
		if !maps.Equal(got, fs) {
			t.Errorf("record of %s = %v, want %v", q, got, fs)
		}
	}
	slices.Sort(wantQueues)
	if qs, err := d.Queues(); err != nil || !slices.Equal(qs, wantQueues) {
		t.Errorf("Queues = %v, %v; want %v", qs, err, wantQueues)
	}

	// Filter files hold exactly the entries, none empty.
	wantFiles := map[string]map[string]byte{}
	for q, fs := range want {
		for f, qos := range fs {
			if wantFiles[f] == nil {
				wantFiles[f] = map[string]byte{}
			}
			wantFiles[f][q] = qos
		}
	}
	gotFiles := map[string]map[string]byte{}
	err := d.eachFilterFile(func(name, filter string, subs []Subscriber) error {
		if len(subs) == 0 {
			t.Errorf("empty filter file %s", name)
		}
		if _, dup := gotFiles[filter]; dup {
			t.Errorf("filter %q in two files", filter)
		}
		gotFiles[filter] = map[string]byte{}
		for _, s := range subs {
			gotFiles[filter][s.Queue] = s.QoS
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !maps.EqualFunc(gotFiles, wantFiles, maps.Equal) {
		t.Errorf("filter files = %v\nwant %v", gotFiles, wantFiles)
	}

	// Both Matchers route as the reference says.
	fresh := d.NewMatcher()
	defer fresh.Close()
	for _, topic := range append(topics, "b", "/b", "q/q/c", "long") {
		exp := map[string]byte{}
		for f, qs := range wantFiles {
			if !topictest.Reference(f, topic) {
				continue
			}
			for q, qos := range qs {
				exp[q] = max(exp[q], qos)
			}
		}
		for name, m := range map[string]*Matcher{"live": live, "fresh": fresh} {
			if got := match(t, m, topic); !maps.Equal(got, exp) {
				t.Errorf("%s Match(%.20q) = %v\nwant %v", name, topic, got, exp)
			}
		}
	}
}
