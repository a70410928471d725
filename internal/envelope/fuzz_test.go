package envelope

import (
	"bytes"
	"testing"
)

// FuzzParse feeds arbitrary queue messages to the envelope parsers: they
// must never panic, and a publication that parses must encode back to the
// same bytes.
func FuzzParse(f *testing.F) {
	f.Add(AppendPublish(nil, 0x03, "a/b", []byte("x"))[1:])
	f.Add([]byte{0, 0})
	f.Add([]byte{0, 0xff, 0xff, 'a'})
	f.Add(AppendAck(nil, 4, 7)[1:])
	f.Add(AppendSegment(nil, 1<<40, 16<<10)[1:])
	f.Add(AppendMailbox(nil, "0001-2-3", AppendPublish(nil, 0x02, "t", []byte("p")))[1:])
	f.Fuzz(func(t *testing.T, b []byte) {
		if pub, err := ParsePublication(b); err == nil {
			if got := AppendPublication(nil, pub.Flags, pub.Topic, pub.Payload); !bytes.Equal(got, b) {
				t.Fatalf("re-encoded % x, want % x", got, b)
			}
		}
		if at, envs, err := SplitBatch(b); err == nil {
			var again []byte
			n := 0
			if Unbatch(envs, func(e []byte) error { again = AppendBatched(again, e, at); n++; return nil }) == nil && n > 0 {
				if !bytes.Equal(again[1:], b) {
					t.Fatalf("batch re-encoded % x, want % x", again[1:], b)
				}
			}
		}
		if off, n, err := ParseSegment(b); err == nil {
			if got := AppendSegment(nil, off, n)[1:]; !bytes.Equal(got, b) {
				t.Fatalf("segment reference re-encoded % x, want % x", got, b)
			}
		}
		if name, env := ParseMailbox(b); !bytes.Equal(AppendMailbox(nil, name, env)[1:], b) {
			t.Fatalf("doorbell re-encoded % x, want % x", AppendMailbox(nil, name, env)[1:], b)
		}
		if typ, id, err := ParseAck(b); err == nil {
			if got := AppendAck(nil, typ, id)[1:]; !bytes.Equal(got, b) {
				t.Fatalf("ack re-encoded % x, want % x", got, b)
			}
		}
	})
}
