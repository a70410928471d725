package fsname

import (
	"path/filepath"
	"strings"
	"testing"
)

var (
	topics  = Encoding{Prefix: "t_"}
	filters = Encoding{Prefix: "f_"}
)

// TestNames pins names down: the retained store's are the ones the previous
// version wrote (a store it left must still be read), so they must never
// change.
func TestNames(t *testing.T) {
	tests := []struct {
		enc       Encoding
		s, name   string
		exact     bool
		whyPinned string
	}{
		{topics, "sport/tennis/player1", "t_sport,tennis,player1", true, "retained v1"},
		{topics, "Sport", "t_%53port", true, "retained v1"},
		{topics, "$SYS/x", "t_%24%53%59%53,x", true, "retained v1"},
		{topics, "..", "t_..", true, "retained v1"},
		{topics, "/", "t_,", true, "retained v1"},
		{topics, "a=1", "t_a%3D1", true, "retained v1"},
		{topics, "é", "t_%C3%A9", true, "retained v1"},
		{topics, "%41", "t_%2541", true, "retained v1"},
		{topics, "a b", "t_a%20b", true, "retained v1"},
		{topics, strings.Repeat("Ab/", 80) + "end",
			"h_%41b,%41b,%41b,%41b,%41b,%41b,%41b,%41b,%41b,%41b,%41b,%41b,%41b.05ffe5ff976194dd30edfb7fe47f5922", false, "retained v1"},
		{topics, strings.Repeat("é", 150),
			"h_%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3.cb1fa3158102cb16edae890e78baadd9", false, "retained v1"},
		{topics, strings.Repeat("x", 198) + "Y",
			"h_" + strings.Repeat("x", 64) + ".00ed8903e9fd2047ce1ea6b1b7012b31", false, "retained v1"},
		{filters, "sport/tennis/+", "f_sport,tennis,+", true, "topics v2"},
		{filters, "a/#", "f_a,#", true, "topics v2"},
		{filters, "$SYS/#", "f_%24%53%59%53,#", true, "topics v2"},
		{filters, "a b", "f_a%20b", true, "topics v2"},
	}
	for _, tc := range tests {
		if got := tc.enc.Base(tc.s); got != tc.name {
			t.Errorf("Base(%.40q) = %q, want %q (%s)", tc.s, got, tc.name, tc.whyPinned)
		}
		got, exact, ok := tc.enc.Parse(tc.name)
		if !ok || exact != tc.exact || (exact && got != tc.s) || !strings.HasPrefix(tc.s, got) {
			t.Errorf("Parse(%q) = %.40q, %v, %v; want the string or its prefix, exact %v", tc.name, got, exact, ok, tc.exact)
		}
	}
}

// hostile are strings that would be dangerous or ambiguous as file names.
var hostile = []string{
	"..", ".", "../..", "../../../etc/passwd", "/", "//", "a/../../b", "./a", ".hidden",
	"~", "~root", "-rf", "a\\b", "C:\\x", "%41", "A", "a", "%2F", ",", "a,b", "a/b",
	"t_x", "h_x", "f_x", "x=1", "a=1", "a=+1", " ", "\t\n\r", "\x00", "a\x00b", "\xff\xfe",
	"\u00e9t\u00e9", "e\u0301t\u00e9", "日本/語", "\U0001F600", "\u200b", "\x7f",
	"+", "#", "+/+/#", "$SYS/#", "Sport/Tennis", "sport/tennis", "SPORT/TENNIS",
	"lock", "msgs", "filters", "con", "CON", "nul.txt",
	strings.Repeat("x", MaxBase-2), strings.Repeat("x", MaxBase-1), strings.Repeat("x", MaxBase),
	strings.Repeat("x", MaxBase-3) + "X", strings.Repeat("x", MaxBase-4) + "X", strings.Repeat("x", MaxBase-5) + "X",
	strings.Repeat("x", 65535), strings.Repeat("/", 65535), strings.Repeat(".", 65535),
	strings.Repeat("é", 32767), strings.Repeat("x", 65534) + "y", strings.Repeat("../", 1000),
	strings.Repeat("a/", 32767) + "#", strings.Repeat("a/", 32767) + "+",
}

