package topictest

import (
	"slices"
	"testing"

	"github.com/forkmq/forkmq/internal/topic"
)

// TestTable checks the table itself: valid filters and names, no pair
// twice, and the reference agrees with every row.
func TestTable(t *testing.T) {
	seen := map[pair]bool{}
	for _, c := range Cases() {
		if err := topic.ValidateFilter(c.Filter); err != nil {
			t.Errorf("filter %q: %v", c.Filter, err)
		}
		if err := topic.ValidateName(c.Topic); err != nil {
			t.Errorf("topic %q: %v", c.Topic, err)
		}
		if seen[pair{c.Filter, c.Topic}] {
			t.Errorf("pair %q %q twice", c.Filter, c.Topic)
		}
		seen[pair{c.Filter, c.Topic}] = true
		if c.Spec == "" {
			t.Errorf("pair %q %q cites nothing", c.Filter, c.Topic)
		}
		if got := Reference(c.Filter, c.Topic); got != c.Match {
			t.Errorf("Reference(%q, %q) = %v, want %v [%s]", c.Filter, c.Topic, got, c.Match, c.Spec)
		}
	}
}

// TestCheckersCatchMistakes runs the checkers over a matcher that is wrong
// in each way they must notice.
func TestCheckersCatchMistakes(t *testing.T) {
	mistakes := []struct {
		name  string
		match func(filter, topic string) bool
		twice bool
	}{
		{"correct", Reference, false},
		{"twice", Reference, true},
		{"'#' misses its parent level", func(f, tp string) bool {
			return Reference(f, tp) && !(f == "sport/#" && tp == "sport")
		}, false},
		{"'$' matched by '#'", func(f, tp string) bool { return Reference(f, tp) || f == "#" }, false},
	}
	for _, m := range mistakes {
		for _, kind := range []string{"filters", "topics"} {
			rec := &recorder{TB: t}
			var added []string
			add := func(s string) { added = append(added, s) }
			query := func(q string) []string {
				var out []string
				for _, a := range added {
					f, tp := a, q
					if kind == "topics" {
						f, tp = q, a
					}
					if m.match(f, tp) {
						out = append(out, a)
						if m.twice {
							out = append(out, a)
						}
					}
				}
				return out
			}
			if kind == "filters" {
				CheckFilters(rec, add, query)
			} else {
				CheckTopics(rec, add, query)
			}
			if want := m.name != "correct"; rec.failed != want {
				t.Errorf("%s, %s: reported failure = %v, want %v", m.name, kind, rec.failed, want)
			}
		}
	}
}

type recorder struct {
	testing.TB
	failed bool
}

func (r *recorder) Helper()                   {}
func (r *recorder) Errorf(string, ...any)     { r.failed = true }
func (r *recorder) Fatalf(f string, a ...any) { r.failed = true }

func TestPopulation(t *testing.T) {
	p := Population(10_000)
	if len(slices.Compact(slices.Sorted(slices.Values(p)))) != len(p) {
		t.Error("Population repeats a filter")
	}
	for _, f := range p {
		if err := topic.ValidateFilter(f); err != nil {
			t.Errorf("%q: %v", f, err)
		}
		if Reference(f, BenchTopic) {
			t.Errorf("%q matches the benchmark topic", f)
		}
	}
	for _, b := range BenchFilters() {
		if !Reference(b.Filter, BenchTopic) {
			t.Errorf("%s filter %q does not match %q", b.Kind, b.Filter, BenchTopic)
		}
	}
}
