package fsname

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
)

const (
	// HashPrefix starts every hashed name.
	HashPrefix = "h_"
	// MaxBase bounds a base name, leaving room below NAME_MAX (255) for
	// "=1023" and for renameio's temporary name ("." + name + 20 digits).
	MaxBase = 200
	// MaxSlots bounds a chain walk; only a broken directory gets near it.
	MaxSlots = 1024
	// hashHint bounds the encoded prefix a hashed name keeps.
	hashHint = 64
)

// Encoding names the files of one directory.
type Encoding struct {
	// Prefix starts every plain name. It must be a few characters of
	// [a-z0-9_], end in '_' and differ from HashPrefix ("t_", "f_").
	Prefix string
	// Hash, if set, replaces the SHA-256 behind hashed names; tests use it
	// to force collisions. Its result must hold no '.', '=' or '/'.
	Hash func(s string) string
}

// Base is the name of slot 0 of s's chain.
func (e Encoding) Base(s string) string {
	b, whole := encode([]byte(e.Prefix), s, MaxBase)
	if whole {
		return string(b)
	}
	b, _ = encode(append(b[:0], HashPrefix...), s, len(HashPrefix)+hashHint)
	return string(b) + "." + e.hash(s)
}

func (e Encoding) hash(s string) string {
	if e.Hash != nil {
		return e.Hash(s)
	}
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:16])
}

// Parse tells what the file name says about the string inside: exact is
// true when s is the string itself (a plain name in slot 0); otherwise s is
// a prefix of it (a hashed name, any slot). ok is false when the name says
// nothing (not made by e).
func (e Encoding) Parse(name string) (s string, exact, ok bool) {
	sl := ParseSlot(name)
	if enc, plain := strings.CutPrefix(sl.Base, e.Prefix); plain && sl.N == 0 {
		s, ok = decode(enc)
		return s, ok, ok
	}
	if enc, hashed := strings.CutPrefix(sl.Base, HashPrefix); hashed {
		if i := strings.LastIndexByte(enc, '.'); i >= 0 {
			s, ok = decode(enc[:i])
			return s, false, ok
		}
	}
	return "", false, false
}

// Slot is one place in a chain of files sharing a base name.
type Slot struct {
	Base string
	N    int
}

// Name is the slot's file name.
func (s Slot) Name() string {
	if s.N == 0 {
		return s.Base
	}
	return s.Base + "=" + strconv.Itoa(s.N)
}

// Next is the slot after s in its chain.
func (s Slot) Next() Slot { return Slot{s.Base, s.N + 1} }

// ParseSlot splits a file name into its slot.
func ParseSlot(name string) Slot {
	if i := strings.LastIndexByte(name, '='); i >= 0 {
		// Only the canonical spelling: "x=+1" or "x=01" is no slot.
		if n, err := strconv.Atoi(name[i+1:]); err == nil && n > 0 && n < MaxSlots && strconv.Itoa(n) == name[i+1:] {
			return Slot{name[:i], n}
		}
	}
	return Slot{name, 0}
}

// Safe reports whether name can be a stored file's name: one path element,
// not hidden (so neither "." nor ".." nor a renameio temporary file), at
// most NAME_MAX bytes.
func Safe(name string) bool {
	return name != "" && name[0] != '.' && len(name) <= 255 &&
		strings.IndexByte(name, '/') < 0 && strings.IndexByte(name, 0) < 0
}

const upperHex = "0123456789ABCDEF"

// literal reports whether c stands for itself in a name. '+' and '#' are
// there for filters; a topic name never holds them.
func literal(c byte) bool {
	return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || strings.IndexByte("._+#-", c) >= 0
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

// decode reverses encode; ok is false for anything encode never writes
// (lower-case hex, an escaped byte that has a literal spelling), so a name
// that decodes is the one encode makes.
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
			c = byte(hi<<4 | lo)
			if hi < 0 || lo < 0 || literal(c) || c == '/' {
				return "", false
			}
			b = append(b, c)
			i += 2
		default:
			return "", false
		}
	}
	return string(b), true
}
