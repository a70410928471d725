package topictest

import (
	"fmt"
	"testing"
)

// BenchTopic is the topic the Match benchmarks route, and BenchFilters the
// filters of one subscriber that matches it, by kind of filter.
const BenchTopic = "sport/tennis/player1"

// BenchFilters are the filters the benchmarks subscribe one client with,
// each alone: an exact filter, one with '+', one with '#'.
func BenchFilters() []struct{ Kind, Filter string } {
	return []struct{ Kind, Filter string }{
		{"exact", "sport/tennis/player1"},
		{"plus", "sport/tennis/+"},
		{"hash", "sport/#"},
	}
}

// Population returns n distinct filters, none of which matches BenchTopic,
// in the mix a broker with many clients might hold: most literal, a quarter
// with wildcards, many sharing the benchmark topic's first levels so that a
// walk meets wide nodes (sport/tennis/ has n/8 children).
func Population(n int) []string {
	out := make([]string, n)
	for i := range out {
		switch i % 8 {
		case 0:
			out[i] = fmt.Sprintf("other/%d/+/x", i)
		case 1:
			out[i] = fmt.Sprintf("zone%d/#", i)
		case 2:
			out[i] = fmt.Sprintf("+/k%d", i)
		case 3:
			out[i] = fmt.Sprintf("sport/golf%d/+", i)
		case 4:
			out[i] = fmt.Sprintf("sport/tennis/player%d/x", i)
		default:
			out[i] = fmt.Sprintf("plant/%d/line/%d", i%50, i)
		}
	}
	return out
}

// Bench runs the Match benchmark on one kind of matcher, for 100 and 10,000
// unrelated filters and a subscriber of each of BenchFilters, so that every
// matcher is measured on the same thing. build makes a matcher holding the
// population (subscriber i is "c<i>", QoS 0) and filter (subscriber "sub",
// QoS 1), and returns a function that routes BenchTopic once with a reused
// destination and returns how many subscribers it found: one.
func Bench(b *testing.B, build func(b *testing.B, population []string, filter string) (match func() int)) {
	for _, n := range []int{100, 10_000} {
		for _, bf := range BenchFilters() {
			b.Run(fmt.Sprintf("filters=%d/%s", n, bf.Kind), func(b *testing.B) {
				match := build(b, Population(n), bf.Filter)
				if got := match(); got != 1 {
					b.Fatalf("Match(%q) found %d subscribers, want 1", BenchTopic, got)
				}
				b.ReportAllocs()
				for b.Loop() {
					match()
				}
			})
		}
	}
}
