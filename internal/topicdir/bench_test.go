package topicdir

import (
	"fmt"
	"testing"

	"github.com/forkmq/forkmq/internal/topic/topictest"
)

// BenchmarkMatch is topictest's Match benchmark on a Matcher of the files.
// With no change between publishes the cost should not depend on the
// number of unrelated filters.
func BenchmarkMatch(b *testing.B) {
	topictest.Bench(b, func(b *testing.B, population []string, filter string) func() int {
		d := openDir(b)
		err := d.update(func(tx *txn) error {
			for i, f := range population {
				if _, err := tx.setEntry(fmt.Sprintf("forkmq.00000001.%d", i), f, 0); err != nil {
					return err
				}
			}
			_, err := tx.setEntry("forkmq.00000000.1", filter, 1)
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
		m := d.NewMatcher()
		b.Cleanup(func() { m.Close() })
		var dst []Subscriber
		return func() int {
			dst, err = m.Match(topictest.BenchTopic, dst[:0])
			if err != nil {
				b.Fatal(err)
			}
			return len(dst)
		}
	})
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
