package topictrie

import (
	"slices"
	"testing"
)

// TestEach: every filter with subscribers, spelled as subscribed, empty
// levels and wildcards included.
func TestEach(t *testing.T) {
	tr := NewShared[string]()
	filters := []string{"#", "+/x", "/a", "a", "a/+/c", "a/b", "a/#", "$SYS/broker/#"}
	for i, f := range filters {
		tr.Subscribe(f, string(rune('A'+i)), 1)
	}
	tr.Subscribe("a/b", "Z", 0)
	var got []string
	n := 0
	tr.Each(func(filter string, subs []Sub[string]) {
		got = append(got, filter)
		n += len(subs)
	})
	want := slices.Clone(filters)
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) || n != len(filters)+1 {
		t.Errorf("Each visited %q (%d subscribers), want %q (%d)", got, n, want, len(filters)+1)
	}
}
