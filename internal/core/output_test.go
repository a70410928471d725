package core

import (
	"bytes"
	"net"
	"os"
	"testing"
)

// buffersWriter records each call: WriteBuffers takes at most limit bytes
// a call (a socket that takes part of a burst), Write the rest.
type buffersWriter struct {
	out   bytes.Buffer
	limit int64
	calls []string
}

func (w *buffersWriter) WriteBuffers(bufs *net.Buffers) (int64, error) {
	var n int64
	for len(*bufs) > 0 && n < w.limit {
		b := (*bufs)[0]
		take := min(int64(len(b)), w.limit-n)
		w.out.Write(b[:take])
		n += take
		if take == int64(len(b)) {
			*bufs = (*bufs)[1:]
		} else {
			(*bufs)[0] = b[take:]
		}
	}
	w.calls = append(w.calls, "writev")
	return n, nil
}

func (w *buffersWriter) Write(p []byte) (int, error) {
	w.calls = append(w.calls, "write")
	return w.out.Write(p)
}

// TestOutputShare: a large payload is written from the caller's slice, not
// a copy; a small one is copied into the run; either way the bytes go out
// in order, and a burst goes to a BuffersWriter in one call while the
// socket takes it whole.
func TestOutputShare(t *testing.T) {
	big := bytes.Repeat([]byte("p"), 16<<10)
	small := []byte("small payload")
	file, err := os.CreateTemp(t.TempDir(), "payload")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := file.WriteString("from a file"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		build   func(o *Output)
		want    string
		limit   int64
		calls   []string
		aliases bool // the output's first shared run is big itself
	}{
		{
			name:    "large payload shared, one writev",
			build:   func(o *Output) { o.Write([]byte("h1")); o.Share(big); o.Write([]byte("h2")); o.Share(big) },
			want:    "h1" + string(big) + "h2" + string(big),
			limit:   1 << 30,
			calls:   []string{"writev"},
			aliases: true,
		},
		{
			name:  "small payload copied into the run, one write",
			build: func(o *Output) { o.Write([]byte("h1")); o.Share(small); o.Write([]byte("h2")) },
			want:  "h1" + string(small) + "h2",
			limit: 1 << 30,
			calls: []string{"write"},
		},
		{
			name:    "partial writes resume where the socket stopped",
			build:   func(o *Output) { o.Write([]byte("h1")); o.Share(big); o.Write([]byte("h2")) },
			want:    "h1" + string(big) + "h2",
			limit:   5000,
			calls:   []string{"writev", "writev", "writev", "writev"},
			aliases: true,
		},
		{
			name: "a file region between runs",
			build: func(o *Output) {
				o.Write([]byte("h1"))
				o.Share(big)
				o.AppendFile(file, 5, 6)
				o.Write([]byte("h2"))
			},
			want:    "h1" + string(big) + "a file" + "h2",
			limit:   1 << 30,
			calls:   []string{"writev", "write", "write"},
			aliases: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var o Output
			tt.build(&o)
			if tt.aliases {
				shared := false
				for _, s := range o.segs {
					shared = shared || (s.f == nil && &s.b[0] == &big[0])
				}
				if !shared {
					t.Error("the large payload was copied, not shared")
				}
			}
			w := &buffersWriter{limit: tt.limit}
			n, err := o.WriteTo(w)
			if err != nil {
				t.Fatal(err)
			}
			if got := w.out.String(); got != tt.want {
				t.Errorf("wrote %d bytes, not the %d expected in order", len(got), len(tt.want))
			}
			if n != int64(len(tt.want)) || o.Pending() != 0 {
				t.Errorf("WriteTo = %d, pending %d; want %d, 0", n, o.Pending(), len(tt.want))
			}
			if len(w.calls) != len(tt.calls) {
				t.Errorf("calls %v, want %v", w.calls, tt.calls)
			}
		})
	}
}

// TestOutputHeadersShareTheArena: the headers between shared payloads are
// cut from one buffer (after the small first one), not one buffer each, and the buffer is used again
// from its front once everything is written.
func TestOutputHeadersShareTheArena(t *testing.T) {
	payload := make([]byte, shareMin)
	var o Output
	for range 100 {
		o.Write([]byte("header"))
		o.Share(payload)
	}
	arenas := map[*byte]bool{} // by the last byte of each run's backing array
	for i, s := range o.segs {
		if i%2 == 0 {
			arenas[&s.b[:cap(s.b)][cap(s.b)-1]] = true
			if string(s.b) != "header" {
				t.Fatalf("run %d holds %q", i, s.b)
			}
		}
	}
	// Two: the Output's small first arena (firstArena), then one of
	// bufSize for the rest.
	if len(arenas) > 2 {
		t.Errorf("100 headers took %d buffers", len(arenas))
	}
	first := &o.arena[:1][0]
	var w buffersWriter
	w.limit = 1 << 30
	if _, err := o.WriteTo(&w); err != nil {
		t.Fatal(err)
	}
	if w.out.Len() != 100*(6+shareMin) {
		t.Fatalf("wrote %d bytes, want %d", w.out.Len(), 100*(6+shareMin))
	}
	if allocs := testing.AllocsPerRun(10, func() {
		o.Write([]byte("header"))
		o.Share(payload)
		o.WriteTo(&w)
	}); allocs > 2 {
		t.Errorf("a written burst allocates %v times", allocs)
	}
	if &o.arena[:1][0] != first {
		t.Error("the arena was not used again once everything was written")
	}
}

// TestOutputWriteNeverExtendsShared: a packet written after a shared slice
// starts a run of its own, even when the slice has spare capacity — the
// slice is a message's, which other subscribers read.
func TestOutputWriteNeverExtendsShared(t *testing.T) {
	backing := make([]byte, shareMin, 2*shareMin)
	var o Output
	o.Share(backing)
	o.Write([]byte("next"))
	if got := backing[:shareMin+4][shareMin:]; string(got) == "next" {
		t.Fatal("Write appended into the shared slice")
	}
	var buf bytes.Buffer
	if _, err := o.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	if buf.Len() != shareMin+4 || buf.String()[shareMin:] != "next" {
		t.Errorf("wrote %d bytes, want %d ending in next", buf.Len(), shareMin+4)
	}
}

// TestOutputFirstArena: a new Output's first packet takes a small arena
// (a CONNACK does not cost 16 KiB); a burst past it moves to full-size
// arenas, and the bytes go out in order either way.
func TestOutputFirstArena(t *testing.T) {
	tests := []struct {
		name    string
		writes  []int // sizes, written before one flush
		wantCap int   // the arena's capacity after them
	}{
		{"a CONNACK", []int{4}, firstArena},
		{"small packets that fit", []int{4, 5, 100, 300}, firstArena},
		{"a burst past the first arena", []int{4, firstArena}, bufSize},
		{"a first packet larger than both", []int{bufSize + 1}, bufSize + 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var o Output
			var want []byte
			for i, n := range tt.writes {
				p := bytes.Repeat([]byte{byte('a' + i)}, n)
				o.Write(p)
				want = append(want, p...)
			}
			if got := cap(o.arena); got != tt.wantCap {
				t.Errorf("arena capacity %d, want %d", got, tt.wantCap)
			}
			var w buffersWriter
			w.limit = 1 << 30
			if _, err := o.WriteTo(&w); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(w.out.Bytes(), want) {
				t.Errorf("wrote %d bytes, not the %d written in order", w.out.Len(), len(want))
			}
		})
	}
}
