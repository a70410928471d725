package topicdir

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var hostileFilters = []struct {
	name, filter string
}{
	{"dot dot", ".."},
	{"dot", "."},
	{"parent path", "../../etc/passwd"},
	{"dot dot levels", "a/../../b"},
	{"slash", "/"},
	{"leading slash", "/etc"},
	{"NUL", "a\x00b"},
	{"newline", "a\nb"},
	{"percent looks escaped", "a%2Fb"},
	{"comma", "a,b"},
	{"slot suffix lookalike", "a=1"},
	{"plain twin of comma", "a/b"},
	{"empty levels", "//"},
	{"empty level inside", "a//b"},
	{"plus", "+"},
	{"hash", "#"},
	{"wildcards", "+/+/#"},
	{"upper", "Sport/Tennis"},
	{"lower", "sport/tennis"},
	{"non-ASCII", "café/€/日本"},
	{"invalid UTF-8", "\xff\xfe"},
	{"hidden", ".hidden"},
	{"tilde", "~/x"},
	{"dollar", "$SYS/#"},
	{"spaces", "a b/c d"},
	{"just under hash limit", strings.Repeat("x", maxBaseName-len(plainPrefix))},
	{"just over hash limit", strings.Repeat("x", maxBaseName-len(plainPrefix)+1)},
	{"long escapes", strings.Repeat("é", 100)},
	{"max length", strings.Repeat("a/", maxFilter/2) + "#"},
	{"max length twin", strings.Repeat("a/", maxFilter/2) + "+"},
	{"long parent", strings.Repeat("../", 1000)},
}

func TestFileNamesStayInside(t *testing.T) {
	dir := t.TempDir()
	byName := map[string]string{}
	for _, tc := range hostileFilters {
		t.Run(tc.name, func(t *testing.T) {
			if len(tc.filter) > maxFilter {
				t.Fatalf("test filter is %d bytes", len(tc.filter))
			}
			for n := range 3 {
				name := slot{baseName(tc.filter), n}.name()
				// renameio's temporary name adds "." and up to 20 digits.
				if len(name)+21 > 255 {
					t.Errorf("slot %d: name of %d bytes", n, len(name))
				}
				if !validFileName(name) || name == "." || name == ".." {
					t.Errorf("slot %d: bad name %q", n, name)
				}
				if p := filepath.Join(dir, name); filepath.Dir(p) != dir {
					t.Errorf("slot %d: %q leaves the directory", n, name)
				}
				if got := slotOf(name); got != (slot{baseName(tc.filter), n}) {
					t.Errorf("slotOf(%q) = %v", name, got)
				}
			}
			name := baseName(tc.filter)
			if other, ok := byName[name]; ok {
				t.Errorf("%q and %q share file %q", tc.filter, other, name)
			}
			byName[name] = tc.filter
		})
	}
}

func TestReadableNames(t *testing.T) {
	for filter, want := range map[string]string{
		"sport/tennis/+": "f_sport,tennis,+",
		"a/#":            "f_a,#",
		"$SYS/x":         "f_%24SYS,x",
		"a b":            "f_a%20b",
	} {
		if got := baseName(filter); got != want {
			t.Errorf("baseName(%q) = %q, want %q", filter, got, want)
		}
	}
}

// TestHostileFiltersOnDisk subscribes every hostile filter and checks that
// each got its own file inside filters/ and nothing appeared elsewhere.
func TestHostileFiltersOnDisk(t *testing.T) {
	path := topicsDir(t)
	d := openAt(t, path)
	for _, tc := range hostileFilters {
		subscribe(t, d, "forkmq.00000000.1", tc.filter, 1)
	}
	names, err := readDir(d.filters)
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != len(hostileFilters) {
		t.Errorf("%d filter files for %d filters: %q", len(names), len(hostileFilters), names)
	}
	err = filepath.WalkDir(filepath.Dir(path), func(p string, e os.DirEntry, err error) error {
		rel, _ := filepath.Rel(path, p)
		switch {
		case err != nil:
			return err
		case rel == "..":
		case strings.HasPrefix(rel, ".."):
			t.Errorf("file outside the topics directory: %s", p)
		case !e.IsDir() && !strings.HasPrefix(rel, filtersName+"/") && !strings.HasPrefix(rel, queuesName+"/") &&
			rel != lockName && rel != counterName && rel != logName:
			t.Errorf("unexpected file %s", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	subs, err := d.Subscriptions("forkmq.00000000.1")
	if err != nil || len(subs) != len(hostileFilters) {
		t.Fatalf("Subscriptions: %d, %v; want %d", len(subs), err, len(hostileFilters))
	}
	m := d.NewMatcher()
	defer m.Close()
	for _, topic := range []string{"..", "a/b", "a,b", "a%2Fb", "café/€/日本", "\xff\xfe", "Sport/Tennis"} {
		if got := match(t, m, topic); len(got) != 1 {
			t.Errorf("Match(%q) = %v, want the one queue", topic, got)
		}
	}
}

// TestHashCollision forces every long filter onto one hashed name and checks
// that the chain keeps them apart, also after a removal moves a file.
func TestHashCollision(t *testing.T) {
	saved := filterHash
	filterHash = func(string) string { return strings.Repeat("0", 32) }
	t.Cleanup(func() { filterHash = saved })

	long := strings.Repeat("z", 300)
	filters := []string{long + "/1", long + "/2", long + "/3"}
	d := openDir(t)
	old := d.NewMatcher()
	defer old.Close()
	match(t, old, "x") // build before the changes, to follow them incrementally
	for i, f := range filters {
		subscribe(t, d, "forkmq.00000000."+string(rune('1'+i)), f, byte(i))
	}
	base := baseName(filters[0])
	for n := range 3 {
		if _, err := d.filters.Lstat(slot{base, n}.name()); err != nil {
			t.Fatalf("slot %d: %v", n, err)
		}
	}
	check := func(want map[string][]string) {
		t.Helper()
		fresh := d.NewMatcher()
		defer fresh.Close()
		for _, m := range []*Matcher{old, fresh} {
			for _, f := range filters {
				got := slices.Sorted(maps.Keys(match(t, m, f)))
				if !slices.Equal(got, want[f]) {
					t.Errorf("Match(...%s) = %v, want %v", f[len(f)-2:], got, want[f])
				}
			}
		}
	}
	check(map[string][]string{filters[0]: {"forkmq.00000000.1"}, filters[1]: {"forkmq.00000000.2"}, filters[2]: {"forkmq.00000000.3"}})

	if existed, err := d.Unsubscribe("forkmq.00000000.1", filters[0]); err != nil || !existed {
		t.Fatalf("Unsubscribe: %v, %v", existed, err)
	}
	if _, err := d.filters.Lstat(slot{base, 2}.name()); err == nil {
		t.Error("slot 2 still there: chain has a hole")
	}
	check(map[string][]string{filters[1]: {"forkmq.00000000.2"}, filters[2]: {"forkmq.00000000.3"}})

	subscribe(t, d, "forkmq.00000000.4", filters[2], 2)
	if err := d.RemoveQueue("forkmq.00000000.2"); err != nil {
		t.Fatal(err)
	}
	check(map[string][]string{filters[2]: {"forkmq.00000000.3", "forkmq.00000000.4"}})
	names, _ := readNames(d.filters)
	if len(names) != 1 || names[0] != base {
		t.Errorf("filter files %q, want [%q]", names, base)
	}
}
