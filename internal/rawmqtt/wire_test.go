package rawmqtt

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// TestEncodersGolden: each builder against bytes written out by hand from
// the specification, a comment per field.
func TestEncodersGolden(t *testing.T) {
	every := Connect{ProtocolName: "MQTT", Level: 4, KeepAlive: 60, ClientID: "c", Username: "u", Password: "p"}.
		WithWill("w", "m", 1, true)
	every.Flags |= ConnectUsername | ConnectPassword
	long := Publish{Topic: "t", Payload: strings.Repeat("x", 200), QoS: 1, ID: 0x0102}.Bytes()
	for _, tc := range []struct {
		name string
		got  []byte
		want []byte
	}{
		{"CONNECT", Connect{ProtocolName: "MQTT", Level: 4, Flags: ConnectClean, KeepAlive: 30, ClientID: "ab"}.Bytes(), []byte{
			0x10, 14, // CONNECT, remaining length
			0, 4, 'M', 'Q', 'T', 'T', // protocol name
			4,     // level 3.1.1
			0x02,  // clean session
			0, 30, // keep-alive
			0, 2, 'a', 'b', // client identifier
		}},
		{"CONNECT every field", every.Bytes(), []byte{
			0x10, 25,
			0, 4, 'M', 'Q', 'T', 'T',
			4,
			0xec,  // user name, password, will retain, will QoS 1, will
			0, 60, // keep-alive
			0, 1, 'c', // client identifier
			0, 1, 'w', // will topic
			0, 1, 'm', // will message
			0, 1, 'u', // user name
			0, 1, 'p', // password
		}},
		{"CONNECT persistent with reserved flag", func() []byte {
			c := MQTT311("").Persistent()
			c.Flags |= ConnectReserved
			return c.Bytes()
		}(), []byte{0x10, 12, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x01, 0, 0, 0, 0}},
		{"SUBSCRIBE", Subscribe(7, 1, "a/+", "b"), []byte{
			0x82, 12, // SUBSCRIBE with reserved flags 0010
			0, 7, // packet identifier
			0, 3, 'a', '/', '+', 1, // filter, QoS
			0, 1, 'b', 1,
		}},
		{"UNSUBSCRIBE", Unsubscribe(0x0203, "a"), []byte{0xa2, 5, 2, 3, 0, 1, 'a'}},
		{"PUBLISH QoS 0", Publish{Topic: "t", Payload: "hi"}.Bytes(), []byte{
			0x30, 5, // PUBLISH QoS 0
			0, 1, 't', // topic
			'h', 'i', // payload
		}},
		{"PUBLISH QoS 1", long[:8], []byte{
			0x32, 205, 1, // QoS 1; remaining length 205 takes two bytes
			0, 1, 't',
			1, 2, // packet identifier
		}},
		{"PUBLISH QoS 2 DUP RETAIN", Publish{Topic: "t", QoS: 2, Dup: true, Retain: true, ID: 9}.Bytes(), []byte{0x3d, 5, 0, 1, 't', 0, 9}},
		{"PUBLISH QoS 3 as asked", Publish{Topic: "t", QoS: 3, ID: 1}.Bytes(), []byte{0x36, 5, 0, 1, 't', 0, 1}},
		{"PUBREL", Ack(HeaderPubrel, 0xbeef), []byte{0x62, 2, 0xbe, 0xef}},
		{"PINGREQ", Pingreq(), []byte{0xc0, 0}},
		{"DISCONNECT", Disconnect(), []byte{0xe0, 0}},
		{"varint max", Varint(MaxRemaining), []byte{0xff, 0xff, 0xff, 0x7f}},
		{"varint past max", Varint(MaxRemaining + 1), []byte{0x80, 0x80, 0x80, 0x80, 0x01}},
		{"frame with a reserved type", Frame(0xf0, U16(1), Str("x")), []byte{0xf0, 5, 0, 1, 0, 1, 'x'}},
		{"frame claiming 256 MiB", FrameClaiming(HeaderConnect, MaxRemaining, []byte{0, 4}), []byte{0x10, 0xff, 0xff, 0xff, 0x7f, 0, 4}},
	} {
		if !bytes.Equal(tc.got, tc.want) {
			t.Errorf("%s = % x, want % x", tc.name, tc.got, tc.want)
		}
	}
	if len(long) != 3+205 {
		t.Errorf("QoS 1 PUBLISH of 200 payload bytes is %d bytes, want 208", len(long))
	}
}

