package packet

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/forkmq/forkmq/internal/topic"
)

func TestEncodeGolden(t *testing.T) {
	for _, g := range golden {
		t.Run(g.name, func(t *testing.T) {
			got, err := Encode(g.p)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			if !bytes.Equal(got, g.b) {
				t.Errorf("Encode =\n% x\nwant\n% x", got, g.b)
			}
			// Append keeps what dst held.
			prefix := []byte("xyz")
			got, err = Append(prefix, g.p)
			if err != nil || !bytes.Equal(got[:3], prefix) || !bytes.Equal(got[3:], g.b) {
				t.Errorf("Append(prefix) = % x, %v", got, err)
			}
		})
	}
}

// readers wraps a stream in the partial readers of testing/iotest.
var readers = []struct {
	name string
	wrap func(io.Reader) io.Reader
}{
	{"plain", func(r io.Reader) io.Reader { return r }},
	{"bufio", func(r io.Reader) io.Reader { return bufio.NewReader(r) }},
	{"OneByteReader", iotest.OneByteReader},
	{"HalfReader", iotest.HalfReader},
	{"DataErrReader", iotest.DataErrReader},
}

func TestDecodeGolden(t *testing.T) {
	for _, g := range golden {
		t.Run(g.name, func(t *testing.T) {
			p, n, err := Decode(g.b, 0)
			if err != nil || n != len(g.b) {
				t.Fatalf("Decode = %v, %d, %v; want %d bytes", p, n, err, len(g.b))
			}
			if !reflect.DeepEqual(p, g.p) {
				t.Errorf("Decode = %+v, want %+v", p, g.p)
			}
			for _, rd := range readers {
				r := rd.wrap(bytes.NewReader(g.b))
				p, err := Read(r, 0)
				if err != nil {
					t.Fatalf("%s: Read: %v", rd.name, err)
				}
				if !reflect.DeepEqual(p, g.p) {
					t.Errorf("%s: Read = %+v, want %+v", rd.name, p, g.p)
				}
				if _, err := Read(r, 0); err != io.EOF {
					t.Errorf("%s: Read after the packet = %v, want io.EOF", rd.name, err)
				}
			}
		})
	}
}

// TestReadStream reads every golden packet from one stream.
func TestReadStream(t *testing.T) {
	var stream []byte
	for _, g := range golden {
		stream = append(stream, g.b...)
	}
	for _, rd := range readers {
		r := rd.wrap(bytes.NewReader(stream))
		for _, g := range golden {
			p, err := Read(r, 0)
			if err != nil || !reflect.DeepEqual(p, g.p) {
				t.Fatalf("%s: Read = %+v, %v; want %s", rd.name, p, err, g.name)
			}
		}
		if _, err := Read(r, 0); err != io.EOF {
			t.Errorf("%s: Read at the end = %v, want io.EOF", rd.name, err)
		}
	}
	// Decode walks the same buffer.
	for _, g := range golden {
		p, n, err := Decode(stream, 0)
		if err != nil || !reflect.DeepEqual(p, g.p) {
			t.Fatalf("Decode = %+v, %v; want %s", p, err, g.name)
		}
		stream = stream[n:]
	}
}

// TestTruncated cuts every golden packet short: a stream that ends inside
// a packet is io.ErrUnexpectedEOF, one that ends before it io.EOF.
func TestTruncated(t *testing.T) {
	for _, g := range golden {
		for i := range len(g.b) {
			want := io.ErrUnexpectedEOF
			if i == 0 {
				want = io.EOF
			}
			for _, rd := range readers {
				if _, err := Read(rd.wrap(bytes.NewReader(g.b[:i])), 0); err != want {
					t.Errorf("%s %s: Read of %d of %d bytes = %v, want %v", g.name, rd.name, i, len(g.b), err, want)
				}
			}
			if _, n, err := Decode(g.b[:i], 0); err != io.ErrUnexpectedEOF || n != 0 {
				t.Errorf("%s: Decode of %d of %d bytes = %d, %v", g.name, i, len(g.b), n, err)
			}
		}
	}
}

