package retain

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
)

// File names of message files.
//
// A topic is stored under "t_" followed by the topic with '/' written as ','
// and every byte outside [a-z0-9._-] written as %XX (upper-case hex), so
// "sport/Tennis" is "t_sport,%54ennis". Upper-case letters are escaped too:
// the encoding is injective even on a case-folding file system, and it never
// yields '/', NUL, "." or "..", so no topic can name a file outside msgs/.
// Such a name can be decoded back into its topic without opening the file,
// which is what lets a wildcard Match skip files it does not need.
//
// When that name would be longer than maxBaseName, the topic is stored under
// "h_" + the longest whole-escape prefix of its encoding that fits in
// hashHint bytes + "." + 32 hex digits of its SHA-256. The prefix still tells
// Match which files cannot match; the topic itself is in the file's header.
// A hash can make two topics share a name, so every name is slot 0 of a
// chain and slot n > 0 is NAME=n ('=' never occurs in an encoding). Which
// topic a slot holds is read from the file, never assumed from its name.
const (
	plainPrefix = "t_"
	hashPrefix  = "h_"
	// maxBaseName leaves room below NAME_MAX (255) for "=1023" and for
	// renameio's temporary name ("." + name + up to 20 digits).
	maxBaseName = 200
	// hashHint bounds the encoded prefix a hashed name keeps.
	hashHint = 64
	// maxSlots bounds a chain walk; only a broken directory gets near it.
	maxSlots = 1024
)

// topicHash is the hash behind long names; tests replace it to force
// collisions. Its result must not contain '.' or '='.
var topicHash = func(topic string) string {
	sum := sha256.Sum256([]byte(topic))
	return hex.EncodeToString(sum[:16])
}

const upperHex = "0123456789ABCDEF"

// literal reports whether c stands for itself in a file name.
func literal(c byte) bool {
	return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-'
}

// encode appends the encoding of s to b while it fits in limit bytes; whole
// reports whether all of s was encoded. An escape is never cut in half.
func encode(b []byte, s string, limit int) (out []byte, whole bool) {
	for i := 0; i < len(s); i++ {
		var enc [3]byte
		n := 1
		switch c := s[i]; {
		case literal(c):
			enc[0] = c
		case c == '/':
			enc[0] = ','
		default:
			enc, n = [3]byte{'%', upperHex[c>>4], upperHex[c&15]}, 3
		}
		if len(b)+n > limit {
			return b, false
		}
		b = append(b, enc[:n]...)
	}
	return b, true
}

// decode reverses encode; ok is false for bytes encode never writes.
func decode(enc string) (s string, ok bool) {
	b := make([]byte, 0, len(enc))
	for i := 0; i < len(enc); i++ {
		switch c := enc[i]; {
		case literal(c):
			b = append(b, c)
		case c == ',':
			b = append(b, '/')
		case c == '%' && i+2 < len(enc):
			hi := strings.IndexByte(upperHex, enc[i+1])
			lo := strings.IndexByte(upperHex, enc[i+2])
			if hi < 0 || lo < 0 {
				return "", false
			}
			b = append(b, byte(hi<<4|lo))
			i += 2
		default:
			return "", false
		}
	}
	return string(b), true
}

// baseName is the name of slot 0 of topic's chain.
func baseName(topic string) string {
	b, whole := encode([]byte(plainPrefix), topic, maxBaseName)
	if whole {
		return string(b)
	}
	b, _ = encode(append(b[:0], hashPrefix...), topic, len(hashPrefix)+hashHint)
	return string(b) + "." + topicHash(topic)
}

// slot is one place in a chain of message files sharing a base name.
type slot struct {
	base string
	n    int
}

func (s slot) name() string {
	if s.n == 0 {
		return s.base
	}
	return s.base + "=" + strconv.Itoa(s.n)
}

func (s slot) next() slot { return slot{s.base, s.n + 1} }

// parseName splits a file name from msgs/ into its slot.
func parseName(name string) slot {
	if i := strings.LastIndexByte(name, '='); i >= 0 {
		if n, err := strconv.Atoi(name[i+1:]); err == nil && n > 0 && n < maxSlots {
			return slot{name[:i], n}
		}
	}
	return slot{name, 0}
}

// nameTopic tells what a file name says about the topic inside: exact is
// the topic itself (a plain name in slot 0), otherwise prefix is a prefix of
// it (a hashed name). ok is false when the name says nothing.
func nameTopic(name string) (topic string, exact, ok bool) {
	s := parseName(name)
	if enc, plain := strings.CutPrefix(s.base, plainPrefix); plain && s.n == 0 {
		topic, ok = decode(enc)
		return topic, ok, ok
	}
	if enc, hashed := strings.CutPrefix(s.base, hashPrefix); hashed {
		if i := strings.LastIndexByte(enc, '.'); i >= 0 {
			topic, ok = decode(enc[:i])
			return topic, false, ok
		}
	}
	return "", false, false
}

// mayMatch reports whether some topic starting with prefix can match the
// (valid) filter. It errs towards true: Match reads the file to decide.
func mayMatch(filter, prefix string) bool {
	if prefix != "" && prefix[0] == '$' && (filter[0] == '+' || filter[0] == '#') {
		return false // [MQTT-4.7.2-1]
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