// TestDecode: each decoder on well-formed and malformed bodies.
func TestDecode(t *testing.T) {
	pub := func(h byte, body ...[]byte) Packet { return Packet{Header: h, Body: bytes.Join(body, nil)} }
	for _, tc := range []struct {
		name   string
		decode func() (any, error)
		want   any // nil: want ErrMalformed
	}{
		{"PUBLISH QoS 0", func() (any, error) { return pub(0x31, Str("a/b"), []byte("pay")).Publish() },
			Publish{Topic: "a/b", Payload: "pay", Retain: true}},
		{"PUBLISH QoS 2 DUP", func() (any, error) { return pub(0x3c, Str("a"), U16(7), []byte("p")).Publish() },
			Publish{Topic: "a", Payload: "p", QoS: 2, Dup: true, ID: 7}},
		{"PUBLISH QoS 3", func() (any, error) { return pub(0x36, Str("a"), U16(7)).Publish() }, nil},
		{"PUBLISH identifier 0", func() (any, error) { return pub(0x32, Str("a"), U16(0)).Publish() }, nil},
		{"PUBLISH topic past body", func() (any, error) { return pub(0x30, U16(5), []byte("ab")).Publish() }, nil},
		{"PUBLISH without identifier", func() (any, error) { return pub(0x32, Str("a"), []byte{1}).Publish() }, nil},
		{"PUBLISH empty body", func() (any, error) { return pub(0x30).Publish() }, nil},
		{"not a PUBLISH", func() (any, error) { return pub(0x40, U16(1)).Publish() }, nil},
		{"payload", func() (any, error) {
			p, err := pub(0x32, Str("a"), U16(7), []byte("xyz")).Payload()
			return string(p), err
		}, "xyz"},
		{"PUBLISH id", func() (any, error) { return pub(0x34, Str("a"), U16(9)).ID() }, uint16(9)},
		{"QoS 0 PUBLISH id", func() (any, error) { return pub(0x30, Str("a")).ID() }, nil},
		{"PUBREL id", func() (any, error) { return pub(HeaderPubrel, U16(0x1234)).ID() }, uint16(0x1234)},
		{"PUBACK too long", func() (any, error) { return pub(HeaderPuback, U16(1), []byte{0}).ID() }, nil},
		{"SUBACK id", func() (any, error) { return pub(HeaderSuback, U16(3), []byte{0, 1}).ID() }, uint16(3)},
		{"PINGRESP id", func() (any, error) { return pub(HeaderPingresp).ID() }, nil},
		{"CONNACK", func() (any, error) { return pub(HeaderConnack, []byte{1, 0}).Connack() }, Connack{Flags: 1}},
		{"CONNACK of 3 bytes", func() (any, error) { return pub(HeaderConnack, []byte{0, 0, 0}).Connack() }, nil},
		{"SUBACK", func() (any, error) {
			id, codes, err := pub(HeaderSuback, U16(4), []byte{1, 0x80}).Suback()
			return [2]any{id, string(codes)}, err
		}, [2]any{uint16(4), "\x01\x80"}},
		{"SUBACK without codes", func() (any, error) {
			_, _, err := pub(HeaderSuback, U16(4)).Suback()
			return nil, err
		}, nil},
	} {
		got, err := tc.decode()
		switch {
		case tc.want == nil && !errors.Is(err, ErrMalformed):
			t.Errorf("%s: got %v, %v; want ErrMalformed", tc.name, got, err)
		case tc.want != nil && (err != nil || got != tc.want):
			t.Errorf("%s: got %#v, %v; want %#v", tc.name, got, err, tc.want)
		}
	}
	if a := (Connack{Flags: 1}); !a.SessionPresent() {
		t.Error("Connack{Flags: 1}.SessionPresent() = false")
	}
}

// TestReadPacket: packets read one byte at a time come out whole and
// undecoded, whatever their type; a remaining length of five bytes is
// malformed [MQTT-2.2.3]; a packet cut short is io.ErrUnexpectedEOF.
func TestReadPacket(t *testing.T) {
	stream := append(append(append(Publish{Topic: "t", Payload: strings.Repeat("p", 300)}.Bytes(),
		Frame(0xf3, []byte("any"))...), Pingreq()...), 0x30, 0xff, 0xff, 0xff, 0xff, 0x7f)
	r := bufio.NewReader(iotest.OneByteReader(bytes.NewReader(stream)))
	var buf []byte
	var p Packet
	var err error
	for _, want := range []Packet{
		{Header: 0x30, Body: append(Str("t"), strings.Repeat("p", 300)...)},
		{Header: 0xf3, Body: []byte("any")},
		{Header: HeaderPingreq, Body: []byte{}},
	} {
		if p, buf, err = readPacket(r, buf); err != nil || p.Header != want.Header || !bytes.Equal(p.Body, want.Body) {
			t.Fatalf("read %v, %v; want %v", p, err, want)
		}
	}
	if _, _, err := readPacket(r, buf); !errors.Is(err, ErrMalformed) {
		t.Errorf("5-byte remaining length: %v, want ErrMalformed", err)
	}
	short := bufio.NewReader(bytes.NewReader(Publish{Topic: "t", Payload: "abc"}.Bytes()[:5]))
	if _, _, err := readPacket(short, nil); err != io.ErrUnexpectedEOF {
		t.Errorf("truncated packet: %v, want io.ErrUnexpectedEOF", err)
	}
	if _, _, err := readPacket(bufio.NewReader(bytes.NewReader(nil)), nil); err != io.EOF {
		t.Errorf("nothing: %v, want io.EOF", err)
	}
}

func TestHeaderName(t *testing.T) {
	for h, want := range map[byte]string{HeaderPubrel: "PUBREL (0x62)", 0x3b: "PUBLISH (0x3b)", 0x00: "reserved type 0 (0x00)"} {
		if got := HeaderName(h); got != want {
			t.Errorf("HeaderName(%#x) = %q, want %q", h, got, want)
		}
	}
}
