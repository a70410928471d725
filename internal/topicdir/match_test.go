package topicdir

import (
	"fmt"
	"maps"
	"testing"
)

// matchCases are the topic matching rules of MQTT 3.1.1 section 4.7.
var matchCases = []struct {
	filter, topic string
	want          bool
	spec          string
}{
	{"sport/tennis/player1/#", "sport/tennis/player1", true, "MQTT-4.7.1-2"},
	{"sport/tennis/player1/#", "sport/tennis/player1/ranking", true, "MQTT-4.7.1-2"},
	{"sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true, "MQTT-4.7.1-2"},
	{"sport/#", "sport", true, "MQTT-4.7.1-2"},
	{"sport/#", "sports", false, "MQTT-4.7.1-2"},
	{"#", "sport/tennis", true, "MQTT-4.7.1-2"},
	{"#", "/", true, "MQTT-4.7.1-2"},
	{"sport/tennis/+", "sport/tennis/player1", true, "MQTT-4.7.1-3"},
	{"sport/tennis/+", "sport/tennis/player1/ranking", false, "MQTT-4.7.1-3"},
	{"sport/tennis/+", "sport/tennis", false, "MQTT-4.7.1-3"},
	{"sport/+", "sport", false, "MQTT-4.7.1-3"},
	{"sport/+", "sport/", true, "MQTT-4.7.1-3"},
	{"+/+", "/finance", true, "MQTT-4.7.1-3"},
	{"/+", "/finance", true, "MQTT-4.7.1-3"},
	{"+", "/finance", false, "MQTT-4.7.1-3"},
	{"+", "finance", true, "MQTT-4.7.1-3"},
	{"+/tennis/#", "sport/tennis/player1", true, "MQTT-4.7.1-3"},
	{"+/tennis/#", "sport/tennis", true, "MQTT-4.7.1-2"},
	{"#", "$SYS/monitor/Clients", false, "MQTT-4.7.2-1"},
	{"+/monitor/Clients", "$SYS/monitor/Clients", false, "MQTT-4.7.2-1"},
	{"$SYS/#", "$SYS/monitor/Clients", true, "MQTT-4.7.2-1"},
	{"$SYS/monitor/+", "$SYS/monitor/Clients", true, "MQTT-4.7.2-1"},
	{"a/+/#", "a/$b/c", true, "MQTT-4.7.2-1 (only the first level)"},
	{"ACCOUNTS", "Accounts", false, "4.7.3 case sensitive"},
	{"Accounts", "Accounts", true, "4.7.3"},
	{"a//b", "a//b", true, "4.7.3 empty levels"},
	{"a//b", "a/b", false, "4.7.3 empty levels"},
	{"a/+/b", "a//b", true, "4.7.3 empty levels"},
	{"+/+", "/", true, "4.7.3 empty levels"},
	{"/", "/", true, "4.7.3"},
	{"a/b/c", "a/b/c", true, "4.7.3"},
	{"a/b/c", "a/b", false, "4.7.3"},
	{"a/b", "a/b/c", false, "4.7.3"},
	{"a/ b", "a/b", false, "4.7.3 spaces are significant"},
}

func TestMatchSemantics(t *testing.T) {
	d := openDir(t)
	queue := func(i int) string { return fmt.Sprintf("forkmq.00000000.%d", i) }
	for i, tc := range matchCases {
		subscribe(t, d, queue(i), tc.filter, 1)
	}
	m := d.NewMatcher()
	defer m.Close()
	for i, tc := range matchCases {
		_, got := match(t, m, tc.topic)[queue(i)]
		if got != tc.want {
			t.Errorf("[%s] filter %q topic %q: match = %v, want %v", tc.spec, tc.filter, tc.topic, got, tc.want)
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

// refMatch is a plain reference implementation of the rules above, used to
// check the Matcher on random states.
func refMatch(filter, topic string) bool {
	if len(topic) > 0 && topic[0] == '$' && len(filter) > 0 && (filter[0] == '+' || filter[0] == '#') {
		return false
	}
	fl, tl := splitLevels(filter), splitLevels(topic)
	for i, f := range fl {
		switch {
		case f == "#":
			return true
		case i >= len(tl):
			return false
		case f != "+" && f != tl[i]:
			return false
		}
	}
	return len(fl) == len(tl)
}

func splitLevels(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '/' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

func TestRefMatchAgreesWithTable(t *testing.T) {
	for _, tc := range matchCases {
		if got := refMatch(tc.filter, tc.topic); got != tc.want {
			t.Errorf("refMatch(%q, %q) = %v, want %v", tc.filter, tc.topic, got, tc.want)
		}
	}
}
