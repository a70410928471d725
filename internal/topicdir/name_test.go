package topicdir

import (
	"bytes"
	"io/fs"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/forkmq/forkmq/internal/fsname"
	"github.com/forkmq/forkmq/internal/proctest"
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
	{"just under hash limit", strings.Repeat("x", fsname.MaxBase-len(filterPrefix))},
	{"just over hash limit", strings.Repeat("x", fsname.MaxBase-len(filterPrefix)+1)},
	{"long escapes", strings.Repeat("é", 100)},
	{"max length", strings.Repeat("a/", maxFilter/2) + "#"},
	{"max length twin", strings.Repeat("a/", maxFilter/2) + "+"},
	{"long parent", strings.Repeat("../", 1000)},
}

// TestReadableNames pins down the names of format v2 (docs/FILES.md).
func TestReadableNames(t *testing.T) {
	d := openDir(t)
	for filter, want := range map[string]string{
		"sport/tennis/+": "f_sport,tennis,+",
		"a/#":            "f_a,#",
		"$SYS/x":         "f_%24%53%59%53,x",
		"Sport/+":        "f_%53port,+",
		"a b":            "f_a%20b",
	} {
		subscribe(t, d, "forkmq.00000000.1", filter, 0)
		if _, err := d.filters.Lstat(want); err != nil {
			t.Errorf("filter %q: %v", filter, err)
		}
	}
}

// TestSweepMovesV1Files writes filter files as format v1 named them (upper
// case kept, any slot): a Matcher routes through them, and Sweep moves each
// into its v2 name without losing an entry, merging it with a v2 file of
// the same filter that a writer made meanwhile (only a test can: the broker
// sweeps before it starts any router).
func TestSweepMovesV1Files(t *testing.T) {
	d := openDir(t)
	v1 := map[string]string{ // name -> contents
		"f_Sport,+":        "forkmq-topic v1\nfilter \"Sport/+\"\n1 forkmq.00000000.1\n",
		"f_%24SYS,#":       "forkmq-topic v1\nfilter \"$SYS/#\"\n2 forkmq.00000000.2\n",
		"f_lower,+":        "forkmq-topic v1\nfilter \"lower/+\"\n0 forkmq.00000000.3\n",
		"f_A=1":            "forkmq-topic v1\nfilter \"A\"\n1 forkmq.00000000.4\n",
		"f_%41,%42,%43=0x": "forkmq-topic v1\nfilter \"A/B/C\"\n1 forkmq.00000000.5\n",
	}
	for name, data := range v1 {
		if err := d.filters.WriteFile(name, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]map[string]byte{
		"Sport/x": {"forkmq.00000000.1": 1},
		"$SYS/x":  {"forkmq.00000000.2": 2},
		"lower/x": {"forkmq.00000000.3": 0},
		"A":       {"forkmq.00000000.4": 1},
		"A/B/C":   {"forkmq.00000000.5": 1},
	}
	check := func(when string) {
		t.Helper()
		m := d.NewMatcher()
		defer m.Close()
		for topic, w := range want {
			if got := match(t, m, topic); !maps.Equal(got, w) {
				t.Errorf("%s: Match(%q) = %v, want %v", when, topic, got, w)
			}
		}
	}
	check("before Sweep")
	subscribe(t, d, "forkmq.00000000.6", "Sport/+", 2) // a v2 file for the same filter
	want["Sport/x"]["forkmq.00000000.6"] = 2
	if _, err := d.Sweep(func(string) bool { return true }); err != nil {
		t.Fatal(err)
	}
	check("after Sweep")
	names, err := readNames(d.filters)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	wantNames := []string{"f_%24%53%59%53,#", "f_%41", "f_%41,%42,%43", "f_%53port,+", "f_lower,+"}
	if !slices.Equal(names, wantNames) {
		t.Errorf("after Sweep: %q, want %q", names, wantNames)
	}
	for _, name := range names {
		data, err := d.filters.ReadFile(name)
		if v2 := bytes.HasPrefix(data, []byte(filterMagic+"\n")); err != nil || (v2 != (name != "f_lower,+")) {
			t.Errorf("%s: v2 header %v, %v; only the file of the same name stays v1", name, v2, err)
		}
	}
}

// TestHostileFiltersOnDisk subscribes every hostile filter and checks that
// each got its own file inside filters/ and nothing appeared elsewhere.
func TestHostileFiltersOnDisk(t *testing.T) {
	path := topicsDir(t)
	d := proctest.Open(t, Open, path)
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
	// Walk from the parent, so that a file next to topics/ shows too.
	parent, top := path[:strings.LastIndexByte(path, '/')], path[strings.LastIndexByte(path, '/')+1:]
	err = fs.WalkDir(os.DirFS(parent), ".", func(p string, e fs.DirEntry, err error) error {
		rel, inside := strings.CutPrefix(p, top+"/")
		switch {
		case err != nil:
			return err
		case p == "." || p == top:
		case !inside:
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
	long := strings.Repeat("z", 300)
	filters := []string{long + "/1", long + "/2", long + "/3"}
	d := openDir(t)
	d.names.Hash = func(string) string { return strings.Repeat("0", 32) }
	old := d.NewMatcher()
	defer old.Close()
	match(t, old, "x") // build before the changes, to follow them incrementally
	for i, f := range filters {
		subscribe(t, d, "forkmq.00000000."+string(rune('1'+i)), f, byte(i))
	}
	base := d.names.Base(filters[0])
	for n := range 3 {
		if _, err := d.filters.Lstat(fsname.Slot{Base: base, N: n}.Name()); err != nil {
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
	if _, err := d.filters.Lstat(fsname.Slot{Base: base, N: 2}.Name()); err == nil {
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
