package scenario

import (
	"bufio"
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/forkmq/forkmq/bench/internal/tally"
	"github.com/forkmq/forkmq/internal/rawmqtt"
)

// sink is a broker that accepts one connection, answers CONNECT and reads
// and discards everything after it.
func sink(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		r := bufio.NewReader(c)
		r.ReadByte()         // CONNECT
		n, _ := r.ReadByte() // short remaining length
		io.CopyN(io.Discard, r, int64(n))
		c.Write([]byte{0x20, 2, 0, 0})
		io.Copy(io.Discard, r)
	}()
	return ln.Addr().String()
}

// A paced publisher sends rate × duration messages, on schedule: the
// generator's own lateness stays far below the run (its timer resolution
// is about a millisecond, whatever the machine's load, which is not
// measured here).
func TestPumpPacedKeepsItsRate(t *testing.T) {
	conn, err := rawmqtt.Dial(context.Background(), sink(t), rawmqtt.Options{ClientID: "paced", KeepAlive: keepAlive})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	f := &flow{clock: tally.NewClock(), grace: time.Second, inflight: maxUnacked}
	p := &publisher{conn: conn, topic: "t", lag: tally.NewHistogram(), ackWake: make(chan struct{}, 1)}
	const rate, run = 2000.0, 500 * time.Millisecond
	start := time.Now()
	if err := f.pumpPaced(context.Background(), p, filler(64), rate, start, start.Add(run)); err != nil {
		t.Fatal(err)
	}
	want := int64(rate * run.Seconds())
	if got := p.sent.Load(); got != want {
		t.Fatalf("sent %d messages, want %d (rate × duration)", got, want)
	}
	if took := time.Since(start); took < run-time.Duration(float64(time.Second)/rate) || took > run+time.Second { // the last message is due one interval before the end
		t.Fatalf("pacing took %v for a %v schedule", took, run)
	}
	if p.lag.Count() != uint64(want) {
		t.Fatalf("lateness recorded for %d messages, want %d", p.lag.Count(), want)
	}
}

func TestReceiptsParseMosquittoSubOutput(t *testing.T) {
	out := "1 1700000000.000000001\n64 1700000001.500000000\nnot a line\n64 1700000002.000000000\n64 1700000003.000000000\n"
	var r receipts
	r.read(strings.NewReader(out), 64)
	n, first, last := r.span()
	if r.markers() != 1 || n != 3 || first != 1700000001.5 || last != 1700000003 {
		t.Fatalf("markers %d, n %d, first %v, last %v", r.markers(), n, first, last)
	}
}
