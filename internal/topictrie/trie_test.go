package topictrie

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/forkmq/forkmq/internal/packet"
	"github.com/forkmq/forkmq/internal/topic/topictest"
)

// modes are the two kinds of trie; every behaviour test runs on both.
var modes = []struct {
	name string
	make func() *Trie[string]
}{
	{"in place", New[string]},
	{"shared", NewShared[string]},
}

// matchMap runs one Match and returns key -> QoS, failing on a key twice.
func matchMap(t testing.TB, m *Matcher[string], name string) map[string]packet.QoS {
	t.Helper()
	got := map[string]packet.QoS{}
	for _, s := range m.Match(name, nil) {
		if _, dup := got[s.Key]; dup {
			t.Errorf("Match(%q): %s twice [MQTT-3.3.5-1]", name, s.Key)
		}
		got[s.Key] = s.QoS
	}
	return got
}

// TestMatchTable runs the §4.7 table: every filter of it subscribed under
// its own key, every topic of it matched.
func TestMatchTable(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			x := mode.make()
			m := x.NewMatcher()
			topictest.CheckFilters(t, func(f string) { x.Subscribe(f, f, 0) }, func(name string) []string {
				var keys []string
				for _, s := range m.Match(name, nil) {
					keys = append(keys, s.Key)
				}
				return keys
			})
		})
	}
}

// TestOnceWithMaxQoS: a key matched by several filters is returned once, at
// the highest QoS of those filters [MQTT-3.3.5-1], whether few or many keys
// match; what dst held before is kept.
func TestOnceWithMaxQoS(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			x := mode.make()
			x.Subscribe("a/+", "one", 1)
			x.Subscribe("a/b", "one", 2)
			x.Subscribe("#", "one", 0)
			x.Subscribe("a/#", "two", 0)
			x.Subscribe("+/b", "two", 1)
			m := x.NewMatcher()
			if got := matchMap(t, m, "a/b"); !maps.Equal(got, map[string]packet.QoS{"one": 2, "two": 1}) {
				t.Errorf("few: Match(a/b) = %v", got)
			}
			want := map[string]packet.QoS{"one": 2, "two": 1}
			for i := range 2 * smallDedupe { // past the pairwise scan
				k := fmt.Sprint("many", i)
				x.Subscribe("a/b", k, 0)
				x.Subscribe("a/+", k, packet.QoS(i%3))
				want[k] = packet.QoS(i % 3)
			}
			dst := m.Match("a/b", []Sub[string]{{Key: "kept"}})
			if dst[0].Key != "kept" {
				t.Errorf("Match overwrote dst[0]: %v", dst[0])
			}
			if got := matchMap(t, m, "a/b"); !maps.Equal(got, want) {
				t.Errorf("many: Match(a/b) = %v, want %v", got, want)
			}
			if got := matchMap(t, m, "a"); !maps.Equal(got, map[string]packet.QoS{"one": 0, "two": 0}) {
				t.Errorf("Match(a) = %v", got)
			}
		})
	}
}

// TestSubscribeReplaceUnsubscribe: subscribing again to the same filter
// replaces the subscription [MQTT-3.8.4-3]; unsubscribing removes only that
// key's entry of that filter [MQTT-3.10.4-1], and prunes the trie when
// nothing is left.
func TestSubscribeReplaceUnsubscribe(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			x := mode.make()
			m := x.NewMatcher()
			if x.Subscribe("s/+/x", "a", 0) {
				t.Error("first Subscribe reports a replacement")
			}
			if !x.Subscribe("s/+/x", "a", 2) {
				t.Error("second Subscribe of the same filter does not report a replacement")
			}
			x.Subscribe("s/+/x", "b", 1)
			x.Subscribe("s/#", "b", 0)
			if got := matchMap(t, m, "s/1/x"); !maps.Equal(got, map[string]packet.QoS{"a": 2, "b": 1}) {
				t.Errorf("after replace: %v", got)
			}
			if x.Unsubscribe("s/+/y", "a") || x.Unsubscribe("s/+/x", "nobody") || x.Unsubscribe("nowhere", "a") {
				t.Error("Unsubscribe of an absent subscription reports success")
			}
			if !x.Unsubscribe("s/+/x", "a") {
				t.Error("Unsubscribe of a present subscription reports failure")
			}
			if got := matchMap(t, m, "s/1/x"); !maps.Equal(got, map[string]packet.QoS{"b": 1}) {
				t.Errorf("after unsubscribe of a: %v", got)
			}
			x.Update(func(w *Writer[string]) {
				w.Unsubscribe("s/+/x", "b")
				w.Unsubscribe("s/#", "b")
			})
			if got := matchMap(t, m, "s/1/x"); len(got) != 0 {
				t.Errorf("after removing b: %v", got)
			}
			if !x.Empty() {
				t.Errorf("trie not pruned: root %+v", x.root.Load())
			}
		})
	}
}

