package topictest

import "fmt"

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
