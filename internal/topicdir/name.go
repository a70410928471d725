package topicdir

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
)

// File names of filter files.
//
// An ordinary filter is stored under "f_" followed by the filter with every
// byte outside [A-Za-z0-9._+#-] written as %XX and '/' written as ','
// ("sport/tennis/+" is "f_sport,tennis,+"). The encoding is injective and
// never yields '/', NUL, "." or "..", so no filter can name a file outside
// the filters directory, and two filters that differ in any byte (case
// included) get different names.
//
// When that name would be longer than maxBaseName, the filter is stored under
// "h_" + the first bytes of its encoding (for people reading ls) + "." + 32
// hex digits of its SHA-256. Because a hash (or a case-insensitive file
// system) can make two filters share a name, every name is the first slot of
// a chain: slot n > 0 appends "=n". The filter is kept inside each file, so a
// writer walks the chain until it finds its filter or a free slot; chains
// have no holes (see txn.removeSlot).
const (
	plainPrefix = "f_"
	hashPrefix  = "h_"
	// maxBaseName leaves room below NAME_MAX (255) for the slot suffix and
	// for renameio's temporary name ("." + name + up to 20 digits).
	maxBaseName = 200
	// hashHint is how much of the encoded filter a hashed name keeps.
	hashHint = 64
	// maxSlots bounds a chain walk; only a broken directory gets near it.
	maxSlots = 1024
)

// filterHash is the hash behind long names; tests replace it to force
// collisions.
var filterHash = func(filter string) string {
	sum := sha256.Sum256([]byte(filter))
	return hex.EncodeToString(sum[:16])
}

func plainByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("._+#-", c) >= 0
}

// appendEncoded appends the encoding of filter to b, stopping before the
// encoding would pass limit bytes.
func appendEncoded(b []byte, filter string, limit int) []byte {
	const hexDigits = "0123456789ABCDEF"
	for i := 0; i < len(filter); i++ {
		c := filter[i]
		switch {
		case plainByte(c):
			if len(b)+1 > limit {
				return b
			}
			b = append(b, c)
		case c == '/':
			if len(b)+1 > limit {
				return b
			}
			b = append(b, ',')
		default:
			if len(b)+3 > limit {
				return b
			}
			b = append(b, '%', hexDigits[c>>4], hexDigits[c&15])
		}
	}
	return b
}

// baseName is the name of slot 0 of filter's chain.
func baseName(filter string) string {
	b := appendEncoded([]byte(plainPrefix), filter, maxBaseName+1)
	if len(b) <= maxBaseName {
		return string(b)
	}
	b = appendEncoded(append(b[:0], hashPrefix...), filter, len(hashPrefix)+hashHint)
	return string(b) + "." + filterHash(filter)
}

// slot is one place in a chain of filter files sharing a base name.
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

// validFileName reports whether name can be a filter file or queue record
// name: one path element, not hidden, not a temporary file.
func validFileName(name string) bool {
	return name != "" && name[0] != '.' && len(name) <= 255 &&
		strings.IndexByte(name, '/') < 0 && strings.IndexByte(name, 0) < 0
}
