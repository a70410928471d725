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

func short(s string) string {
	if len(s) > 40 {
		return s[:20] + "…" + s[len(s)-10:]
	}
	return s
}