func TestRoundTrip(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 20000) // 320 000 bytes: more than one read step
	packets := []Packet{
		&Connect{CleanSession: true, ClientID: "defaults"},
		&Connect{ProtocolName: "MQTT", ProtocolLevel: 4, KeepAlive: 65535, ClientID: "日本",
			Will: &Will{Topic: "a/b/c", Payload: big[:65535], QoS: ExactlyOnce}, UsernameFlag: true, Username: "ü"},
		&Connack{ReturnCode: RefusedBadUsernameOrPassword},
		&Publish{QoS: AtLeastOnce, Topic: "big", PacketID: 1, Payload: big},
		&Publish{Topic: strings.Repeat("t", 65535)},
		&Publish{Topic: "a", Payload: []byte{0}},
		&Subscribe{PacketID: 9, Subscriptions: []Subscription{{Filter: "+/+/#"}, {Filter: "$SYS/#", QoS: 1}}},
		&Suback{PacketID: 9, ReturnCodes: []byte{SubackFailure}},
		&Unsubscribe{PacketID: 65535, Filters: []string{"+"}},
	}
	for _, g := range golden {
		packets = append(packets, g.p)
	}
	for _, p := range packets {
		b, err := Encode(p)
		if err != nil {
			t.Fatalf("Encode(%T): %v", p, err)
		}
		want := p
		if c, ok := p.(*Connect); ok && c.ProtocolName == "" {
			cc := *c
			cc.ProtocolName, cc.ProtocolLevel = "MQTT", 4
			want = &cc
		}
		for _, rd := range readers {
			got, err := Read(rd.wrap(bytes.NewReader(b)), 0)
			if err != nil || !reflect.DeepEqual(got, want) {
				t.Errorf("%s: %T does not round-trip: %v", rd.name, p, err)
			}
		}
	}
}

func TestMalformed(t *testing.T) {
	for _, m := range malformed {
		t.Run(m.name, func(t *testing.T) {
			check := func(how string, err error) {
				t.Helper()
				var e *Error
				if !errors.As(err, &e) {
					t.Fatalf("%s: error %v (%T) is not an *Error [%s]", how, err, err, m.spec)
				}
				if !errors.Is(err, m.want) {
					t.Errorf("%s: error %q, want %v [%s]", how, err, m.want, m.spec)
				}
				if malformedKind := m.want != ErrProtocolLevel; errors.Is(err, ErrMalformed) != malformedKind {
					t.Errorf("%s: errors.Is(%q, ErrMalformed) = %v", how, err, !malformedKind)
				}
			}
			p, n, err := Decode(m.b, 0)
			if err == nil {
				t.Fatalf("Decode = %+v, %d; want %v [%s]", p, n, m.want, m.spec)
			}
			check("Decode", err)
			for _, rd := range readers {
				_, err := Read(rd.wrap(bytes.NewReader(m.b)), 0)
				check("Read "+rd.name, err)
			}
		})
	}
}

func TestErrorMessage(t *testing.T) {
	b := connectBytes(cat(mqtt, []byte{0x02, 0x00, 0x00, 0x00, 0x01, 0xff})...)
	_, _, err := Decode(b, 0)
	if got, want := err.Error(), "CONNECT client identifier: invalid UTF-8"; got != want {
		t.Errorf("error = %q, want %q", got, want)
	}
	_, _, err = Decode(withHeader(0x30, 0x00, 0x01, '#'), 0)
	if !errors.Is(err, topic.ErrWildcardInName) || !strings.HasPrefix(err.Error(), "PUBLISH topic name: invalid topic name: ") {
		t.Errorf("error = %q, want the topic package's cause", err)
	}
}

