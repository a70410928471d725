package goengine

import (
	"slices"
	"strings"
	"testing"

	"github.com/forkmq/forkmq/internal/topic/topictest"
)

// The trie's own behaviour (matching, versions, concurrency) is tested in
// package topictrie; these tests check the Index as the engine uses it,
// keyed by pointers as it is by *session.

type subscriber struct{ name string }

// TestIndexMatchTable runs the §4.7 table through the Index: every filter of
// the table subscribed by a subscriber of its own, every topic matched.
func TestIndexMatchTable(t *testing.T) {
	x := NewIndex[*subscriber]()
	m := x.NewMatcher()
	var dst []Sub[*subscriber]
	add := func(filter string) { x.Subscribe(filter, &subscriber{filter}, 0) }
	topictest.CheckFilters(t, add, func(name string) (filters []string) {
		dst = m.Match(name, dst[:0])
		for _, s := range dst {
			filters = append(filters, s.Key.name)
		}
		return filters
	})
}

// TestIndexSubscriptions: Subscribe replaces a subscriber's subscription to
// the same filter [MQTT-3.8.4-3], Unsubscribe and Remove take only that
// subscriber's entries, one matched twice comes once at its highest QoS
// [MQTT-3.3.5-1], and an index whose subscribers all left is empty.
func TestIndexSubscriptions(t *testing.T) {
	a, b := &subscriber{"a"}, &subscriber{"b"}
	x := NewIndex[*subscriber]()
	m := x.NewMatcher()
	if x.Subscribe("s/+/x", a, 0) || !x.Subscribe("s/+/x", a, 2) {
		t.Error("Subscribe does not report the replacement of the second one alone")
	}
	x.Subscribe("s/+/x", b, 1)
	x.Subscribe("s/#", b, 2)
	x.Subscribe("s/1/x", b, 0)
	got := m.Match("s/1/x", nil)
	slices.SortFunc(got, func(p, q Sub[*subscriber]) int { return strings.Compare(p.Key.name, q.Key.name) })
	if want := []Sub[*subscriber]{{Key: a, QoS: 2}, {Key: b, QoS: 2}}; !slices.Equal(got, want) {
		t.Errorf("Match(s/1/x) = %v, want %v", got, want)
	}
	if x.Unsubscribe("s/+/x", &subscriber{"a"}) || !x.Unsubscribe("s/+/x", a) {
		t.Error("Unsubscribe reports wrongly (keys are pointers, not names)")
	}
	if n := x.Remove(b, "s/+/x", "s/#", "s/1/x", "never"); n != 3 {
		t.Errorf("Remove = %d, want 3", n)
	}
	if got := m.Match("s/1/x", nil); len(got) != 0 {
		t.Errorf("after Remove: %v", got)
	}
	if !x.Empty() {
		t.Error("index not empty after every subscription was removed")
	}
}