// TestReplace: Replace sets a filter's whole list, one entry a key at its
// highest QoS, keeps its own copy, and an empty list removes the filter.
func TestReplace(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			x := mode.make()
			m := x.NewMatcher()
			subs := []Sub[string]{{"q1", 0}, {"q2", 1}, {"q1", 2}}
			x.Update(func(w *Writer[string]) { w.Replace("r/+", subs) })
			subs[1].QoS = 0 // the caller's slice is not the trie's
			if got := matchMap(t, m, "r/x"); !maps.Equal(got, map[string]packet.QoS{"q1": 2, "q2": 1}) {
				t.Errorf("after Replace: %v", got)
			}
			x.Update(func(w *Writer[string]) { w.Replace("r/+", []Sub[string]{{"q3", 1}}) })
			if got := matchMap(t, m, "r/x"); !maps.Equal(got, map[string]packet.QoS{"q3": 1}) {
				t.Errorf("after second Replace: %v", got)
			}
			x.Update(func(w *Writer[string]) {
				w.Replace("r/+", nil)
				w.Replace("never/subscribed", nil)
			})
			if !x.Empty() {
				t.Errorf("Replace with nothing left %+v", x.root.Load())
			}
		})
	}
}

// TestInPlaceDoesNotCopy: a trie made by New keeps its nodes across writes;
// a shared one publishes a new root with each.
func TestInPlaceDoesNotCopy(t *testing.T) {
	for _, mode := range modes {
		x := mode.make()
		x.Subscribe("p/q", "a", 0)
		root := x.root.Load()
		x.Subscribe("p/r", "b", 0)
		if same := x.root.Load() == root; same != (mode.name == "in place") {
			t.Errorf("%s: root kept across a write = %v", mode.name, same)
		}
	}
}

// TestNoChangeNoCopy: a write that changes nothing publishes the same root,
// even in a shared trie.
func TestNoChangeNoCopy(t *testing.T) {
	x := NewShared[string]()
	x.Subscribe("n/a", "one", 0)
	root := x.root.Load()
	x.Unsubscribe("n/a", "nobody")
	x.Unsubscribe("n/b", "one")
	x.Update(func(w *Writer[string]) { w.Replace("never", nil) })
	if x.root.Load() != root {
		t.Error("a write that changed nothing copied the root")
	}
}

// TestVersionsAreImmutable: a reader holding an old root of a shared trie
// keeps seeing the subscriptions of that version while writers change it.
func TestVersionsAreImmutable(t *testing.T) {
	x := NewShared[string]()
	x.Subscribe("v/a", "one", 0)
	x.Subscribe("v/a", "two", 0)
	old := x.root.Load()
	x.Subscribe("v/a", "three", 1)
	x.Unsubscribe("v/a", "one")
	x.Subscribe("v/+", "four", 0)
	x.Update(func(w *Writer[string]) { w.Replace("v/a", []Sub[string]{{"five", 2}}) })
	m := x.NewMatcher()
	got := m.walk(old, "v/a", true, true, nil)
	if len(got) != 2 || got[0].Key != "one" || got[1].Key != "two" {
		t.Errorf("old version now matches %v, want [one two]", got)
	}
}

