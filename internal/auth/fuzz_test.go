package auth

import (
	"strings"
	"testing"

	"github.com/forkmq/forkmq/internal/topic"
)

// FuzzParsePasswords checks that no input panics the parser, that errors
// carry a line inside the input, and that every user of a parsed file can
// be checked.
func FuzzParsePasswords(f *testing.F) {
	f.Add([]byte(mosquittoLine7 + "\n"))
	f.Add([]byte(line6("old", "secret", []byte("0123456789ab")) + "\r\n# c\n\n"))
	f.Add([]byte("bob:$7$1$c2FsdA$AAAA\nbob:$6$$\n:x\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := parsePasswords("", data)
		if err != nil {
			checkLine(t, err, data)
			return
		}
		for user, h := range p.users {
			if h.kind == '7' && h.iterations > 1000 {
				continue // costly, and nothing new to learn
			}
			p.Check(user, []byte("x"))
		}
	})
}

// FuzzParseACL checks that no input panics the parser or the checks, that
// errors carry a line inside the input, and that an allowed subscription
// allows what it stands for: every topic name it matches may be read (one
// such name is built by filling its wildcards in).
func FuzzParseACL(f *testing.F) {
	f.Add([]byte(aclFile), "dev1", "alice", false, "devices/dev1/#")
	f.Add([]byte("topic #\ntopic deny a/+\n"), "c", "", true, "a/b")
	f.Add([]byte("pattern %c/%u/#\n"), "+", "#", false, "+/#")
	f.Add([]byte("topic $SYS/#\ntopic +/+\n"), "c", "u", false, "$SYS/+")
	f.Fuzz(func(t *testing.T, data []byte, id, user string, anonymous bool, filter string) {
		a, err := parseACL("", data)
		if err != nil {
			checkLine(t, err, data)
			return
		}
		if topic.ValidateFilter(filter) != nil || !a.Allowed(id, user, anonymous, Read, filter) {
			return
		}
		levels := strings.Split(filter, "/")
		for i, l := range levels {
			if l == "+" || l == "#" {
				levels[i] = "x"
			}
		}
		name := strings.Join(levels, "/")
		if !a.Allowed(id, user, anonymous, Read, name) {
			t.Fatalf("filter %q allowed but its topic %q is not", filter, name)
		}
	})
}

func checkLine(t *testing.T, err error, data []byte) {
	t.Helper()
	pe, ok := err.(*ParseError)
	if !ok {
		t.Fatalf("error %v is not a *ParseError", err)
	}
	if pe.Line < 1 || pe.Line > strings.Count(string(data), "\n")+1 {
		t.Fatalf("error %v: line outside the input", err)
	}
}
