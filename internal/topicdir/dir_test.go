package topicdir

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestSubscribeUnsubscribe(t *testing.T) {
	d := openDir(t)
	const q = "forkmq.1a2b3c4d.17"
	m := d.NewMatcher()
	defer m.Close()
	if got := match(t, m, "a/b"); len(got) != 0 {
		t.Fatalf("empty directory matched %v", got)
	}
	if replaced, err := d.Subscribe(q, "a/+", 1); err != nil || replaced {
		t.Fatalf("first Subscribe = %v, %v", replaced, err)
	}
	if replaced, err := d.Subscribe(q, "a/+", 2); err != nil || !replaced {
		t.Fatalf("second Subscribe = %v, %v", replaced, err)
	}
	if replaced, err := d.Subscribe(q, "a/+", 2); err != nil || !replaced {
		t.Fatalf("same QoS again = %v, %v", replaced, err)
	}
	subscribe(t, d, q, "b", 0)
	if got := match(t, m, "a/b"); !maps.Equal(got, map[string]byte{q: 2}) {
		t.Errorf("Match after replace = %v", got)
	}
	subs, err := d.Subscriptions(q)
	want := []Subscription{{"a/+", 2}, {"b", 0}}
	if err != nil || !slices.Equal(subs, want) {
		t.Errorf("Subscriptions = %v, %v; want %v", subs, err, want)
	}
	if existed, err := d.Unsubscribe(q, "a/+"); err != nil || !existed {
		t.Errorf("Unsubscribe = %v, %v", existed, err)
	}
	if existed, err := d.Unsubscribe(q, "a/+"); err != nil || existed {
		t.Errorf("second Unsubscribe = %v, %v", existed, err)
	}
	if got := match(t, m, "a/b"); len(got) != 0 {
		t.Errorf("Match after Unsubscribe = %v", got)
	}
	if names, _ := readNames(d.filters); !slices.Equal(names, []string{"f_b"}) {
		t.Errorf("filter files %q, want [f_b]", names)
	}
	if existed, err := d.Unsubscribe(q, "b"); err != nil || !existed {
		t.Errorf("Unsubscribe(b) = %v, %v", existed, err)
	}
	assertEmpty(t, d)
}

func TestInvalidArguments(t *testing.T) {
	d := openDir(t)
	for _, c := range []struct{ queue, filter string }{
		{"", "a"}, {"a/b", "a"}, {"..", "a"}, {".q", "a"}, {"a b", "a"}, {"a\nb", "a"},
		{strings.Repeat("q", 65), "a"}, {"q", ""}, {"q", strings.Repeat("a", maxFilter+1)},
	} {
		if _, err := d.Subscribe(c.queue, c.filter, 0); !errors.Is(err, ErrInvalid) {
			t.Errorf("Subscribe(%q, %.10q) = %v, want ErrInvalid", c.queue, c.filter, err)
		}
	}
	if _, err := d.Subscribe("q", "a", 3); !errors.Is(err, ErrInvalid) {
		t.Errorf("QoS 3: %v", err)
	}
}

func TestRemoveQueue(t *testing.T) {
	d := openDir(t)
	subscribe(t, d, "forkmq.00000000.1", "a/b", 1)
	subscribe(t, d, "forkmq.00000000.1", "a/#", 1)
	subscribe(t, d, "forkmq.00000000.2", "a/b", 0)
	m := d.NewMatcher()
	defer m.Close()
	match(t, m, "a/b")
	if err := d.RemoveQueue("forkmq.00000000.1"); err != nil {
		t.Fatal(err)
	}
	if err := d.RemoveQueue("forkmq.00000000.9"); err != nil {
		t.Errorf("RemoveQueue of an unknown queue: %v", err)
	}
	if got := match(t, m, "a/b"); !maps.Equal(got, map[string]byte{"forkmq.00000000.2": 0}) {
		t.Errorf("Match = %v", got)
	}
	if qs, err := d.Queues(); err != nil || !slices.Equal(qs, []string{"forkmq.00000000.2"}) {
		t.Errorf("Queues = %v, %v", qs, err)
	}
	if names, _ := readNames(d.filters); !slices.Equal(names, []string{"f_a,b"}) {
		t.Errorf("filter files %q: empty file left behind", names)
	}
	if err := d.RemoveQueue("forkmq.00000000.2"); err != nil {
		t.Fatal(err)
	}
	if got := match(t, m, "a/b"); len(got) != 0 {
		t.Errorf("Match = %v", got)
	}
	if m.Filters() != 0 {
		t.Errorf("Matcher still holds %d filters", m.Filters())
	}
	assertEmpty(t, d)
}

