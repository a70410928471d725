package worker

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

// TestBuffersRouterInKeepsNothing: the read buffer lent to one client, left
// with bytes it had read ahead and not returned, is lent to the next empty:
// it returns the next client's bytes and none of the first's, and it is
// the same buffer (nothing zeroed or allocated anew).
func TestBuffersRouterInKeepsNothing(t *testing.T) {
	for _, tc := range []struct {
		name      string
		a         string // what the first client sent
		takeA     int    // how much of it the router read before the client ended
		b         string // what the next one sent
		wantFromB string
	}{
		{name: "a read ahead, half taken", a: strings.Repeat("A", 1000), takeA: 500, b: "BBBB", wantFromB: "BBBB"},
		{name: "a nothing taken", a: "AAAA", takeA: 0, b: "B", wantFromB: "B"},
		{name: "b sends nothing", a: "AAAA", takeA: 1, b: "", wantFromB: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var bufs buffers
			ra := bufs.routerIn(strings.NewReader(tc.a))
			if _, err := io.ReadFull(ra, make([]byte, tc.takeA)); err != nil {
				t.Fatal(err)
			}
			if _, err := ra.Peek(1); err != nil { // what A sent is read ahead
				t.Fatalf("peek A: %v", err)
			}
			bufs.routerDone()
			rb := bufs.routerIn(strings.NewReader(tc.b))
			if rb != ra {
				t.Fatal("the next client got a new reader, not the kept buffer")
			}
			if n := rb.Buffered(); n != 0 {
				t.Fatalf("the next client's reader holds %d bytes before reading", n)
			}
			got, err := io.ReadAll(rb)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.wantFromB || bytes.Contains(got, []byte("A")) {
				t.Fatalf("the next client read %q, want %q", got, tc.wantFromB)
			}
		})
	}
}

// TestBuffersPairInKept: the deliverer's pair buffer is pairMax+1 bytes
// (a batch and one byte more, to see a cut datagram) and the same for
// each client.
func TestBuffersPairInKept(t *testing.T) {
	var bufs buffers
	first := bufs.pairIn()
	if len(first) != pairMax+1 {
		t.Fatalf("pair buffer of %d bytes, want %d", len(first), pairMax+1)
	}
	if next := bufs.pairIn(); &next[0] != &first[0] {
		t.Fatal("the pair buffer was made anew for the next client")
	}
}

// TestBuffersQueueIn: the queue-message buffer is the same for client after
// client of the same message size (nothing allocated anew), and made anew,
// of the size asked, when the size changes (a reload of the options).
func TestBuffersQueueIn(t *testing.T) {
	var bufs buffers
	a := bufs.queueIn(896)
	b := bufs.queueIn(896)
	if len(a) != 896 || &a[0] != &b[0] {
		t.Fatalf("queueIn(896) twice: lengths %d, %d, same buffer %v", len(a), len(b), &a[0] == &b[0])
	}
	if c := bufs.queueIn(1024); len(c) != 1024 || &c[0] == &a[0] {
		t.Fatalf("queueIn(1024) after 896: length %d, same buffer %v", len(c), &c[0] == &a[0])
	}
}
