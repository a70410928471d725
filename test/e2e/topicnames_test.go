package e2e

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestTopicNamesStayInStateDir: topic names that look like paths escaping
// the topic directory are ordinary topic names [MQTT-4.7.3]: each reaches
// exactly the subscribers of that name, a name never reaches the subscriber
// of the path it would naively normalise to, and the broker creates nothing
// outside its state directory.
func TestTopicNamesStayInStateDir(t *testing.T) {
	t.Parallel()
	// Names that try to escape, or that a careless mapping to files mangles.
	tricky := []string{
		"../../etc/x",
		"/abs",
		"a/../../b",
		"..",
		"../..",
		".",
		"a/./b",
		"a//b",
		"a/b/",
		"/",
		"//",
		"long/" + strings.Repeat("x", 60_000), // one 60 KB level
		strings.Repeat("d/", 20_000) + "deep", // 20 001 levels
		"température/€/日本語/🙂",                 // non-ASCII
		"100%/x%2F..%2Fy",                     // percent signs
		`a\..\..\b`,                           // backslashes
		`C:\Windows\x`,                        //
		"a/b\u00ad/\u00a0",                    // soft hyphen and no-break space (DEL closes the connection: TestStrictEdges)
		"topics/../clients/x",                 // sibling state folders
		"spool/tmp",                           //
	}
	// What the tricky names collapse to under a naive path mapping.
	naive := []string{
		"etc/x", "abs", "b", "a/b", "x", "a", "long", "deep", "d/deep",
		"100%/x/y", "a/b/c", "Windows/x", "clients/x", "spool", "tmp", "etc",
	}
	forEachEngine(t, func(t *testing.T, engine string) {
		parent := t.TempDir()
		stateDir := filepath.Join(parent, "state")
		outside := []string{"/abs", "/etc/x", "/b", "/x", "/deep"}
		before := snapshotOutside(t, parent, stateDir, outside)
		t.Cleanup(func() { // runs after the broker stopped
			after := snapshotOutside(t, parent, stateDir, outside)
			for _, p := range after {
				if !slices.Contains(before, p) {
					t.Errorf("the broker created %s outside its state directory", abbrev(p))
				}
			}
		})

		b := startBroker(t, withEngine(engine), withStateDir(stateDir))
		trickySub := connectPaho(t, b, newClientID("tricky"))
		trickyIn := subscribe(t, trickySub, append(slices.Clone(tricky), "fence/names")...)
		naiveSub := connectPaho(t, b, newClientID("naive"))
		naiveIn := subscribe(t, naiveSub, append(slices.Clone(naive), "fence/names")...)
		pub := connectPaho(t, b, newClientID("namepub"))

		for _, name := range append(slices.Clone(tricky), naive...) {
			publish(t, pub, name, []byte(name))
		}
		for who, c := range map[string]struct {
			in   *inbox
			want []string
		}{"tricky": {trickyIn, tricky}, "naive": {naiveIn, naive}} {
			got := fence(t, pub, c.in, "fence/names")
			checkTopics(t, who+" subscriber", got, c.want)
			for _, m := range got {
				if string(m.payload) != m.topic {
					t.Errorf("%s subscriber: message on %q carries %q", who, abbrev(m.topic), abbrev(string(m.payload)))
				}
			}
		}
		b.assertClean(t, 3)
	})
}

// snapshotOutside lists every path under parent except stateDir's tree, and
// which of the absolute paths in extra exist.
func snapshotOutside(t testing.TB, parent, stateDir string, extra []string) []string {
	t.Helper()
	var paths []string
	err := filepath.WalkDir(parent, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if path == stateDir {
			return filepath.SkipDir
		}
		paths = append(paths, path)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range extra {
		if _, err := os.Lstat(p); err == nil {
			paths = append(paths, p)
		}
	}
	return paths
}