// TestHasRecord: a queue has a record from its first subscription to the
// removal of its last, and RemoveQueue of a queue without one does
// nothing and takes no lock (it returns while another writer holds it).
func TestHasRecord(t *testing.T) {
	d := openDir(t)
	const q = "forkmq.00000000.1"
	for _, step := range []struct {
		what string
		do   func() error
		want bool
	}{
		{"never subscribed", func() error { return nil }, false},
		{"subscribed", func() error { _, err := d.Subscribe(q, "a/b", 1); return err }, true},
		{"subscribed twice", func() error { _, err := d.Subscribe(q, "c", 0); return err }, true},
		{"one unsubscribed", func() error { _, err := d.Unsubscribe(q, "a/b"); return err }, true},
		{"both unsubscribed", func() error { _, err := d.Unsubscribe(q, "c"); return err }, false},
		{"subscribed again", func() error { _, err := d.Subscribe(q, "a/#", 2); return err }, true},
		{"removed", func() error { return d.RemoveQueue(q) }, false},
	} {
		if err := step.do(); err != nil {
			t.Fatalf("%s: %v", step.what, err)
		}
		if got := d.HasRecord(q); got != step.want {
			t.Errorf("%s: HasRecord = %v, want %v", step.what, got, step.want)
		}
	}
	if d.HasRecord("no/such queue") {
		t.Error("HasRecord of an invalid name is true")
	}
	done := make(chan error, 1)
	err := d.lock.Do(func() error {
		go func() { done <- d.RemoveQueue(q) }()
		select {
		case err := <-done:
			return err
		case <-time.After(10 * time.Second):
			return errors.New("RemoveQueue of a queue without a record waited for the writers' lock")
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	assertEmpty(t, d)
}

func TestSweep(t *testing.T) {
	d := openDir(t)
	for _, q := range []string{"forkmq.00000000.1", "forkmq.00000000.2", "forkmq.00000000.3"} {
		subscribe(t, d, q, "a/b", 1)
		subscribe(t, d, q, "c/"+q, 2)
	}
	// Queue 3 lost its record (a crash, or a hand edit).
	if err := d.queues.Remove("forkmq.00000000.3"); err != nil {
		t.Fatal(err)
	}
	// A temporary file left by a writer that died.
	if err := d.filters.WriteFile(".f_a,b123", []byte("junk"), 0o600); err != nil {
		t.Fatal(err)
	}
	if qs, _ := d.Queues(); len(qs) != 3 {
		t.Errorf("Queues before sweep = %v", qs)
	}
	m := d.NewMatcher()
	defer m.Close()
	match(t, m, "a/b")
	removed, err := d.Sweep(func(q string) bool { return q == "forkmq.00000000.2" })
	if err != nil || removed != 2 {
		t.Fatalf("Sweep = %d, %v; want 2", removed, err)
	}
	if got := match(t, m, "a/b"); !maps.Equal(got, map[string]byte{"forkmq.00000000.2": 1}) {
		t.Errorf("Match = %v", got)
	}
	if qs, _ := d.Queues(); !slices.Equal(qs, []string{"forkmq.00000000.2"}) {
		t.Errorf("Queues = %v", qs)
	}
	names, _ := readDir(d.filters)
	slices.Sort(names)
	if want := []string{"f_a,b", "f_c,forkmq.00000000.2"}; !slices.Equal(names, want) {
		t.Errorf("filter files %q, want %q", names, want)
	}
	if removed, err := d.Sweep(func(string) bool { return false }); err != nil || removed != 1 {
		t.Errorf("second Sweep = %d, %v", removed, err)
	}
	assertEmpty(t, d)
	if got := match(t, m, "a/b"); len(got) != 0 {
		t.Errorf("Match = %v", got)
	}
}

// TestEpochs makes the log compact often and checks that a Matcher made
// before keeps up, and that a dead writer's odd counter forces an epoch.
func TestEpochs(t *testing.T) {
	saved := logLimit
	logLimit = 200
	t.Cleanup(func() { logLimit = saved })
	d := openDir(t)
	m := d.NewMatcher()
	defer m.Close()
	match(t, m, "x")
	first := d.epoch.Load()
	for i := range 50 {
		q := "forkmq.00000000.1"
		subscribe(t, d, q, "t/"+string(rune('a'+i%26))+"/+", byte(i%3))
		if i%7 == 0 {
			if _, err := d.Unsubscribe(q, "t/a/+"); err != nil {
				t.Fatal(err)
			}
		}
		if got := match(t, m, "t/b/x"); len(got) != 1 && i >= 1 {
			t.Fatalf("step %d: Match = %v", i, got)
		}
	}
	if d.epoch.Load() == first {
		t.Error("the log never compacted")
	}
	// A writer that died mid-change leaves the counter odd.
	d.changes.Add(1)
	epoch := d.epoch.Load()
	subscribe(t, d, "forkmq.00000000.2", "t/b/x", 2)
	if d.epoch.Load() == epoch || d.changes.Load()&1 != 0 {
		t.Errorf("odd counter: epoch %d -> %d, counter %d", epoch, d.epoch.Load(), d.changes.Load())
	}
	if got := match(t, m, "t/b/x"); got["forkmq.00000000.2"] != 2 {
		t.Errorf("Match = %v", got)
	}
}

// assertEmpty checks that no filter file, record or queue is left.
func assertEmpty(tb testing.TB, d *Dir) {
	tb.Helper()
	for _, root := range []string{filtersName, queuesName} {
		r := d.filters
		if root == queuesName {
			r = d.queues
		}
		if names, err := readDir(r); err != nil || len(names) != 0 {
			tb.Errorf("%s/ holds %q (%v)", root, names, err)
		}
	}
	if qs, err := d.Queues(); err != nil || len(qs) != 0 {
		tb.Errorf("Queues = %v, %v", qs, err)
	}
}
