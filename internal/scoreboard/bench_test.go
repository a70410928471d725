package scoreboard

import (
	"path/filepath"
	"testing"
	"time"
)

// The cost of counting on the hot path. Run: go test -bench . -run '^$'
// ./internal/scoreboard/ (see the package's report in the commit that
// added it for figures on the 2-core development machine).

func benchWriter(b *testing.B, file bool) *Writer {
	b.Helper()
	var board *Board
	if file {
		var err error
		board, err = Create(filepath.Join(b.TempDir(), "scoreboard"), 4)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { board.Close() })
	} else {
		board = New(4)
	}
	ref, _ := board.Allocate(Identity{Role: RoleDeliverer})
	w, err := board.Writer(ref)
	if err != nil {
		b.Fatal(err)
	}
	return w
}

// BenchmarkInc: one counter increment in a mapped file, as a worker does
// per message.
func BenchmarkInc(b *testing.B) {
	w := benchWriter(b, true)
	for b.Loop() {
		w.Inc(MessagesSent)
	}
}

// BenchmarkIncMemory: the same on the goroutine engine's in-memory board.
func BenchmarkIncMemory(b *testing.B) {
	w := benchWriter(b, false)
	for b.Loop() {
		w.Inc(MessagesSent)
	}
}

// BenchmarkIncNil: a broker without a scoreboard.
func BenchmarkIncNil(b *testing.B) {
	var w *Writer
	for b.Loop() {
		w.Inc(MessagesSent)
	}
}

// BenchmarkDelivery: what a deliverer records per message written: the
// message, its bytes, its latency.
func BenchmarkDelivery(b *testing.B) {
	w := benchWriter(b, true)
	for b.Loop() {
		w.Inc(MessagesSent)
		w.Add(BytesSent, 64)
		w.Observe(DeliveryLatency, 300*time.Microsecond)
	}
}

// BenchmarkIncParallel: every goroutine counts into its own slot, as
// processes do, to show slots on separate cache lines do not slow each
// other down.
func BenchmarkIncParallel(b *testing.B) {
	board := New(64)
	b.RunParallel(func(pb *testing.PB) {
		ref, err := board.Allocate(Identity{Role: RoleRouter})
		if err != nil {
			b.Error(err)
			return
		}
		w, _ := board.Writer(ref)
		for pb.Next() {
			w.Inc(MessagesReceived)
		}
	})
}

// BenchmarkRead: a reader's pass over a board of 1,000 busy slots, as the
// $SYS publisher or /metrics makes once per interval.
func BenchmarkRead(b *testing.B) {
	board := New(1000)
	for i := 0; i < 1000; i++ {
		ref, _ := board.Allocate(Identity{Role: RoleRouter, Queue: "forkmq.bench.1", Remote: "127.0.0.1:1"})
		w, _ := board.Writer(ref)
		w.SetClient("client", "127.0.0.1:1")
	}
	for b.Loop() {
		_ = board.Read()
	}
}
