package retain

import (
	"strings"
	"testing"

	"github.com/forkmq/forkmq/internal/topic"
)

func TestNames(t *testing.T) {
	tests := []struct {
		topic, name string
	}{
		{"sport/tennis/player1", "t_sport,tennis,player1"},
		{"Sport", "t_%53port"},
		{"$SYS/x", "t_%24%53%59%53,x"},
		{"..", "t_.."},
		{"/", "t_,"},
		{"a=1", "t_a%3D1"},
		{"é", "t_%C3%A9"},
		{"%41", "t_%2541"},
	}
	for _, tc := range tests {
		if got := baseName(tc.topic); got != tc.name {
			t.Errorf("baseName(%q) = %q, want %q", tc.topic, got, tc.name)
		}
		if got, exact, ok := nameTopic(tc.name); got != tc.topic || !exact || !ok {
			t.Errorf("nameTopic(%q) = %q, %v, %v", tc.name, got, exact, ok)
		}
	}
}

// TestLongNames checks the switch to hashed names at the length limit,
// including an escape that would straddle it: such a topic must be hashed,
// not cut.
func TestLongNames(t *testing.T) {
	fits := strings.Repeat("a", maxBaseName-len(plainPrefix))
	for _, topic := range []string{
		fits, fits + "b", fits[1:] + "B", fits[2:] + "B", fits[3:] + "B",
		strings.Repeat("Z", 65535), "$" + strings.Repeat("x/", 200),
	} {
		name := baseName(topic)
		if len(name) > maxBaseName {
			t.Errorf("baseName of %d bytes is %d bytes", len(topic), len(name))
		}
		got, exact, ok := nameTopic(name)
		switch {
		case !ok:
			t.Errorf("nameTopic(%q) says nothing", name)
		case exact && got != topic:
			t.Errorf("plain name %q decodes to another topic", name)
		case !exact && (!strings.HasPrefix(topic, got) || !strings.HasPrefix(name, hashPrefix)):
			t.Errorf("hashed name %q: %q is not a prefix of the topic", name, got)
		}
	}
}

func TestParseName(t *testing.T) {
	tests := []struct {
		name string
		want slot
	}{
		{"t_a", slot{"t_a", 0}},
		{"h_a.00=1", slot{"h_a.00", 1}},
		{"h_a.00=1023", slot{"h_a.00", 1023}},
		{"h_a.00=1024", slot{"h_a.00=1024", 0}},
		{"h_a.00=0", slot{"h_a.00=0", 0}},
		{"h_a.00=x", slot{"h_a.00=x", 0}},
	}
	for _, tc := range tests {
		if got := parseName(tc.name); got != tc.want {
			t.Errorf("parseName(%q) = %v, want %v", tc.name, got, tc.want)
		}
	}
	for _, name := range []string{"t_%4", "t_%zz", "t_A", "x_a", "h_nodot", "t_a=1"} {
		if _, _, ok := nameTopic(name); ok {
			t.Errorf("nameTopic(%q) claims to know the topic", name)
		}
	}
}

func TestMayMatch(t *testing.T) {
	tests := []struct {
		filter, prefix string
		want           bool
	}{
		{"a/#", "", true},
		{"a/#", "a", true},
		{"a/#", "ab", false},
		{"a/#", "b/", false},
		{"a/b", "a/b/", false},
		{"a/+/c", "a/xyz", true},
		{"a/+/c", "a/xyz/d", false},
		{"a/+/c", "a/xyz/c", true},
		{"+/x", "$SYS", false},    // MQTT-4.7.2-1
		{"#", "$", false},         // MQTT-4.7.2-1
		{"$SYS/#", "$SYS/", true}, // MQTT-4.7.2-1
		{"+", "a/", false},
	}
	for _, tc := range tests {
		if got := mayMatch(tc.filter, tc.prefix); got != tc.want {
			t.Errorf("mayMatch(%q, %q) = %v, want %v", tc.filter, tc.prefix, got, tc.want)
		}
	}
	// Whatever matches must pass mayMatch with every prefix of its topic.
	filters := []string{"#", "+", "a/#", "+/+", "/+", "a/+/c", "$SYS/#", "+/b/#", "a/b", "a", "+/+/+/#"}
	for _, name := range append(matchTopics, "a/b/c/d", "a/x/c", "/a/b") {
		for _, f := range filters {
			if !topic.Match(f, name) {
				continue
			}
			for i := range len(name) + 1 {
				if !mayMatch(f, name[:i]) {
					t.Errorf("mayMatch(%q, %q) = false, but %q matches", f, name[:i], name)
				}
			}
		}
	}
}
