package topic_test

import (
	"strings"
	"testing"

	"github.com/forkmq/forkmq/internal/topic"
	"github.com/forkmq/forkmq/internal/topic/topictest"
)

// TestMatch runs the §4.7 table, then every filter of the table against
// every topic of it.
func TestMatch(t *testing.T) {
	for _, c := range topictest.Cases() {
		if got := topic.Match(c.Filter, c.Topic); got != c.Match {
			t.Errorf("Match(%q, %q) = %v, want %v [%s]", c.Filter, c.Topic, got, c.Match, c.Spec)
		}
	}
	var filters []string
	topictest.CheckFilters(t, func(f string) { filters = append(filters, f) }, func(name string) []string {
		var out []string
		for _, f := range filters {
			if topic.Match(f, name) {
				out = append(out, f)
			}
		}
		return out
	})
}

// TestMatchInvalidFilter: Match assumes a valid filter, but one with '#'
// before its last level still matches nothing by accident of that '#'.
func TestMatchInvalidFilter(t *testing.T) {
	if topic.Match("a/#/b", "a/x/b") {
		t.Error(`Match("a/#/b", "a/x/b") = true`)
	}
}

func TestMatchDoesNotAllocate(t *testing.T) {
	n := testing.AllocsPerRun(100, func() { topic.Match("a/+/c/#", "a/b/c/d/e") })
	if n != 0 {
		t.Errorf("Match allocates %v times", n)
	}
}

// TestMayMatchPrefix: rows where the answer is known, then the property the
// retained store relies on: whatever matches passes with every prefix of its
// topic, cut at any byte.
func TestMayMatchPrefix(t *testing.T) {
	for _, r := range []struct {
		filter, prefix string
		may            bool // whether some topic starting with prefix can match
		spec           string
	}{
		{filter: "a/#", prefix: "", may: true},
		{filter: "a/#", prefix: "a", may: true, spec: "MQTT-4.7.1-2"},
		{filter: "a/#", prefix: "ab", spec: "MQTT-4.7.1-2"},
		{filter: "a/#", prefix: "b/"},
		{filter: "a/b", prefix: "a/b/"},
		{filter: "a/+/c", prefix: "a/xyz", may: true, spec: "MQTT-4.7.1-3"},
		{filter: "a/+/c", prefix: "a/xyz/d", spec: "MQTT-4.7.1-3"},
		{filter: "a/+/c", prefix: "a/xyz/c", may: true, spec: "MQTT-4.7.1-3"},
		{filter: "+", prefix: "a/", spec: "MQTT-4.7.1-3"},
		{filter: "+/x", prefix: "$SYS", spec: "MQTT-4.7.2-1"},
		{filter: "#", prefix: "$", spec: "MQTT-4.7.2-1"},
		{filter: "$SYS/#", prefix: "$SYS/", may: true, spec: "MQTT-4.7.2-1"},
	} {
		if got := topic.MayMatchPrefix(r.filter, r.prefix); got != r.may {
			t.Errorf("MayMatchPrefix(%q, %q) = %v, want %v [%s]", r.filter, r.prefix, got, r.may, r.spec)
		}
	}
	for _, c := range topictest.Cases() {
		if !c.Match {
			continue
		}
		for i := range len(c.Topic) + 1 {
			if !topic.MayMatchPrefix(c.Filter, c.Topic[:i]) {
				t.Errorf("MayMatchPrefix(%q, %q) = false, but %q matches [%s]", c.Filter, c.Topic[:i], c.Topic, c.Spec)
			}
		}
	}
}

// refFilterOK is a naive filter validator over split levels.
func refFilterOK(filter string) bool {
	if topic.CheckString(filter) != nil {
		return false
	}
	levels := strings.Split(filter, "/")
	for i, level := range levels {
		switch {
		case level == "+":
		case level == "#":
			if i != len(levels)-1 {
				return false
			}
		case strings.ContainsAny(level, "+#"):
			return false
		}
	}
	return true
}

func FuzzTopic(f *testing.F) {
	for _, s := range [][2]string{
		{"a/#", "a"}, {"+/+", "/"}, {"#", "$SYS/a"}, {"a/+/c", "a//c"},
		{"$SYS/#", "$SYS"}, {"a/#/b", "a/b"}, {"+a", "\xff"}, {"", ""},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, filter, name string) {
		nameErr := topic.ValidateName(name)
		filterErr := topic.ValidateFilter(filter)
		if want := refFilterOK(filter); (filterErr == nil) != want {
			t.Fatalf("ValidateFilter(%q) = %v, reference says valid=%v", filter, filterErr, want)
		}
		got := topic.Match(filter, name)
		if nameErr != nil || filterErr != nil {
			return
		}
		if want := topictest.Reference(filter, name); got != want {
			t.Fatalf("Match(%q, %q) = %v, reference says %v", filter, name, got, want)
		}
		for i := range len(name) + 1 {
			if got && !topic.MayMatchPrefix(filter, name[:i]) {
				t.Fatalf("MayMatchPrefix(%q, %q) = false, but %q matches", filter, name[:i], name)
			}
		}
		// Every valid name is a valid filter that matches exactly itself.
		if err := topic.ValidateFilter(name); err != nil {
			t.Fatalf("valid name %q is not a valid filter: %v", name, err)
		}
		if !topic.Match(name, name) {
			t.Fatalf("name %q does not match itself", name)
		}
		if !topic.HiddenFromWildcards(name) && !topic.Match("#", name) {
			t.Fatalf("# does not match %q", name)
		}
	})
}

func BenchmarkMatch(b *testing.B) {
	for b.Loop() {
		topic.Match("sensors/+/temperature/#", "sensors/kitchen/temperature/celsius")
	}
}
