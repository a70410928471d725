package proxyproto

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
)

// Header is what a PROXY header says about the connection.
type Header struct {
	Version int
	// Local is true for a header that carries no client address: version
	// 1's UNKNOWN, version 2's LOCAL command (a health check of the load
	// balancer's own). The connection's own addresses stand then.
	Local       bool
	Source, Dst *net.TCPAddr
}

// ErrMalformed is the cause of every header refused as not PROXY protocol
// of the version expected.
var ErrMalformed = errors.New("malformed PROXY header")

// v2Sig is the twelve bytes every version 2 header starts with.
var v2Sig = []byte("\r\n\r\n\x00\r\nQUIT\n")

// v1Max is the longest version 1 line, CRLF included (the specification's
// 107 bytes).
const v1Max = 107

// v2MaxLen bounds a version 2 header's address and TLV block. The format
// allows 65535 bytes; load balancers write a few hundred at most, and a
// larger claim is refused rather than read.
const v2MaxLen = 4096

// Read reads the header of the given version (1 or 2) from r, taking no
// byte beyond it. Any other content, a header of the other version included,
// is an error wrapping ErrMalformed; a connection that ends within the
// header is io.ErrUnexpectedEOF.
func Read(r io.Reader, version int) (Header, error) {
	switch version {
	case 1:
		return readV1(r)
	case 2:
		return readV2(r)
	}
	return Header{}, fmt.Errorf("PROXY protocol version %d: want 1 or 2", version)
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// readV1 reads "PROXY TCP4|TCP6|UNKNOWN ...\r\n" a byte at a time: the
// line's end is known only when it is seen, and a buffered read would take
// the client's first bytes with it.
func readV1(r io.Reader) (Header, error) {
	var line []byte
	b := make([]byte, 1)
	for {
		if _, err := io.ReadFull(r, b); err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return Header{}, fmt.Errorf("PROXY v1 header after %d bytes: %w", len(line), err)
		}
		line = append(line, b[0])
		if len(line) <= 6 && !bytes.HasPrefix([]byte("PROXY "), line) {
			return Header{}, malformed("v1: does not start with \"PROXY \"")
		}
		if b[0] == '\n' {
			break
		}
		// The line is printable ASCII up to its CR: anything else (a
		// client's binary MQTT after a truncated line) ends it at once
		// rather than at the deadline.
		if c := b[0]; (c < 0x20 || c > 0x7e) && c != '\r' {
			return Header{}, malformed("v1: byte 0x%02x in the line", c)
		}
		if len(line) >= v1Max {
			return Header{}, malformed("v1: no CRLF within %d bytes", v1Max)
		}
	}
	if !bytes.HasSuffix(line, []byte("\r\n")) {
		return Header{}, malformed("v1: line ends without CR")
	}
	return parseV1(string(line[:len(line)-2]))
}

func parseV1(line string) (Header, error) {
	f := strings.Split(line, " ")
	h := Header{Version: 1}
	if len(f) >= 2 && f[1] == "UNKNOWN" {
		h.Local = true // the rest of the line is to be ignored
		return h, nil
	}
	if len(f) != 6 {
		return Header{}, malformed("v1: %d fields, want 6", len(f))
	}
	want4 := f[1] == "TCP4"
	if !want4 && f[1] != "TCP6" {
		return Header{}, malformed("v1: protocol %q, want TCP4, TCP6 or UNKNOWN", f[1])
	}
	var err error
	if h.Source, err = v1Addr(f[2], f[4], want4); err != nil {
		return Header{}, err
	}
	if h.Dst, err = v1Addr(f[3], f[5], want4); err != nil {
		return Header{}, err
	}
	return h, nil
}

func v1Addr(ip, port string, want4 bool) (*net.TCPAddr, error) {
	a := net.ParseIP(ip)
	if a == nil || (a.To4() != nil) != want4 || (want4 && strings.Contains(ip, ":")) {
		return nil, malformed("v1: address %q", ip)
	}
	// Ports are decimal without leading zeros, 0–65535.
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || (len(port) > 1 && port[0] == '0') {
		return nil, malformed("v1: port %q", port)
	}
	return &net.TCPAddr{IP: a, Port: int(p)}, nil
}

// readV2 reads the 16 bytes of the fixed part, then exactly the length it
// gives.
func readV2(r io.Reader) (Header, error) {
	var fixed [16]byte
	if n, err := io.ReadFull(r, fixed[:]); err != nil {
		if n > 0 && !bytes.HasPrefix(v2Sig, fixed[:min(n, len(v2Sig))]) {
			return Header{}, malformed("v2: no signature")
		}
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return Header{}, fmt.Errorf("PROXY v2 header after %d bytes: %w", n, err)
	}
	if !bytes.Equal(fixed[:12], v2Sig) {
		return Header{}, malformed("v2: no signature")
	}
	verCmd, fam := fixed[12], fixed[13]
	if verCmd>>4 != 2 {
		return Header{}, malformed("v2: version nibble %d", verCmd>>4)
	}
	n := int(binary.BigEndian.Uint16(fixed[14:16]))
	if n > v2MaxLen {
		return Header{}, malformed("v2: %d bytes of addresses, more than %d", n, v2MaxLen)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return Header{}, fmt.Errorf("PROXY v2 addresses: %w", err)
	}
	h := Header{Version: 2}
	switch verCmd & 0x0f {
	case 0: // LOCAL: the addresses, if any, are to be ignored
		h.Local = true
		return h, nil
	case 1: // PROXY
	default:
		return Header{}, malformed("v2: command %d", verCmd&0x0f)
	}
	var size int
	switch fam {
	case 0x11: // TCP over IPv4
		size = 4
	case 0x21: // TCP over IPv6
		size = 16
	case 0x00: // UNSPEC: the receiver keeps its own addresses
		h.Local = true
		return h, nil
	default:
		return Header{}, malformed("v2: address family and protocol 0x%02x: want TCP over IPv4 or IPv6", fam)
	}
	if n < 2*size+4 {
		return Header{}, malformed("v2: %d bytes for addresses of %d bytes each", n, size)
	}
	src := net.IP(bytes.Clone(body[:size]))
	dst := net.IP(bytes.Clone(body[size : 2*size]))
	ports := body[2*size:]
	h.Source = &net.TCPAddr{IP: src, Port: int(binary.BigEndian.Uint16(ports[0:2]))}
	h.Dst = &net.TCPAddr{IP: dst, Port: int(binary.BigEndian.Uint16(ports[2:4]))}
	return h, nil
}

// V1 is the version 1 line for a TCP connection from src to dst, for tests
// and for anything that forwards connections.
func V1(src, dst *net.TCPAddr) []byte {
	proto := "TCP4"
	if src.IP.To4() == nil {
		proto = "TCP6"
	}
	return fmt.Appendf(nil, "PROXY %s %s %s %d %d\r\n", proto, src.IP, dst.IP, src.Port, dst.Port)
}

// V2 is the version 2 header (command PROXY) for a TCP connection from src
// to dst.
func V2(src, dst *net.TCPAddr) []byte {
	b := bytes.Clone(v2Sig)
	s, d := src.IP.To4(), dst.IP.To4()
	fam := byte(0x11)
	if s == nil || d == nil {
		s, d, fam = src.IP.To16(), dst.IP.To16(), 0x21
	}
	b = append(b, 0x21, fam)
	b = binary.BigEndian.AppendUint16(b, uint16(2*len(s)+4))
	b = append(b, s...)
	b = append(b, d...)
	b = binary.BigEndian.AppendUint16(b, uint16(src.Port))
	return binary.BigEndian.AppendUint16(b, uint16(dst.Port))
}