func TestPacketTooLarge(t *testing.T) {
	b := (&Publish{Topic: "t", Payload: make([]byte, 100)}).mustEncode(t)
	for _, max := range []int{1, 102} {
		_, _, err := Decode(b, max)
		if !errors.Is(err, ErrPacketTooLarge) || errors.Is(err, ErrMalformed) {
			t.Errorf("Decode(max %d) = %v, want ErrPacketTooLarge only", max, err)
		}
		// Only the header is consumed: ReadBody fails before reading.
		r := bytes.NewReader(b)
		if _, err := Read(r, max); !errors.Is(err, ErrPacketTooLarge) || r.Len() != len(b)-2 {
			t.Errorf("Read(max %d) = %v with %d bytes left", max, err, r.Len())
		}
	}
	if _, _, err := Decode(b, 103); err != nil {
		t.Errorf("Decode(max 103) = %v", err)
	}
	// Too large is reported as soon as the header is complete.
	if _, _, err := Decode(b[:2], 10); !errors.Is(err, ErrPacketTooLarge) {
		t.Errorf("Decode of the header alone = %v", err)
	}
}

// TestHugeClaim: a peer claims the largest remaining length and sends
// little or nothing. Memory must follow the bytes that arrived.
func TestHugeClaim(t *testing.T) {
	header := []byte{0x30, 0xff, 0xff, 0xff, 0x7f} // PUBLISH, remaining length 268435455
	for _, sent := range []int{0, 1 << 20} {
		body := append([]byte{0x00, 0x01, 't'}, make([]byte, sent)...)
		stream := append(append([]byte{}, header...), body...)
		allocated := allocatedDuring(func() {
			if _, err := Read(bytes.NewReader(stream), 0); err != io.ErrUnexpectedEOF {
				t.Errorf("Read = %v, want io.ErrUnexpectedEOF", err)
			}
		})
		if limit := uint64(8*sent + 1<<20); allocated > limit { // far below the 256 MiB claimed
			t.Errorf("claim of 256 MiB with %d bytes sent allocated %d bytes, want at most %d", sent, allocated, limit)
		}
	}
}

