package packet

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"
	"testing/iotest"
)

// FuzzRead feeds arbitrary bytes to the decoder. It must never panic; Read
// through partial readers and Decode must agree; and whatever decodes must
// re-encode to the same bytes and decode again to the same packet.
func FuzzRead(f *testing.F) {
	for _, g := range golden {
		f.Add(g.b)
	}
	for _, m := range malformed {
		f.Add(m.b)
	}
	f.Add([]byte{0x30, 0xff, 0xff, 0xff, 0x7f, 0x00})
	f.Add([]byte{0x30, 0x83, 0x00, 0x00, 0x01, 't', 'x'}) // non-minimal remaining length
	f.Fuzz(func(t *testing.T, data []byte) {
		const max = 1 << 20
		p, n, err := Decode(data, max)
		for _, wrap := range []func(io.Reader) io.Reader{iotest.OneByteReader, iotest.HalfReader} {
			rp, rerr := Read(wrap(bytes.NewReader(data)), max)
			if (err == nil) != (rerr == nil) || !reflect.DeepEqual(p, rp) {
				t.Fatalf("Decode = %+v, %v but Read = %+v, %v", p, err, rp, rerr)
			}
		}
		if err != nil {
			var e *Error
			if !errors.As(err, &e) && err != io.ErrUnexpectedEOF {
				t.Fatalf("Decode error %v (%T) is neither *Error nor io.ErrUnexpectedEOF", err, err)
			}
			return
		}
		enc, err := Encode(p)
		if err != nil {
			t.Fatalf("decoded %+v does not encode: %v", p, err)
		}
		// The remaining length may have been sent in more bytes than
		// needed; everything else must match exactly.
		in, out := data[:n], enc
		if in[0] != out[0] || !bytes.Equal(body(t, in), body(t, out)) {
			t.Fatalf("re-encoding differs:\n in % x\nout % x", in, out)
		}
		p2, n2, err := Decode(enc, max)
		if err != nil || n2 != len(enc) || !reflect.DeepEqual(p, p2) {
			t.Fatalf("re-encoded packet decodes to %+v, %v; want %+v", p2, err, p)
		}
	})
}

// body returns the bytes after the fixed header of one whole packet.
func body(t *testing.T, b []byte) []byte {
	h, n, err := decodeHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	return b[n : n+h.RemainingLength]
}

var (
	smallPublish = &Publish{QoS: AtLeastOnce, Topic: "sensors/kitchen/temperature", PacketID: 42, Payload: []byte(`{"celsius":21.5}`)}
	sinkPacket   Packet
)

func BenchmarkReadPublish(b *testing.B) {
	data, _ := Encode(smallPublish)
	r := bytes.NewReader(data)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		r.Reset(data)
		p, err := Read(r, 0)
		if err != nil {
			b.Fatal(err)
		}
		sinkPacket = p
	}
}

func BenchmarkDecodePublish(b *testing.B) {
	data, _ := Encode(smallPublish)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		p, _, err := Decode(data, 0)
		if err != nil {
			b.Fatal(err)
		}
		sinkPacket = p
	}
}

func BenchmarkAppendPublish(b *testing.B) {
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = Append(buf[:0], smallPublish); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkWritePublish(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if err := Write(io.Discard, smallPublish); err != nil {
			b.Fatal(err)
		}
	}
}

func TestPublishAllocations(t *testing.T) {
	data, _ := Encode(smallPublish)
	r := bytes.NewReader(data)
	if n := testing.AllocsPerRun(100, func() {
		r.Reset(data)
		if _, err := Read(r, 0); err != nil {
			t.Fatal(err)
		}
	}); n > 3 {
		t.Errorf("Read of a small PUBLISH allocates %v times, want at most 3 (body, packet, topic)", n)
	}
	buf := make([]byte, 0, 256)
	if n := testing.AllocsPerRun(100, func() { buf, _ = Append(buf[:0], smallPublish) }); n != 0 {
		t.Errorf("Append of a small PUBLISH allocates %v times", n)
	}
}
