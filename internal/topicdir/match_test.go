package topicdir

import (
	"fmt"
	"maps"
	"testing"

	"github.com/forkmq/forkmq/internal/topic/topictest"
)

// TestMatchTable runs the §4.7 table through the files: every filter of the
// table subscribed by its own queue, every topic matched by a Matcher built
// before the subscriptions (following the change log) and by one built
// after them (reading every file).
func TestMatchTable(t *testing.T) {
	d := openDir(t)
	live := d.NewMatcher()
	defer live.Close()
	match(t, live, "x") // built before the changes, to follow them incrementally

	filterOf := map[string]string{} // queue -> filter
	add := func(f string) {
		q := fmt.Sprintf("forkmq.00000000.%d", len(filterOf))
		filterOf[q] = f
		subscribe(t, d, q, f, 1)
	}
	matchWith := func(m *Matcher) func(string) []string {
		return func(topic string) []string {
			var filters []string
			for q := range match(t, m, topic) {
				filters = append(filters, filterOf[q])
			}
			return filters
		}
	}
	topictest.CheckFilters(t, add, matchWith(live))
	fresh := d.NewMatcher()
	defer fresh.Close()
	for _, topic := range topictest.Topics() {
		if got, want := match(t, fresh, topic), match(t, live, topic); !maps.Equal(got, want) {
			t.Errorf("fresh Matcher: Match(%q) = %v, live one %v", topic, got, want)
		}
	}
}

// TestMatchMaxQoS checks that a queue matched by several filters is
// delivered once, at the highest QoS [MQTT-3.3.5-1].
func TestMatchMaxQoS(t *testing.T) {
	d := openDir(t)
	subscribe(t, d, "forkmq.00000000.1", "a/+", 1)
	subscribe(t, d, "forkmq.00000000.1", "a/b", 2)
	subscribe(t, d, "forkmq.00000000.1", "#", 0)
	subscribe(t, d, "forkmq.00000000.2", "a/#", 0)
	subscribe(t, d, "forkmq.00000000.2", "+/b", 1)
	// More than the small-set path handles, to cover the map path too.
	for i := range 20 {
		subscribe(t, d, fmt.Sprintf("forkmq.00000001.%d", i), "a/b", 0)
		subscribe(t, d, fmt.Sprintf("forkmq.00000001.%d", i), "a/+", byte(i%3))
	}
	m := d.NewMatcher()
	defer m.Close()
	want := map[string]byte{"forkmq.00000000.1": 2, "forkmq.00000000.2": 1}
	for i := range 20 {
		want[fmt.Sprintf("forkmq.00000001.%d", i)] = byte(i % 3)
	}
	dst := []Subscriber{{Queue: "kept", QoS: 0}}
	dst, err := m.Match("a/b", dst)
	if err != nil {
		t.Fatal(err)
	}
	if dst[0].Queue != "kept" {
		t.Errorf("Match overwrote dst[0]: %v", dst[0])
	}
	got := map[string]byte{}
	for _, s := range dst[1:] {
		if _, dup := got[s.Queue]; dup {
			t.Errorf("%s twice", s.Queue)
		}
		got[s.Queue] = s.QoS
	}
	if !maps.Equal(got, want) {
		t.Errorf("Match(a/b) = %v, want %v", got, want)
	}
	if got := match(t, m, "a"); !maps.Equal(got, map[string]byte{"forkmq.00000000.1": 0, "forkmq.00000000.2": 0}) {
		t.Errorf("Match(a) = %v", got)
	}
}
