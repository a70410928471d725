package goengine

import (
	"fmt"
	"maps"
	"testing"

	"github.com/forkmq/forkmq/internal/packet"
	"github.com/forkmq/forkmq/internal/topic/topictest"
)

// The trie's own behaviour (matching, versions, concurrency) is tested in
// package topictrie; these tests check the Index the engine sees.

// TestIndexMatchTable runs the §4.7 table through the Index: every filter of
// the table subscribed under its own key, every topic matched.
func TestIndexMatchTable(t *testing.T) {
	x := NewIndex[string]()
	m := x.NewMatcher()
	topictest.CheckFilters(t, func(f string) { x.Subscribe(f, f, 0) }, func(name string) []string {
		var keys []string
		for _, s := range m.Match(name, nil) {
			keys = append(keys, s.Key)
		}
		return keys
	})
}

// TestIndexSubscriptions: Subscribe replaces a key's subscription to the
// same filter [MQTT-3.8.4-3], Unsubscribe and Remove take only that key's
// entries, a key matched twice comes once at its highest QoS
// [MQTT-3.3.5-1], and an index whose keys are all removed is empty.
func TestIndexSubscriptions(t *testing.T) {
	x := NewIndex[string]()
	m := x.NewMatcher()
	match := func(name string) map[string]packet.QoS {
		got := map[string]packet.QoS{}
		for _, s := range m.Match(name, nil) {
			if _, dup := got[s.Key]; dup {
				t.Errorf("Match(%q): %s twice [MQTT-3.3.5-1]", name, s.Key)
			}
			got[s.Key] = s.QoS
		}
		return got
	}
	if x.Subscribe("s/+/x", "a", 0) || !x.Subscribe("s/+/x", "a", 2) {
		t.Error("Subscribe does not report the replacement of the second one alone")
	}
	x.Subscribe("s/+/x", "b", 1)
	x.Subscribe("s/#", "b", 2)
	x.Subscribe("s/1/x", "b", 0)
	if got := match("s/1/x"); !maps.Equal(got, map[string]packet.QoS{"a": 2, "b": 2}) {
		t.Errorf("Match(s/1/x) = %v", got)
	}
	if x.Unsubscribe("s/+/x", "nobody") || !x.Unsubscribe("s/+/x", "a") {
		t.Error("Unsubscribe reports wrongly")
	}
	if n := x.Remove("b", "s/+/x", "s/#", "s/1/x", "never"); n != 3 {
		t.Errorf("Remove = %d, want 3", n)
	}
	if got := match("s/1/x"); len(got) != 0 {
		t.Errorf("after Remove: %v", got)
	}
	if !x.Empty() || !x.root.Load().empty() {
		t.Error("index not empty after every subscription was removed")
	}
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
