package topic

import (
	"errors"
	"strings"
	"unicode/utf8"
)

// MaxLen is the longest topic name or filter in bytes: the length prefix of
// an MQTT UTF-8 string is 16 bits [MQTT-1.5.3].
const MaxLen = 65535

// Errors returned by ValidateName and ValidateFilter.
var (
	ErrEmpty          = errors.New("topic is empty")
	ErrWildcardInName = errors.New("wildcard in topic name")
	ErrBadWildcard    = errors.New("wildcard does not occupy a whole level or '#' is not last")
	ErrInvalidUTF8    = errors.New("topic is not valid UTF-8 or contains U+0000")
	ErrTooLong        = errors.New("topic is longer than 65535 bytes")
)

// checkString applies the rules shared by names and filters: non-empty
// [MQTT-4.7.3-1], at most MaxLen bytes, well-formed UTF-8 (which excludes
// surrogate code points) without U+0000 [MQTT-1.5.3-1, MQTT-1.5.3-2].
func checkString(s string) error {
	switch {
	case s == "":
		return ErrEmpty
	case len(s) > MaxLen:
		return ErrTooLong
	case !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0:
		return ErrInvalidUTF8
	}
	return nil
}

// ValidateName reports whether name may be used as the topic of a PUBLISH:
// non-empty [MQTT-4.7.3-1], free of wildcards [MQTT-3.3.2-2], valid UTF-8
// without U+0000 [MQTT-1.5.3-1, MQTT-1.5.3-2] and at most 65535 bytes.
func ValidateName(name string) error {
	if err := checkString(name); err != nil {
		return err
	}
	if strings.IndexByte(name, '+') >= 0 || strings.IndexByte(name, '#') >= 0 {
		return ErrWildcardInName
	}
	return nil
}

// ValidateFilter reports whether filter may be used in a SUBSCRIBE or
// UNSUBSCRIBE: the rules of ValidateName except that wildcards are allowed
// where the spec puts them. '#' must be alone in the last level
// [MQTT-4.7.1-2]; '+' must occupy a whole level [MQTT-4.7.1-3].
func ValidateFilter(filter string) error {
	if err := checkString(filter); err != nil {
		return err
	}
	for i := 0; i < len(filter); i++ {
		// A wildcard must start its level; '+' must also end it, '#' must
		// end the filter.
		switch filter[i] {
		case '+':
			if (i > 0 && filter[i-1] != '/') || (i+1 < len(filter) && filter[i+1] != '/') {
				return ErrBadWildcard
			}
		case '#':
			if (i > 0 && filter[i-1] != '/') || i+1 != len(filter) {
				return ErrBadWildcard
			}
		}
	}
	return nil
}

// Match reports whether the topic name matches the topic filter. Both are
// assumed valid; Match does not allocate.
//
//   - '+' matches exactly one level, which may be empty.
//   - '#' matches its parent level and any number of levels below it, so
//     "a/#" matches "a", "a/" and "a/b/c" [MQTT-4.7.1-2].
//   - A filter whose first level is a wildcard does not match a name that
//     starts with '$' [MQTT-4.7.2-1].
func Match(filter, name string) bool {
	if HiddenFromWildcards(name) && filter != "" && (filter[0] == '+' || filter[0] == '#') {
		return false
	}
	for {
		fl, frest, fmore := strings.Cut(filter, "/")
		if fl == "#" {
			return !fmore
		}
		nl, nrest, nmore := strings.Cut(name, "/")
		if fl != "+" && fl != nl {
			return false
		}
		switch {
		case !fmore:
			return !nmore
		case !nmore:
			// The name ran out of levels: only a trailing "#" still matches,
			// standing for the parent level we just consumed.
			return frest == "#"
		}
		filter, name = frest, nrest
	}
}

// HiddenFromWildcards reports whether name starts with '$': a filter whose
// first level is '+' or '#' does not match such a name, only a literal first
// level does [MQTT-4.7.2-1]. The matchers of forkmq ask this one function.
func HiddenFromWildcards(name string) bool {
	return name != "" && name[0] == '$'
}

// MayMatchPrefix reports whether some topic name starting with prefix can
// match the (valid) filter. It errs towards true where the prefix ends
// inside a level. The retained store uses it to skip files whose names keep
// only the start of their topic.
func MayMatchPrefix(filter, prefix string) bool {
	if HiddenFromWildcards(prefix) && (filter[0] == '+' || filter[0] == '#') {
		return false
	}
	for {
		fl, frest, fmore := strings.Cut(filter, "/")
		if fl == "#" {
			return true
		}
		pl, prest, pmore := strings.Cut(prefix, "/")
		if !pmore {
			// pl is the start of a level whose end is unknown.
			return fl == "+" || strings.HasPrefix(fl, pl)
		}
		if (fl != "+" && fl != pl) || !fmore {
			return false
		}
		filter, prefix = frest, prest
	}
}
