package topic

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateName(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want error
		spec string
	}{
		{"simple", "a/b/c", nil, ""},
		{"single level", "a", nil, ""},
		{"leading slash", "/a", nil, "MQTT-4.7.1"},
		{"trailing slash", "a/", nil, "MQTT-4.7.1"},
		{"only slash", "/", nil, "MQTT-4.7.1"},
		{"empty levels", "a//b", nil, "MQTT-4.7.1"},
		{"dollar", "$SYS/broker", nil, "MQTT-4.7.2"},
		{"space", "a b/c", nil, "MQTT-4.7.3"},
		{"non-ASCII", "héllo/wörld/日本", nil, "MQTT-1.5.3"},
		{"max length", strings.Repeat("a", MaxLen), nil, "MQTT-1.5.3"},
		{"empty", "", ErrEmpty, "MQTT-4.7.3-1"},
		{"plus", "a/+/c", ErrWildcardInName, "MQTT-3.3.2-2"},
		{"hash", "a/#", ErrWildcardInName, "MQTT-3.3.2-2"},
		{"plus inside level", "a+b", ErrWildcardInName, "MQTT-3.3.2-2"},
		{"NUL", "a\x00b", ErrInvalidUTF8, "MQTT-1.5.3-2"},
		{"bad UTF-8", "a\xffb", ErrInvalidUTF8, "MQTT-1.5.3-1"},
		{"surrogate", "a\xed\xa0\x80", ErrInvalidUTF8, "MQTT-1.5.3-1"},
		{"overlong", "\xc0\xaf", ErrInvalidUTF8, "MQTT-1.5.3-1"},
		{"too long", strings.Repeat("a", MaxLen+1), ErrTooLong, "MQTT-1.5.3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := ValidateName(tt.in); !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Errorf("ValidateName(%q) = %v, want %v [%s]", short(tt.in), err, tt.want, tt.spec)
			}
		})
	}
}

func TestValidateFilter(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want error
		spec string
	}{
		{"literal", "a/b/c", nil, ""},
		{"hash alone", "#", nil, "MQTT-4.7.1-2"},
		{"plus alone", "+", nil, "MQTT-4.7.1-3"},
		{"hash last", "a/b/#", nil, "MQTT-4.7.1-2"},
		{"plus middle", "a/+/c", nil, "MQTT-4.7.1-3"},
		{"plus and hash", "+/+/#", nil, "MQTT-4.7.1-3"},
		{"plus empty levels", "/+/", nil, "MQTT-4.7.1-3"},
		{"only slash", "/", nil, "MQTT-4.7.1"},
		{"hash after slash", "/#", nil, "MQTT-4.7.1-2"},
		{"dollar", "$SYS/#", nil, "MQTT-4.7.2"},
		{"empty", "", ErrEmpty, "MQTT-4.7.3-1"},
		{"hash not last", "a/#/c", ErrBadWildcard, "MQTT-4.7.1-2"},
		{"hash then slash", "#/", ErrBadWildcard, "MQTT-4.7.1-2"},
		{"hash with text", "a/b#", ErrBadWildcard, "MQTT-4.7.1-2"},
		{"text with hash", "a/#b", ErrBadWildcard, "MQTT-4.7.1-2"},
		{"double hash", "##", ErrBadWildcard, "MQTT-4.7.1-2"},
		{"plus with text", "a/b+", ErrBadWildcard, "MQTT-4.7.1-3"},
		{"text with plus", "+a/b", ErrBadWildcard, "MQTT-4.7.1-3"},
		{"double plus", "++", ErrBadWildcard, "MQTT-4.7.1-3"},
		{"plus hash", "+#", ErrBadWildcard, "MQTT-4.7.1-3"},
		{"NUL", "a/\x00", ErrInvalidUTF8, "MQTT-1.5.3-2"},
		{"bad UTF-8", "\xff/#", ErrInvalidUTF8, "MQTT-1.5.3-1"},
		{"surrogate", "\xed\xbf\xbf/+", ErrInvalidUTF8, "MQTT-1.5.3-1"},
		{"too long", strings.Repeat("+/", MaxLen/2) + "ab", ErrTooLong, "MQTT-1.5.3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := ValidateFilter(tt.in); !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Errorf("ValidateFilter(%q) = %v, want %v [%s]", short(tt.in), err, tt.want, tt.spec)
			}
		})
	}
}

