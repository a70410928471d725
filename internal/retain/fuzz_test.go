package retain

import (
	"bytes"
	"testing"
)

// FuzzReadHeader feeds arbitrary bytes to the retained-file header reader
// (a file a crashed writer may have torn): it must never panic, and a header
// that reads must encode back to what was read.
func FuzzReadHeader(f *testing.F) {
	f.Add(encodeHeader("a/b", 1, 5))
	f.Add([]byte("forkmq-retained v1\nfree\n"))
	f.Add([]byte("forkmq-retained v1\ntopic \"x\"\nqos 9 size -1\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := readHeader(bytes.NewReader(b))
		if err != nil {
			return
		}
		if h.free {
			return
		}
		if h2, err := readHeader(bytes.NewReader(encodeHeader(h.topic, h.qos, int(h.size)))); err != nil || h2.topic != h.topic || h2.qos != h.qos || h2.size != h.size {
			t.Fatalf("header %q read as %+v; re-encoded it reads %+v, %v", b, h, h2, err)
		}
	})
}
