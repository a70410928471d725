package envelope

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestPublicationRoundTrip(t *testing.T) {
	tests := []struct {
		name    string
		flags   byte
		topic   string
		payload []byte
	}{
		{"empty payload", 0, "a/b", nil},
		{"qos 1 retain", 0x03, "sensors/kitchen/temp", []byte("21.5")},
		{"long topic", 0x08, strings.Repeat("x", 65535), []byte{0, 1, 2}},
		{"binary payload", 0x04, "t", bytes.Repeat([]byte{0xff, 0x00}, 100)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := AppendPublish(nil, tt.flags, tt.topic, tt.payload)
			if Kind(env[0]) != KindPublish {
				t.Fatalf("kind %#x", env[0])
			}
			if got, want := len(env)-1, PublicationSize(len(tt.topic), len(tt.payload)); got != want {
				t.Fatalf("size %d, PublicationSize says %d", got, want)
			}
			pub, err := ParsePublication(env[1:])
			if err != nil {
				t.Fatal(err)
			}
			if pub.Flags != tt.flags || pub.Topic != tt.topic || !bytes.Equal(pub.Payload, tt.payload) {
				t.Fatalf("got %+v", pub)
			}
		})
	}
}

func TestParsePublicationRejectsShortInput(t *testing.T) {
	for _, b := range [][]byte{nil, {0}, {0, 0}, {0, 0, 5, 'a'}} {
		if _, err := ParsePublication(b); !errors.Is(err, ErrBadEnvelope) {
			t.Errorf("% x: got %v, want ErrBadEnvelope", b, err)
		}
	}
}

func TestPacketAndSpooledEnvelopes(t *testing.T) {
	if got := AppendPacket(nil, []byte{0xd0, 0x00}); !bytes.Equal(got, []byte{byte(KindPacket), 0xd0, 0x00}) {
		t.Errorf("packet envelope % x", got)
	}
	if got := AppendSpooled(nil, "12-ab-3"); string(got[1:]) != "12-ab-3" || Kind(got[0]) != KindSpooled {
		t.Errorf("spooled envelope % x", got)
	}
}

func TestBatchRoundTrip(t *testing.T) {
	envs := [][]byte{AppendPublish(nil, 0, "a", []byte("x")), Close, AppendAck(nil, 4, 7), AppendPublish(nil, 2, "t", bytes.Repeat([]byte{'p'}, 300))}
	var b []byte
	size := BatchHeader
	const at = 1_796_660_000_123_456_789
	for i, e := range envs {
		b = AppendBatched(b, e, at+int64(i)) // only the first time counts
		size += BatchedSize(len(e))
	}
	if Kind(b[0]) != KindBatch || len(b) != size {
		t.Fatalf("batch of %d bytes starting %#x, want %d starting KindBatch", len(b), b[0], size)
	}
	routedAt, body, err := SplitBatch(b[1:])
	if err != nil || routedAt != at {
		t.Fatalf("SplitBatch: time %d, %v; want %d", routedAt, err, int64(at))
	}
	var got [][]byte
	if err := Unbatch(body, func(e []byte) error { got = append(got, e); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(envs) {
		t.Fatalf("%d envelopes back, want %d", len(got), len(envs))
	}
	for i := range envs {
		if !bytes.Equal(got[i], envs[i]) {
			t.Errorf("envelope %d: %x, want %x", i, got[i], envs[i])
		}
	}
	if _, _, err := SplitBatch(make([]byte, BatchHeader-2)); !errors.Is(err, ErrBadEnvelope) {
		t.Errorf("SplitBatch of a short batch = %v, want ErrBadEnvelope", err)
	}
	for _, bad := range [][]byte{{5, 1}, {0}, {0x80}} {
		if err := Unbatch(bad, func([]byte) error { return nil }); !errors.Is(err, ErrBadEnvelope) {
			t.Errorf("Unbatch(%x) = %v, want ErrBadEnvelope", bad, err)
		}
	}
}

func TestSendable(t *testing.T) {
	one := AppendBatched(nil, Close, 7)
	two := AppendBatched(append([]byte(nil), one...), Close, 7)
	for _, c := range []struct {
		name  string
		batch []byte
		n     int
		limit int
		want  []byte
	}{
		{"a batch that fits", one, 1, len(one), one},
		{"one envelope whose framing does not fit", one, 1, len(one) - 1, Close},
		{"two envelopes", two, 2, len(two), two},
	} {
		if got := Sendable(c.batch, c.n, len(Close), c.limit); !bytes.Equal(got, c.want) {
			t.Errorf("%s: % x, want % x", c.name, got, c.want)
		}
	}
}

// TestSegmentReference: a KindSegment envelope carries its place and
// length whole; a body of another size, or negative numbers, is refused.
func TestSegmentReference(t *testing.T) {
	tests := []struct {
		name    string
		body    []byte
		off, n  int64
		wantErr bool
	}{
		{"first copy", AppendSegment(nil, 0, 16<<10)[1:], 0, 16 << 10, false},
		{"far into the segment", AppendSegment(nil, 1<<42, 64<<10)[1:], 1 << 42, 64 << 10, false},
		{"short", AppendSegment(nil, 4096, 1)[1:15], 0, 0, true},
		{"long", append(AppendSegment(nil, 4096, 1)[1:], 0), 0, 0, true},
		{"negative offset", AppendSegment(nil, -4096, 1)[1:], 0, 0, true},
		{"negative length", AppendSegment(nil, 0, -1)[1:], 0, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			off, n, err := ParseSegment(tt.body)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want an error: %v", err, tt.wantErr)
			}
			if err != nil {
				if !errors.Is(err, ErrBadEnvelope) {
					t.Errorf("err = %v, not ErrBadEnvelope", err)
				}
				return
			}
			if off != tt.off || n != tt.n {
				t.Errorf("got %d+%d, want %d+%d", off, n, tt.off, tt.n)
			}
		})
	}
	if env := AppendSegment(nil, 1, 2); len(env) != SegmentSize || Kind(env[0]) != KindSegment {
		t.Errorf("envelope % x: want %d bytes of kind %#x", env, SegmentSize, KindSegment)
	}
}
