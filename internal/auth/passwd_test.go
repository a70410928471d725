package auth

import (
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Written by Debian's mosquitto_passwd 2.0.11: "mosquitto_passwd -b -c f user pass".
const mosquittoLine7 = "user:$7$101$G3DrbhHIOmw1j5oy$+YxBwkBm1c2rdB8OqwD9QY+eKaoCBxKNlKd8DCOMvJV9qAyNvb7kBbTCJRkgpLoIEBfaBflp83xI66uhnprpsQ=="

// line6 builds a "$6$" line the way mosquitto 1.x did: SHA-512 of the
// password followed by the salt, both fields in padded standard base64.
func line6(user, password string, salt []byte) string {
	sum := sha512.Sum512(append([]byte(password), salt...))
	return user + ":$6$" + base64.StdEncoding.EncodeToString(salt) + "$" + base64.StdEncoding.EncodeToString(sum[:])
}

func writeFile(t testing.TB, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// checkCase is one Check call and its expected answer.
type checkCase struct {
	user, password string
	want           bool
}

func checkPasswords(t *testing.T, p *Passwords, cases []checkCase) {
	t.Helper()
	for _, c := range cases {
		if got := p.Check(c.user, []byte(c.password)); got != c.want {
			t.Errorf("Check(%q, %q) = %v, want %v", c.user, c.password, got, c.want)
		}
	}
}

// wantParseError fails t unless err is a *ParseError for line of a file.
func wantParseError(t *testing.T, err error, line int) {
	t.Helper()
	var pe *ParseError
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v, want *ParseError", err)
	}
	if pe.Line != line || pe.Path == "" {
		t.Errorf("err = %v, want line %d with the path", err, line)
	}
}

func TestPasswordsCheck(t *testing.T) {
	file := "# users of the test broker\n\n" +
		mosquittoLine7 + "\r\n" +
		line6("old", "secret", []byte("0123456789ab")) + "\n" +
		"   # indented comment\n" +
		line6("nosalt-pad", "x", []byte("salt")) + "\n"
	p, err := LoadPasswords(writeFile(t, "pw", file))
	if err != nil {
		t.Fatal(err)
	}
	if p.Len() != 3 {
		t.Errorf("Len = %d, want 3", p.Len())
	}
	checkPasswords(t, p, []checkCase{
		{"user", "pass", true},
		{"user", "Pass", false},
		{"user", "pass ", false},
		{"user", "", false},
		{"old", "secret", true},
		{"old", "secret\x00", false},
		{"nosalt-pad", "x", true},
		{"nobody", "pass", false},
		{"", "", false},
		{"USER", "pass", false},
	})
}

func TestPasswordsUnpaddedBase64(t *testing.T) {
	sum := sha512.Sum512([]byte("pwsalt1"))
	line := "u:$6$" + base64.RawStdEncoding.EncodeToString([]byte("salt1")) + "$" + base64.RawStdEncoding.EncodeToString(sum[:])
	p, err := parsePasswords("", []byte(line))
	if err != nil {
		t.Fatal(err)
	}
	if !p.Check("u", []byte("pw")) {
		t.Error("unpadded $6$ line: password refused")
	}
}

func TestPasswordsMalformed(t *testing.T) {
	good := line6("a", "x", []byte("saltsaltsalt"))
	for _, c := range []struct {
		name, file string
		line       int
	}{
		{"no colon", "# c\nuser\n", 2},
		{"empty user", ":$6$c2FsdA==$AAAA\n", 1},
		{"plain text", good + "\nbob:hunter2\n", 2},
		{"unknown type", "bob:$5$c2FsdA==$AAAA\n", 1},
		{"6 too few fields", "bob:$6$c2FsdA==\n", 1},
		{"6 too many fields", "bob:$6$c2FsdA==$AAAA$x\n", 1},
		{"6 short hash", "bob:$6$c2FsdA==$AAAA\n", 1},
		{"bad salt", "\n\nbob:$6$!!!$" + base64.StdEncoding.EncodeToString(make([]byte, 64)) + "\n", 3},
		{"empty salt", "bob:$6$$" + base64.StdEncoding.EncodeToString(make([]byte, 64)) + "\n", 1},
		{"7 zero iterations", "bob:$7$0$c2FsdA==$AAAA\n", 1},
		{"7 bad iterations", "bob:$7$ten$c2FsdA==$AAAA\n", 1},
		{"7 negative iterations", "bob:$7$-1$c2FsdA==$AAAA\n", 1},
		{"7 too few fields", "bob:$7$101$c2FsdA==\n", 1},
		{"7 empty hash", "bob:$7$101$c2FsdA==$\n", 1},
		{"7 bad hash", "bob:$7$101$c2FsdA==$***\n", 1},
		{"duplicate", good + "\n" + good + "\n", 2},
		{"leading text", "bob:x$6$c2FsdA==$AAAA\n", 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := LoadPasswords(writeFile(t, "pw", c.file))
			wantParseError(t, err, c.line)
		})
	}
	if _, err := LoadPasswords(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("missing file: no error")
	}
}

// TestMosquittoPasswd checks files written by the real mosquitto_passwd,
// both its default ($7$, PBKDF2) and its old format ($6$).
func TestMosquittoPasswd(t *testing.T) {
	bin, err := exec.LookPath("mosquitto_passwd")
	if err != nil {
		t.Skip("mosquitto_passwd not installed (Debian package mosquitto)")
	}
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
			t.Fatalf("mosquitto_passwd %v: %v\n%s", args, err, out)
		}
	}
	path := filepath.Join(t.TempDir(), "passwd")
	run("-b", "-c", path, "user", "pass")
	run("-b", path, "alice", "correct horse: battery $7$")
	run("-H", "sha512", "-b", path, "legacy", "pässwörd")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("password file:\n%s", data)
	p, err := LoadPasswords(path)
	if err != nil {
		t.Fatal(err)
	}
	checkPasswords(t, p, []checkCase{
		{"user", "pass", true},
		{"user", "wrong", false},
		{"alice", "correct horse: battery $7$", true},
		{"alice", "correct horse", false},
		{"legacy", "pässwörd", true},
		{"legacy", "passwort", false},
		{"nobody", "pass", false},
	})
}

func BenchmarkCheck7(b *testing.B) {
	p, err := parsePasswords("", []byte(mosquittoLine7))
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		p.Check("user", []byte("pass"))
	}
}
