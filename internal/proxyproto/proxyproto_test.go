package proxyproto

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
)

var (
	src4 = &net.TCPAddr{IP: net.ParseIP("203.0.113.7").To4(), Port: 51234}
	dst4 = &net.TCPAddr{IP: net.ParseIP("192.0.2.1").To4(), Port: 1883}
	src6 = &net.TCPAddr{IP: net.ParseIP("2001:db8::7"), Port: 40000}
	dst6 = &net.TCPAddr{IP: net.ParseIP("2001:db8::1"), Port: 8883}
)

// TestRead reads headers of both versions and checks that the bytes after
// them (the client's CONNECT) are left on the connection.
func TestRead(t *testing.T) {
	const rest = "\x10\x0c\x00\x04MQTT"
	lenUnspec := append(bytes.Clone(v2Sig), 0x21, 0x00, 0, 0)
	local := append(bytes.Clone(v2Sig), 0x20, 0x11, 0, 12, 1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 0, 2)
	withTLV := append(V2(src4, dst4), 0x04, 0, 1, 'x') // a NOOP TLV
	withTLV[15] += 4
	tests := []struct {
		name    string
		version int
		in      []byte
		want    Header
	}{
		{"v1 tcp4", 1, V1(src4, dst4), Header{Version: 1, Source: src4, Dst: dst4}},
		{"v1 tcp6", 1, V1(src6, dst6), Header{Version: 1, Source: src6, Dst: dst6}},
		{"v1 unknown", 1, []byte("PROXY UNKNOWN whatever\r\n"), Header{Version: 1, Local: true}},
		{"v2 tcp4", 2, V2(src4, dst4), Header{Version: 2, Source: src4, Dst: dst4}},
		{"v2 tcp6", 2, V2(src6, dst6), Header{Version: 2, Source: src6, Dst: dst6}},
		{"v2 tlv", 2, withTLV, Header{Version: 2, Source: src4, Dst: dst4}},
		{"v2 local", 2, local, Header{Version: 2, Local: true}},
		{"v2 unspec", 2, lenUnspec, Header{Version: 2, Local: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := bytes.NewReader(append(bytes.Clone(tc.in), rest...))
			h, err := Read(r, tc.version)
			if err != nil {
				t.Fatal(err)
			}
			if h.Version != tc.want.Version || h.Local != tc.want.Local || h.Source.String() != tc.want.Source.String() || h.Dst.String() != tc.want.Dst.String() {
				t.Errorf("got %+v, want %+v", h, tc.want)
			}
			left, _ := io.ReadAll(r)
			if string(left) != rest {
				t.Errorf("left %q on the connection, want %q", left, rest)
			}
		})
	}
}

// TestRefused checks that only the version configured is read, and that
// malformed and truncated headers are errors of their kind.
func TestRefused(t *testing.T) {
	badFam := V2(src4, dst4)
	badFam[13] = 0x12 // UDP over IPv4
	big := V2(src4, dst4)
	big[14], big[15] = 0xff, 0xff
	short := V2(src4, dst4)
	short[15] = 4
	tests := []struct {
		name      string
		version   int
		in        []byte
		truncated bool
	}{
		{"plain MQTT on v1", 1, []byte("\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c\x00\x00"), false},
		{"plain MQTT on v2", 2, []byte("\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c\x00\x00xxxx"), false},
		{"v2 header on v1", 1, V2(src4, dst4), false},
		{"v1 header on v2", 2, V1(src4, dst4), false},
		{"v1 no CRLF", 1, bytes.Repeat([]byte("PROXY TCP4 "), 20), false},
		{"v1 LF only", 1, []byte("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n"), false},
		{"v1 five fields", 1, []byte("PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n"), false},
		{"v1 v6 address as TCP4", 1, []byte("PROXY TCP4 ::1 ::1 1 2\r\n"), false},
		{"v1 port out of range", 1, []byte("PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n"), false},
		{"v1 port leading zero", 1, []byte("PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n"), false},
		{"v1 protocol", 1, []byte("PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n"), false},
		{"v2 version nibble", 2, append(bytes.Clone(v2Sig), 0x11, 0x11, 0, 0), false},
		{"v2 command", 2, append(bytes.Clone(v2Sig), 0x22, 0x11, 0, 0), false},
		{"v2 UDP", 2, badFam, false},
		{"v2 too long", 2, big, false},
		{"v2 addresses short", 2, short[:20], false},
		{"v1 cut, then MQTT", 1, append(V1(src4, dst4)[:20], "\x10\x0c\x00\x04MQTT"...), false},
		{"v1 truncated", 1, V1(src4, dst4)[:20], true},
		{"v2 truncated fixed", 2, V2(src4, dst4)[:10], true},
		{"v2 truncated body", 2, V2(src4, dst4)[:20], true},
		{"empty", 1, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Read(bytes.NewReader(tc.in), tc.version)
			if err == nil {
				t.Fatal("read, want an error")
			}
			if tc.truncated != errors.Is(err, io.ErrUnexpectedEOF) || tc.truncated == errors.Is(err, ErrMalformed) {
				t.Errorf("error %v: want truncated=%v", err, tc.truncated)
			}
		})
	}
}
