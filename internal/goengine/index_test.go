package goengine

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/forkmq/forkmq/internal/packet"
	"github.com/forkmq/forkmq/internal/topic"
	"github.com/forkmq/forkmq/internal/topic/topictest"
)

// matchCases are the topic matching rules of MQTT 3.1.1 section 4.7.
var matchCases = []struct {
	filter, topic string
	want          bool
	spec          string
}{
	{"sport/tennis/player1/#", "sport/tennis/player1", true, "MQTT-4.7.1-2 parent level"},
	{"sport/tennis/player1/#", "sport/tennis/player1/ranking", true, "MQTT-4.7.1-2"},
	{"sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true, "MQTT-4.7.1-2"},
	{"sport/#", "sport", true, "MQTT-4.7.1-2 parent level"},
	{"sport/#", "sport/", true, "MQTT-4.7.1-2"},
	{"sport/#", "sports", false, "MQTT-4.7.1-2"},
	{"#", "sport/tennis", true, "MQTT-4.7.1-2"},
	{"#", "/", true, "MQTT-4.7.1-2"},
	{"sport/tennis/+", "sport/tennis/player1", true, "MQTT-4.7.1-3"},
	{"sport/tennis/+", "sport/tennis/player1/ranking", false, "MQTT-4.7.1-3"},
	{"sport/tennis/+", "sport/tennis", false, "MQTT-4.7.1-3"},
	{"sport/+", "sport", false, "MQTT-4.7.1-3"},
	{"sport/+", "sport/", true, "MQTT-4.7.1-3 empty level"},
	{"+/+", "/finance", true, "MQTT-4.7.1-3"},
	{"/+", "/finance", true, "MQTT-4.7.1-3"},
	{"+", "/finance", false, "MQTT-4.7.1-3"},
	{"+", "finance", true, "MQTT-4.7.1-3"},
	{"+/tennis/#", "sport/tennis/player1", true, "MQTT-4.7.1-3"},
	{"+/tennis/#", "sport/tennis", true, "MQTT-4.7.1-2"},
	{"#", "$SYS/monitor/Clients", false, "MQTT-4.7.2-1"},
	{"#", "$SYS", false, "MQTT-4.7.2-1"},
	{"+/monitor/Clients", "$SYS/monitor/Clients", false, "MQTT-4.7.2-1"},
	{"$SYS/#", "$SYS/monitor/Clients", true, "MQTT-4.7.2-1"},
	{"$SYS/#", "$SYS", true, "MQTT-4.7.2-1"},
	{"$SYS/monitor/+", "$SYS/monitor/Clients", true, "MQTT-4.7.2-1"},
	{"a/+/#", "a/$b/c", true, "MQTT-4.7.2-1 only the first level"},
	{"ACCOUNTS", "Accounts", false, "MQTT-4.7.3 case sensitive"},
	{"Accounts", "Accounts", true, "MQTT-4.7.3"},
	{"a//b", "a//b", true, "MQTT-4.7.3 empty levels"},
	{"a//b", "a/b", false, "MQTT-4.7.3 empty levels"},
	{"a/+/b", "a//b", true, "MQTT-4.7.3 empty levels"},
	{"+/+", "/", true, "MQTT-4.7.3 empty levels"},
	{"/", "/", true, "MQTT-4.7.3"},
	{"a/b/c", "a/b/c", true, "MQTT-4.7.3"},
	{"a/b/c", "a/b", false, "MQTT-4.7.3"},
	{"a/b", "a/b/c", false, "MQTT-4.7.3"},
	{"a/ b", "a/b", false, "MQTT-4.7.3 spaces are significant"},
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

func TestIndexMatchSemantics(t *testing.T) {
	x := NewIndex[string]()
	key := func(i int) string { return fmt.Sprint("c", i) }
	for i, tc := range matchCases {
		x.Subscribe(tc.filter, key(i), 0)
	}
	m := x.NewMatcher()
	for i, tc := range matchCases {
		if topic.Match(tc.filter, tc.topic) != tc.want {
			t.Fatalf("table row %d disagrees with topic.Match", i)
		}
		_, got := matchMap(t, m, tc.topic)[key(i)]
		if got != tc.want {
			t.Errorf("[%s] filter %q topic %q: match = %v, want %v", tc.spec, tc.filter, tc.topic, got, tc.want)
		}
	}
}

// TestIndexOnceWithMaxQoS: a client matched by several filters is delivered
// once, at the highest QoS of those filters [MQTT-3.3.5-1].
func TestIndexOnceWithMaxQoS(t *testing.T) {
	x := NewIndex[string]()
	x.Subscribe("a/+", "one", 1)
	x.Subscribe("a/b", "one", 2)
	x.Subscribe("#", "one", 0)
	x.Subscribe("a/#", "two", 0)
	x.Subscribe("+/b", "two", 1)
	want := map[string]packet.QoS{"one": 2, "two": 1}
	for i := range 20 { // more clients than fit a small linear scan
		x.Subscribe("a/b", fmt.Sprint("many", i), 0)
		x.Subscribe("a/+", fmt.Sprint("many", i), packet.QoS(i%3))
		want[fmt.Sprint("many", i)] = packet.QoS(i % 3)
	}
	m := x.NewMatcher()
	dst := m.Match("a/b", []Sub[string]{{Key: "kept"}})
	if dst[0].Key != "kept" {
		t.Errorf("Match overwrote dst[0]: %v", dst[0])
	}
	if got := matchMap(t, m, "a/b"); !maps.Equal(got, want) {
		t.Errorf("Match(a/b) = %v, want %v", got, want)
	}
	if got := matchMap(t, m, "a"); !maps.Equal(got, map[string]packet.QoS{"one": 0, "two": 0}) {
		t.Errorf("Match(a) = %v", got)
	}
}

// TestIndexSubscribeReplaceUnsubscribe: subscribing again to the same filter
// replaces the subscription [MQTT-3.8.4-3]; unsubscribing removes only that
// client's entry of that filter, and prunes the trie when nothing is left.
func TestIndexSubscribeReplaceUnsubscribe(t *testing.T) {
	x := NewIndex[string]()
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
	if n := x.Remove("b", "s/+/x", "s/#", "never"); n != 2 {
		t.Errorf("Remove = %d, want 2", n)
	}
	if got := matchMap(t, m, "s/1/x"); len(got) != 0 {
		t.Errorf("after Remove: %v", got)
	}
	if root := x.root.Load(); !root.empty() {
		t.Errorf("trie not pruned: root %+v", root)
	}
}

// TestIndexVersionsAreImmutable: a reader holding an old root keeps seeing
// the subscriptions of that version while writers change the index.
func TestIndexVersionsAreImmutable(t *testing.T) {
	x := NewIndex[string]()
	x.Subscribe("v/a", "one", 0)
	x.Subscribe("v/a", "two", 0)
	old := x.root.Load()
	x.Subscribe("v/a", "three", 1)
	x.Unsubscribe("v/a", "one")
	x.Subscribe("v/+", "four", 0)
	var hits int
	got := walk(old, "v/a", true, true, nil, &hits)
	if len(got) != 2 || got[0].Key != "one" || got[1].Key != "two" {
		t.Errorf("old version now matches %v, want [one two]", got)
	}
}

// refMatch is the index's answer computed the slow way, with topic.Match.
func refMatch(subs map[string]map[string]packet.QoS, name string) map[string]packet.QoS {
	out := map[string]packet.QoS{}
	for filter, keys := range subs {
		if !topic.Match(filter, name) {
			continue
		}
		for k, q := range keys {
			if old, ok := out[k]; !ok || q > old {
				out[k] = q
			}
		}
	}
	return out
}

// TestIndexRandomAgainstReference: random subscribe and unsubscribe steps
// over a small alphabet of levels, checked after each step against
// topic.Match over every filter.
func TestIndexRandomAgainstReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	levels := []string{"a", "b", "", "$s", "+", "#"}
	randFilter := func() string {
		n := 1 + rng.IntN(4)
		parts := make([]string, n)
		for i := range parts {
			parts[i] = levels[rng.IntN(len(levels))]
			if parts[i] == "#" {
				return strings.Join(parts[:i+1], "/")
			}
		}
		return strings.Join(parts, "/")
	}
	randTopic := func() string {
		n := 1 + rng.IntN(4)
		parts := make([]string, n)
		for i := range parts {
			parts[i] = levels[rng.IntN(4)]
		}
		return strings.Join(parts, "/")
	}
	x := NewIndex[string]()
	m := x.NewMatcher()
	ref := map[string]map[string]packet.QoS{}
	for step := range 3000 {
		f, k := randFilter(), fmt.Sprint("k", rng.IntN(5))
		if rng.IntN(3) == 0 {
			x.Unsubscribe(f, k)
			delete(ref[f], k)
		} else {
			q := packet.QoS(rng.IntN(3))
			x.Subscribe(f, k, q)
			if ref[f] == nil {
				ref[f] = map[string]packet.QoS{}
			}
			ref[f][k] = q
		}
		name := randTopic()
		if got, want := matchMap(t, m, name), refMatch(ref, name); !maps.Equal(got, want) {
			t.Fatalf("step %d: Match(%q) = %v, want %v", step, name, got, want)
		}
	}
}

// TestIndexConcurrent runs writers and lock-free readers at once (meant for
// -race): a client subscribed throughout is matched by every read, and what
// the writers churn never breaks a reader.
func TestIndexConcurrent(t *testing.T) {
	x := NewIndex[string]()
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

// BenchmarkIndexMatch routes topictest.BenchTopic to one subscriber whose
// filter is exact, has '+' or has '#', among 100 and 10,000 unrelated
// filters (the same benchmark as the trie's and topicdir's).
func BenchmarkIndexMatch(b *testing.B) {
	for _, n := range []int{100, 10_000} {
		for _, bf := range topictest.BenchFilters() {
			b.Run(fmt.Sprintf("filters=%d/%s", n, bf.Kind), func(b *testing.B) {
				x := NewIndex[string]()
				for i, f := range topictest.Population(n) {
					x.Subscribe(f, fmt.Sprint("c", i), 0)
				}
				x.Subscribe(bf.Filter, "sub", 1)
				m := x.NewMatcher()
				dst := m.Match(topictest.BenchTopic, nil)
				if len(dst) != 1 || dst[0].Key != "sub" {
					b.Fatalf("matched %v", dst)
				}
				b.ReportAllocs()
				for b.Loop() {
					dst = m.Match(topictest.BenchTopic, dst[:0])
				}
			})
		}
	}
}