func allocatedDuring(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func TestReaderErrors(t *testing.T) {
	b := golden[0].b
	// The first Read succeeds with one byte, the second times out.
	if _, err := Read(iotest.TimeoutReader(iotest.OneByteReader(bytes.NewReader(b))), 0); !errors.Is(err, iotest.ErrTimeout) {
		t.Errorf("Read = %v, want iotest.ErrTimeout", err)
	}
	// A timeout inside the body.
	r := iotest.TimeoutReader(bytes.NewReader(b))
	h, err := ReadFixedHeader(bufio.NewReaderSize(io.LimitReader(r, 2), 16))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ReadBody(r, h, 0); !errors.Is(err, iotest.ErrTimeout) {
		t.Errorf("ReadBody = %v, want iotest.ErrTimeout", err)
	}
	errBoom := errors.New("boom")
	if _, err := Read(iotest.ErrReader(errBoom), 0); err != errBoom {
		t.Errorf("Read = %v, want the reader's error", err)
	}
}

func TestReadBodyChecksHeader(t *testing.T) {
	bad := []FixedHeader{
		{Type: 0},
		{Type: TypePubrel, Flags: 0, RemainingLength: 2},
		{Type: TypePingreq, RemainingLength: 5},
		{Type: TypePublish, RemainingLength: MaxRemainingLength + 1},
		{Type: TypePublish, RemainingLength: -1},
	}
	for _, h := range bad {
		if _, err := ReadBody(iotest.ErrReader(errors.New("must not read")), h, 0); !errors.Is(err, ErrMalformed) {
			t.Errorf("ReadBody(%+v) = %v, want ErrMalformed", h, err)
		}
	}
}

func TestEncodeInvalid(t *testing.T) {
	long := strings.Repeat("a", 65536)
	tests := []struct {
		name string
		p    Packet
		want error
		spec string
	}{
		{"unknown protocol", &Connect{ProtocolName: "MQTX", ProtocolLevel: 4}, ErrProtocolName, "MQTT-3.1.2-1"},
		{"level without name", &Connect{ProtocolLevel: 4}, ErrProtocolName, "MQTT-3.1.2-1"},
		{"wrong level", &Connect{ProtocolName: "MQTT", ProtocolLevel: 5}, ErrProtocolLevel, "MQTT-3.1.2-2"},
		{"will QoS 3", &Connect{Will: &Will{Topic: "t", QoS: 3}}, ErrQoS, "MQTT-3.1.2-14"},
		{"will topic wildcard", &Connect{Will: &Will{Topic: "a/+"}}, ErrTopicName, "MQTT-3.3.2-2"},
		{"will message too long", &Connect{Will: &Will{Topic: "t", Payload: make([]byte, 65536)}}, ErrTooLong, "MQTT-1.5.5"},
		{"password without user name", &Connect{PasswordFlag: true}, ErrConnectFlags, "MQTT-3.1.2-22"},
		{"user name without flag", &Connect{Username: "u"}, ErrConnectFlags, "MQTT-3.1.2-18"},
		{"password without flag", &Connect{UsernameFlag: true, Password: []byte("p")}, ErrConnectFlags, "MQTT-3.1.2-20"},
		{"password too long", &Connect{UsernameFlag: true, PasswordFlag: true, Password: make([]byte, 65536)}, ErrTooLong, "MQTT-1.5.5"},
		{"client id NUL", &Connect{ClientID: "a\x00"}, ErrInvalidUTF8, "MQTT-1.5.3-2"},
		{"client id too long", &Connect{ClientID: long}, ErrTooLong, "MQTT-1.5.3"},
		{"user name invalid", &Connect{UsernameFlag: true, Username: "\xff"}, ErrInvalidUTF8, "MQTT-1.5.3-1"},
		{"CONNACK code 6", &Connack{ReturnCode: 6}, ErrReturnCode, "MQTT-3.2.2.3"},
		{"CONNACK session present refused", &Connack{SessionPresent: true, ReturnCode: RefusedServerUnavailable}, ErrFlags, "MQTT-3.2.2-4"},
		{"PUBLISH QoS 3", &Publish{QoS: 3, Topic: "t", PacketID: 1}, ErrQoS, "MQTT-3.3.1-4"},
		{"PUBLISH DUP at QoS 0", &Publish{Dup: true, Topic: "t"}, ErrFlags, "MQTT-3.3.1-2"},
		{"PUBLISH wildcard", &Publish{Topic: "a/#"}, ErrTopicName, "MQTT-3.3.2-2"},
		{"PUBLISH empty topic", &Publish{}, ErrTopicName, "MQTT-4.7.3-1"},
		{"PUBLISH topic too long", &Publish{Topic: long}, ErrTooLong, "MQTT-1.5.3"},
		{"PUBLISH topic surrogate", &Publish{Topic: "\xed\xb0\x80"}, ErrInvalidUTF8, "MQTT-1.5.3-1"},
		{"PUBLISH QoS 1 packet id 0", &Publish{QoS: 1, Topic: "t"}, ErrPacketID, "MQTT-2.3.1-1"},
		{"PUBACK packet id 0", &Puback{}, ErrPacketID, "MQTT-2.3.1-1"},
		{"PUBREC packet id 0", &Pubrec{}, ErrPacketID, "MQTT-2.3.1-1"},
		{"PUBREL packet id 0", &Pubrel{}, ErrPacketID, "MQTT-2.3.1-1"},
		{"PUBCOMP packet id 0", &Pubcomp{}, ErrPacketID, "MQTT-2.3.1-1"},
		{"UNSUBACK packet id 0", &Unsuback{}, ErrPacketID, "MQTT-2.3.1-1"},
		{"SUBSCRIBE none", &Subscribe{PacketID: 1}, ErrNoSubscriptions, "MQTT-3.8.3-3"},
		{"SUBSCRIBE packet id 0", &Subscribe{Subscriptions: []Subscription{{Filter: "a"}}}, ErrPacketID, "MQTT-2.3.1-1"},
		{"SUBSCRIBE bad filter", &Subscribe{PacketID: 1, Subscriptions: []Subscription{{Filter: "a#"}}}, ErrTopicFilter, "MQTT-4.7.1-2"},
		{"SUBSCRIBE QoS 3", &Subscribe{PacketID: 1, Subscriptions: []Subscription{{Filter: "a", QoS: 3}}}, ErrQoS, "MQTT-3.8.3-4"},
		{"SUBACK none", &Suback{PacketID: 1}, ErrNoSubscriptions, "MQTT-3.9.3-1"},
		{"SUBACK code 3", &Suback{PacketID: 1, ReturnCodes: []byte{3}}, ErrReturnCode, "MQTT-3.9.3-2"},
		{"SUBACK packet id 0", &Suback{ReturnCodes: []byte{0}}, ErrPacketID, "MQTT-2.3.1-1"},
		{"UNSUBSCRIBE none", &Unsubscribe{PacketID: 1}, ErrNoSubscriptions, "MQTT-3.10.3-2"},
		{"UNSUBSCRIBE empty filter", &Unsubscribe{PacketID: 1, Filters: []string{""}}, ErrTopicFilter, "MQTT-4.7.3-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := []byte("keep")
			got, err := Append(dst, tt.p)
			if !errors.Is(err, tt.want) {
				t.Errorf("Append = %v, want %v [%s]", err, tt.want, tt.spec)
			}
			if string(got) != "keep" {
				t.Errorf("Append changed dst to %q", got)
			}
			if err := Write(io.Discard, tt.p); !errors.Is(err, tt.want) {
				t.Errorf("Write = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestAppendPublishHeader(t *testing.T) {
	p := &Publish{QoS: AtLeastOnce, Retain: true, Topic: "spool/me", PacketID: 77, Payload: bytes.Repeat([]byte{1}, 300)}
	want := p.mustEncode(t)
	payload := p.Payload
	p.Payload = nil // ignored
	h, err := AppendPublishHeader(nil, p, len(payload))
	if err != nil {
		t.Fatal(err)
	}
	if got := append(h, payload...); !bytes.Equal(got, want) {
		t.Errorf("header + payload =\n% x\nwant\n% x", got, want)
	}
	// The largest payload that fits, and one byte more.
	n := MaxRemainingLength - (2 + len(p.Topic) + 2)
	if h, err := AppendPublishHeader(nil, p, n); err != nil || !bytes.Equal(h[1:5], []byte{0xff, 0xff, 0xff, 0x7f}) {
		t.Errorf("AppendPublishHeader(max) = % x, %v", h, err)
	}
	if _, err := AppendPublishHeader(nil, p, n+1); !errors.Is(err, ErrPacketTooLarge) {
		t.Errorf("AppendPublishHeader(max+1) = %v, want ErrPacketTooLarge", err)
	}
	if _, err := AppendPublishHeader(nil, &Publish{Topic: "+"}, 1); !errors.Is(err, ErrTopicName) {
		t.Errorf("AppendPublishHeader(+) = %v, want ErrTopicName", err)
	}
}

// The QoS 0 packet identifier is not on the wire and so is ignored.
func TestPublishQoS0IgnoresPacketID(t *testing.T) {
	b, err := Encode(&Publish{Topic: "t", PacketID: 5})
	if err != nil || !bytes.Equal(b, []byte{0x30, 0x03, 0x00, 0x01, 't'}) {
		t.Errorf("Encode = % x, %v", b, err)
	}
}

type countingWriter struct {
	calls int
	buf   bytes.Buffer
}

func (w *countingWriter) Write(b []byte) (int, error) {
	w.calls++
	return w.buf.Write(b)
}

func TestWrite(t *testing.T) {
	for _, g := range golden {
		var w countingWriter
		if err := Write(&w, g.p); err != nil {
			t.Fatal(err)
		}
		if w.calls != 1 || !bytes.Equal(w.buf.Bytes(), g.b) {
			t.Errorf("%s: Write made %d calls writing % x", g.name, w.calls, w.buf.Bytes())
		}
	}
	errBoom := errors.New("boom")
	if err := Write(errWriter{errBoom}, &Pingreq{}); err != errBoom {
		t.Errorf("Write = %v, want the writer's error", err)
	}
}

type errWriter struct{ err error }

func (w errWriter) Write([]byte) (int, error) { return 0, w.err }

func TestConnackCodeFor(t *testing.T) {
	decodeErr := func(b []byte) error {
		_, _, err := Decode(b, 0)
		return err
	}
	tests := []struct {
		name     string
		err      error
		wantCode ConnackCode
		wantOK   bool
	}{
		{"MQTT 5", decodeErr(malformed[indexOf("MQTT 5 CONNECT")].b), RefusedProtocolVersion, true},
		{"MQIsdp level 4", decodeErr(malformed[indexOf("protocol level 4 for MQIsdp")].b), RefusedProtocolVersion, true},
		{"protocol name", decodeErr(malformed[indexOf("protocol name")].b), 0, false},
		{"reserved flag", decodeErr(malformed[indexOf("reserved connect flag")].b), 0, false},
		{"too large", &Error{Type: TypeConnect, Err: ErrPacketTooLarge}, 0, false},
		{"EOF", io.ErrUnexpectedEOF, 0, false},
		{"nil", nil, 0, false},
	}
	for _, tt := range tests {
		code, ok := ConnackCodeFor(tt.err)
		if code != tt.wantCode || ok != tt.wantOK {
			t.Errorf("%s: ConnackCodeFor(%v) = %v, %v; want %v, %v", tt.name, tt.err, code, ok, tt.wantCode, tt.wantOK)
		}
	}
}

func indexOf(name string) int {
	for i, m := range malformed {
		if m.name == name {
			return i
		}
	}
	panic("no malformed row " + name)
}

func TestStrings(t *testing.T) {
	for typ := Type(0); typ < 16; typ++ {
		s := typ.String()
		if (typ >= TypeConnect && typ <= TypeDisconnect) != (s == strings.ToUpper(s) && !strings.Contains(s, "(")) {
			t.Errorf("Type(%d).String() = %q", typ, s)
		}
	}
	if TypePubrel.String() != "PUBREL" || Type(15).String() != "Type(15)" {
		t.Error("Type.String")
	}
	if RefusedProtocolVersion.String() != "connection refused: unacceptable protocol version" || ConnackCode(9).String() != "ConnackCode(9)" {
		t.Error("ConnackCode.String")
	}
	for _, g := range golden {
		if int(g.p.Type()) != int(g.b[0]>>4) {
			t.Errorf("%s: Type() = %v, first byte %#x", g.name, g.p.Type(), g.b[0])
		}
	}
}

func (p *Publish) mustEncode(t testing.TB) []byte {
	t.Helper()
	b, err := Encode(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// ReadFixedHeader judges each byte as it arrives and never reads past a
// header it can already reject.
func TestReadFixedHeaderStopsEarly(t *testing.T) {
	errMore := errors.New("read past the header")
	tests := []struct {
		b    []byte
		want error
	}{
		{[]byte{0x00}, ErrReservedType},
		{[]byte{0x62 &^ 0x02}, ErrFlags},
		{[]byte{0x30, 0x80, 0x80, 0x80, 0x80}, ErrRemainingLength},
		{[]byte{0xc0, 0x01}, ErrRemainingLength},
	}
	for _, tt := range tests {
		r := io.MultiReader(bytes.NewReader(tt.b), iotest.ErrReader(errMore))
		if _, err := ReadFixedHeader(iotest.OneByteReader(r)); !errors.Is(err, tt.want) {
			t.Errorf("ReadFixedHeader(% x…) = %v, want %v", tt.b, err, tt.want)
		}
	}
}