// TestHostileStrings: every name is safe, stays in its directory with room
// for the slot suffix and renameio's temporary name, parses back into its
// slot and what it says about its string is true; and no two strings share
// a name, even when letter case is ignored.
func TestHostileStrings(t *testing.T) {
	dir := t.TempDir()
	byFolded := map[string]string{}
	for _, s := range hostile {
		base := filters.Base(s)
		for _, n := range []int{0, 1, MaxSlots - 1} {
			sl := Slot{base, n}
			name := sl.Name()
			if len(name)+21 > 255 || !Safe(name) || name == "." || name == ".." {
				t.Errorf("%.20q slot %d: bad name %q", s, n, name)
			}
			if p := filepath.Join(dir, name); filepath.Dir(p) != dir {
				t.Errorf("%.20q slot %d: %q leaves the directory", s, n, name)
			}
			if got := ParseSlot(name); got != sl {
				t.Errorf("ParseSlot(%q) = %v, want %v", name, got, sl)
			}
			for i := 0; i < len(name); i++ {
				if c := name[i]; c <= ' ' || c >= 0x7f {
					t.Errorf("%q holds byte %#x", name, c)
				}
			}
		}
		got, exact, ok := filters.Parse(base)
		switch {
		case !ok:
			t.Errorf("Parse(%q) says nothing", base)
		case exact && got != s:
			t.Errorf("plain name %q parses to another string", base)
		case !exact && (!strings.HasPrefix(s, got) || !strings.HasPrefix(base, HashPrefix)):
			t.Errorf("hashed name %q: %.20q is not a prefix of the string", base, got)
		}
		folded := strings.ToLower(base)
		if other, dup := byFolded[folded]; dup && other != s {
			t.Errorf("%.20q and %.20q share a name up to case: %q", s, other, base)
		}
		byFolded[folded] = s
	}
}

// TestLongNames: a string switches to a hashed name exactly when its plain
// name would pass MaxBase, and an escape is never cut at the limit.
func TestLongNames(t *testing.T) {
	room := MaxBase - len("t_")
	for _, tc := range []struct {
		s      string
		hashed bool
	}{
		{strings.Repeat("a", room), false},
		{strings.Repeat("a", room+1), true},
		{strings.Repeat("a", room-3) + "B", false},
		{strings.Repeat("a", room-2) + "B", true},
		{strings.Repeat("a", room-1) + "B", true},
	} {
		name := topics.Base(tc.s)
		if hashed := strings.HasPrefix(name, HashPrefix); hashed != tc.hashed || len(name) > MaxBase {
			t.Errorf("%d bytes ending %q: name of %d bytes, hashed %v", len(tc.s), tc.s[len(tc.s)-1:], len(name), hashed)
		}
	}
}

func TestParseSlot(t *testing.T) {
	tests := []struct {
		name string
		want Slot
	}{
		{"t_a", Slot{"t_a", 0}},
		{"h_a.00=1", Slot{"h_a.00", 1}},
		{"h_a.00=1023", Slot{"h_a.00", 1023}},
		{"h_a.00=1024", Slot{"h_a.00=1024", 0}},
		{"h_a.00=0", Slot{"h_a.00=0", 0}},
		{"h_a.00=01", Slot{"h_a.00=01", 0}},
		{"h_a.00=+1", Slot{"h_a.00=+1", 0}},
		{"h_a.00=x", Slot{"h_a.00=x", 0}},
	}
	for _, tc := range tests {
		if got := ParseSlot(tc.name); got != tc.want {
			t.Errorf("ParseSlot(%q) = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestParseSaysNothing: names the encoding never makes tell nothing.
func TestParseSaysNothing(t *testing.T) {
	for _, name := range []string{
		"t_%4", "t_%zz", "t_%4a", "t_A", "t_%61", "t_%2F", "x_a", "h_nodot", "t_a=1", "f_a", "",
	} {
		if s, _, ok := topics.Parse(name); ok {
			t.Errorf("Parse(%q) claims the string is %q", name, s)
		}
	}
}

func TestSafe(t *testing.T) {
	for name, want := range map[string]bool{
		"f_a": true, "forkmq.1a2b.3": true, "": false, ".": false, "..": false, ".f_a123": false,
		"a/b": false, "a\x00": false, strings.Repeat("a", 255): true, strings.Repeat("a", 256): false,
	} {
		if got := Safe(name); got != want {
			t.Errorf("Safe(%q) = %v, want %v", name, got, want)
		}
	}
}

// FuzzEncoding: names are safe; distinct strings get names that differ
// even when case is ignored (plain names exactly, hashed ones up to the
// hash); a name that parses is the name of what it parses to.
func FuzzEncoding(f *testing.F) {
	f.Add("a/b", "A/B")
	f.Add("..", "%2E%2E")
	f.Add("f_a", "%66_a")
	f.Add(strings.Repeat("é", 120), strings.Repeat("é", 121))
	f.Fuzz(func(t *testing.T, a, b string) {
		na, nb := filters.Base(a), filters.Base(b)
		if !Safe(na) || len(na) > MaxBase {
			t.Fatalf("bad name %q for %q", na, a)
		}
		if a != b && strings.EqualFold(na, nb) {
			t.Fatalf("%q and %q share %q up to case", a, b, na)
		}
		if s, exact, ok := filters.Parse(b); ok && exact && filters.Base(s) != b {
			t.Fatalf("%q parses to %q, whose name is %q", b, s, filters.Base(s))
		}
		if s, exact, ok := filters.Parse(na); !ok || (exact && s != a) || !strings.HasPrefix(a, s) {
			t.Fatalf("name %q of %q parses to %q, %v, %v", na, a, s, exact, ok)
		}
	})
}
