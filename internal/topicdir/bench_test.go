package topicdir

import (
	"fmt"
	"testing"
)

// BenchmarkMatch routes one topic with 10 and with 10,000 unrelated filters
// in the directory, a quarter of them with wildcards. With no change between
// publishes the cost should not depend on the number of unrelated filters.
func BenchmarkMatch(b *testing.B) {
	for _, unrelated := range []int{10, 10_000} {
		b.Run(fmt.Sprintf("unrelated=%d", unrelated), func(b *testing.B) {
			d := openDir(b)
			subscribe(b, d, "forkmq.00000000.1", "sport/tennis/+", 1)
			subscribe(b, d, "forkmq.00000000.2", "sport/#", 0)
			subscribe(b, d, "forkmq.00000000.3", "+/tennis/#", 2)
			subscribe(b, d, "forkmq.00000000.1", "sport/tennis/player1", 2)
			err := d.update(func(tx *txn) error {
				for i := range unrelated {
					var f string
					switch i % 8 {
					case 0:
						f = fmt.Sprintf("other/%d/+/x", i)
					case 1:
						f = fmt.Sprintf("zone%d/#", i)
					case 2:
						f = fmt.Sprintf("+/k%d", i)
					case 3:
						f = fmt.Sprintf("sport/golf%d/+", i)
					default:
						f = fmt.Sprintf("plant/%d/line/%d", i%50, i)
					}
					if _, err := tx.setEntry(fmt.Sprintf("forkmq.00000001.%d", i), f, 0); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
			m := d.NewMatcher()
			defer m.Close()
			dst, err := m.Match("sport/tennis/player1", nil)
			if err != nil || len(dst) != 3 {
				b.Fatalf("Match = %v, %v", dst, err)
			}
			b.ReportAllocs()
			for b.Loop() {
				dst, _ = m.Match("sport/tennis/player1", dst[:0])
			}
		})
	}
}

// BenchmarkMatchAfterChange measures a publish that follows one Subscribe
// by another client: the Matcher reads one log line and one filter file.
func BenchmarkMatchAfterChange(b *testing.B) {
	d := openDir(b)
	subscribe(b, d, "forkmq.00000000.1", "sport/tennis/+", 1)
	m := d.NewMatcher()
	defer m.Close()
	var dst []Subscriber
	qos := byte(0)
	for b.Loop() {
		b.StopTimer()
		qos = (qos + 1) % 3
		subscribe(b, d, "forkmq.00000000.2", "sport/#", qos)
		b.StartTimer()
		dst, _ = m.Match("sport/tennis/player1", dst[:0])
	}
}