func TestMatch(t *testing.T) {
	tests := []struct {
		filter, name string
		want         bool
		spec         string
	}{
		{"a/b/c", "a/b/c", true, "MQTT-4.7.1"},
		{"a/b/c", "a/b", false, "MQTT-4.7.1"},
		{"a/b", "a/b/c", false, "MQTT-4.7.1"},
		{"a/b/c", "a/b/d", false, "MQTT-4.7.1"},
		{"A", "a", false, "MQTT-4.7.3"}, // case sensitive
		{"#", "a", true, "MQTT-4.7.1-2"},
		{"#", "a/b/c", true, "MQTT-4.7.1-2"},
		{"#", "/", true, "MQTT-4.7.1-2"},
		{"a/#", "a", true, "MQTT-4.7.1-2"}, // parent level
		{"a/#", "a/", true, "MQTT-4.7.1-2"},
		{"a/#", "a/b/c", true, "MQTT-4.7.1-2"},
		{"a/#", "ab", false, "MQTT-4.7.1-2"},
		{"a/#", "b/a", false, "MQTT-4.7.1-2"},
		{"a/b/#", "a", false, "MQTT-4.7.1-2"},
		{"/#", "/", true, "MQTT-4.7.1-2"},
		{"/#", "a", false, "MQTT-4.7.1-2"},
		{"+", "a", true, "MQTT-4.7.1-3"},
		{"+", "a/b", false, "MQTT-4.7.1-3"},
		{"+", "/a", false, "MQTT-4.7.1-3"},
		{"+/+", "/a", true, "MQTT-4.7.1-3"}, // the empty level is a level
		{"+/+", "/", true, "MQTT-4.7.1-3"},
		{"/+", "/", true, "MQTT-4.7.1-3"},
		{"a/+", "a", false, "MQTT-4.7.1-3"},
		{"a/+", "a/", true, "MQTT-4.7.1-3"},
		{"a/+/c", "a/b/c", true, "MQTT-4.7.1-3"},
		{"a/+/c", "a//c", true, "MQTT-4.7.1-3"},
		{"a/+/c", "a/b/d", false, "MQTT-4.7.1-3"},
		{"+/+/#", "a/b", true, "MQTT-4.7.1-3"},
		{"+/#", "a", true, "MQTT-4.7.1-2"},
		{"a//b", "a//b", true, "MQTT-4.7.1"},
		{"a//b", "a/b", false, "MQTT-4.7.1"},
		{"#", "$SYS/x", false, "MQTT-4.7.2-1"},
		{"+/x", "$SYS/x", false, "MQTT-4.7.2-1"},
		{"+", "$SYS", false, "MQTT-4.7.2-1"},
		{"$SYS/#", "$SYS/x", true, "MQTT-4.7.2-1"},
		{"$SYS/+", "$SYS/x", true, "MQTT-4.7.2-1"},
		{"a/+", "a/$x", true, "MQTT-4.7.2-1"}, // only the first level is special
		{"a/#/b", "a/x/b", false, ""},         // invalid filter: '#' not last
	}
	for _, tt := range tests {
		if got := Match(tt.filter, tt.name); got != tt.want {
			t.Errorf("Match(%q, %q) = %v, want %v [%s]", tt.filter, tt.name, got, tt.want, tt.spec)
		}
		if got := refMatch(tt.filter, tt.name); got != tt.want && ValidateFilter(tt.filter) == nil {
			t.Errorf("refMatch(%q, %q) = %v, want %v", tt.filter, tt.name, got, tt.want)
		}
	}
}

func TestMatchDoesNotAllocate(t *testing.T) {
	n := testing.AllocsPerRun(100, func() { Match("a/+/c/#", "a/b/c/d/e") })
	if n != 0 {
		t.Errorf("Match allocates %v times", n)
	}
}

// refMatch is a second, deliberately naive matcher over split levels,
// used to cross-check Match in the fuzz target.
func refMatch(filter, name string) bool {
	if strings.HasPrefix(name, "$") && (strings.HasPrefix(filter, "+") || strings.HasPrefix(filter, "#")) {
		return false
	}
	f, n := strings.Split(filter, "/"), strings.Split(name, "/")
	for i, level := range f {
		if level == "#" {
			return i == len(f)-1
		}
		if i >= len(n) || (level != "+" && level != n[i]) {
			return false
		}
	}
	return len(f) == len(n)
}

// refFilterOK is a naive filter validator over split levels.
func refFilterOK(filter string) bool {
	if checkString(filter) != nil {
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
		nameErr := ValidateName(name)
		filterErr := ValidateFilter(filter)
		if want := refFilterOK(filter); (filterErr == nil) != want {
			t.Fatalf("ValidateFilter(%q) = %v, reference says valid=%v", filter, filterErr, want)
		}
		got := Match(filter, name)
		if nameErr != nil || filterErr != nil {
			return
		}
		if want := refMatch(filter, name); got != want {
			t.Fatalf("Match(%q, %q) = %v, reference says %v", filter, name, got, want)
		}
		// Every valid name is a valid filter that matches exactly itself.
		if err := ValidateFilter(name); err != nil {
			t.Fatalf("valid name %q is not a valid filter: %v", name, err)
		}
		if !Match(name, name) {
			t.Fatalf("name %q does not match itself", name)
		}
		if !strings.HasPrefix(name, "$") && !Match("#", name) {
			t.Fatalf("# does not match %q", name)
		}
	})
}

func BenchmarkMatch(b *testing.B) {
	for b.Loop() {
		Match("sensors/+/temperature/#", "sensors/kitchen/temperature/celsius")
	}
}

func short(s string) string {
	if len(s) > 40 {
		return s[:20] + "…" + s[len(s)-10:]
	}
	return s
}
