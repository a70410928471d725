package topicdir

import (
	"fmt"
	"testing"

	"github.com/forkmq/forkmq/internal/topic/topictest"
)

// BenchmarkMatch routes topictest.BenchTopic to one subscriber whose filter
// is exact, has '+' or has '#', among 100 and 10,000 unrelated filters (the
// same benchmark as the trie's and goengine's). With no change between
// publishes the cost should not depend on the number of unrelated filters.
func BenchmarkMatch(b *testing.B) {
	for _, n := range []int{100, 10_000} {
		for _, bf := range topictest.BenchFilters() {
			b.Run(fmt.Sprintf("filters=%d/%s", n, bf.Kind), func(b *testing.B) {
				d := openDir(b)
				err := d.update(func(tx *txn) error {
					for i, f := range topictest.Population(n) {
						if _, err := tx.setEntry(fmt.Sprintf("forkmq.00000001.%d", i), f, 0); err != nil {
							return err
						}
					}
					_, err := tx.setEntry("forkmq.00000000.1", bf.Filter, 1)
					return err
				})
				if err != nil {
					b.Fatal(err)
				}
				m := d.NewMatcher()
				defer m.Close()
				dst, err := m.Match(topictest.BenchTopic, nil)
				if err != nil || len(dst) != 1 {
					b.Fatalf("Match = %v, %v", dst, err)
				}
				b.ReportAllocs()
				for b.Loop() {
					dst, _ = m.Match(topictest.BenchTopic, dst[:0])
				}
			})
		}
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