// TestRandomAgainstReference: random subscribe, unsubscribe and replace
// steps over a small alphabet of levels, checked after each step against
// the table's reference matcher over every filter.
func TestRandomAgainstReference(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			levels := []string{"a", "b", "", "$s", "+", "#"}
			randFilter := func() string {
				parts := make([]string, 1+rng.IntN(4))
				for i := range parts {
					parts[i] = levels[rng.IntN(len(levels))]
					if parts[i] == "#" {
						return strings.Join(parts[:i+1], "/")
					}
				}
				return strings.Join(parts, "/")
			}
			randTopic := func() string {
				parts := make([]string, 1+rng.IntN(4))
				for i := range parts {
					parts[i] = levels[rng.IntN(4)]
				}
				return strings.Join(parts, "/")
			}
			x := mode.make()
			m := x.NewMatcher()
			ref := map[string]map[string]packet.QoS{}
			for step := range 3000 {
				f, k := randFilter(), fmt.Sprint("k", rng.IntN(5))
				switch rng.IntN(6) {
				case 0, 1:
					x.Unsubscribe(f, k)
					delete(ref[f], k)
				case 2:
					q := packet.QoS(rng.IntN(3))
					x.Update(func(w *Writer[string]) { w.Replace(f, []Sub[string]{{k, q}}) })
					ref[f] = map[string]packet.QoS{k: q}
				default:
					q := packet.QoS(rng.IntN(3))
					x.Subscribe(f, k, q)
					if ref[f] == nil {
						ref[f] = map[string]packet.QoS{}
					}
					ref[f][k] = q
				}
				name := randTopic()
				want := map[string]packet.QoS{}
				for filter, keys := range ref {
					if topictest.Reference(filter, name) {
						for k, q := range keys {
							want[k] = max(want[k], q)
						}
					}
				}
				if got := matchMap(t, m, name); !maps.Equal(got, want) {
					t.Fatalf("step %d: Match(%q) = %v, want %v", step, name, got, want)
				}
			}
		})
	}
}

// TestConcurrent runs writers and lock-free readers of a shared trie at once
// (meant for -race): a key subscribed throughout is matched by every read,
// and what the writers churn never breaks a reader.
func TestConcurrent(t *testing.T) {
	x := NewShared[string]()
	x.Subscribe("c/+/x", "steady", 1)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				k := fmt.Sprint("w", w, "-", i%7)
				f := []string{"c/+/x", "c/#", "c/1/x", "#", "+/1/+"}[i%5]
				x.Subscribe(f, k, packet.QoS(i%3))
				if i%2 == 0 {
					x.Unsubscribe(f, k)
				}
			}
		})
	}
	var readers sync.WaitGroup
	for range 4 {
		readers.Go(func() {
			m := x.NewMatcher()
			var dst []Sub[string]
			for range 2000 {
				dst = m.Match("c/1/x", dst[:0])
				seen := map[string]bool{}
				steady := false
				for _, s := range dst {
					if seen[s.Key] {
						t.Errorf("%s matched twice", s.Key)
					}
					seen[s.Key] = true
					steady = steady || (s.Key == "steady" && s.QoS == 1)
				}
				if !steady {
					t.Errorf("steady subscriber missing from %v", dst)
					return
				}
			}
		})
	}
	readers.Wait()
	close(stop)
	wg.Wait()
}

// TestMatchDoesNotAllocate: a warm Matcher with a reused dst allocates
// nothing, on the single-hit path and on both dedupe paths.
func TestMatchDoesNotAllocate(t *testing.T) {
	x := NewShared[string]()
	x.Subscribe("a/b/c", "exact", 0)
	for i := range 2 * smallDedupe {
		x.Subscribe("d/+", fmt.Sprint("k", i), 0)
		x.Subscribe("d/#", fmt.Sprint("k", i), 1)
	}
	x.Subscribe("e/+", "one", 0)
	x.Subscribe("e/#", "one", 1)
	m := x.NewMatcher()
	for _, name := range []string{"a/b/c", "d/x", "e/x"} {
		dst := m.Match(name, nil)
		if n := testing.AllocsPerRun(100, func() { dst = m.Match(name, dst[:0]) }); n != 0 {
			t.Errorf("Match(%q) allocates %v times", name, n)
		}
	}
}

// BenchmarkMatch is topictest's Match benchmark on both kinds of trie.
func BenchmarkMatch(b *testing.B) {
	for _, mode := range modes {
		b.Run(strings.ReplaceAll(mode.name, " ", "-"), func(b *testing.B) {
			topictest.Bench(b, func(b *testing.B, population []string, filter string) func() int {
				x := mode.make()
				x.Update(func(w *Writer[string]) {
					for i, f := range population {
						w.Subscribe(f, fmt.Sprint("c", i), 0)
					}
					w.Subscribe(filter, "sub", 1)
				})
				m := x.NewMatcher()
				var dst []Sub[string]
				return func() int {
					dst = m.Match(topictest.BenchTopic, dst[:0])
					return len(dst)
				}
			})
		})
	}
}
