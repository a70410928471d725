package rawmqtt

import (
	"errors"
	"fmt"
	"io"
)

// Packet types of MQTT 3.1.1: the high nibble of the fixed header
// [MQTT-2.2.1]. Types 0 and 15 are reserved.
const (
	TypeConnect     byte = 1
	TypeConnack     byte = 2
	TypePublish     byte = 3
	TypePuback      byte = 4
	TypePubrec      byte = 5
	TypePubrel      byte = 6
	TypePubcomp     byte = 7
	TypeSubscribe   byte = 8
	TypeSuback      byte = 9
	TypeUnsubscribe byte = 10
	TypeUnsuback    byte = 11
	TypePingreq     byte = 12
	TypePingresp    byte = 13
	TypeDisconnect  byte = 14
)

// First bytes of the fixed header: the type and the flags a well-formed
// packet has [MQTT-2.2.2-1]. PUBLISH's are for QoS 0, DUP 0, RETAIN 0.
const (
	HeaderConnect     = TypeConnect << 4
	HeaderConnack     = TypeConnack << 4
	HeaderPublish     = TypePublish << 4
	HeaderPuback      = TypePuback << 4
	HeaderPubrec      = TypePubrec << 4
	HeaderPubrel      = TypePubrel<<4 | 0x02 // flags 0010 [MQTT-3.6.1-1]
	HeaderPubcomp     = TypePubcomp << 4
	HeaderSubscribe   = TypeSubscribe<<4 | 0x02 // flags 0010 [MQTT-3.8.1-1]
	HeaderSuback      = TypeSuback << 4
	HeaderUnsubscribe = TypeUnsubscribe<<4 | 0x02 // flags 0010 [MQTT-3.10.1-1]
	HeaderUnsuback    = TypeUnsuback << 4
	HeaderPingreq     = TypePingreq << 4
	HeaderPingresp    = TypePingresp << 4
	HeaderDisconnect  = TypeDisconnect << 4
)

// PUBLISH fixed-header flags [MQTT-3.3.1]; the QoS is bits 1 and 2.
const (
	PublishRetain   byte = 0x01
	PublishQoSShift      = 1
	PublishDup      byte = 0x08
)

// CONNECT flags [MQTT-3.1.2.2 to 3.1.2.9]; the will's QoS is bits 3 and 4.
const (
	ConnectReserved   byte = 0x01
	ConnectClean      byte = 0x02
	ConnectWill       byte = 0x04
	ConnectWillRetain byte = 0x20
	ConnectPassword   byte = 0x40
	ConnectUsername   byte = 0x80
	WillQoSShift           = 3
)

// CONNACK return codes [MQTT-3.2.2.3, Table 3.1].
const (
	Accepted                 byte = 0
	RefusedProtocolVersion   byte = 1
	RefusedIdentifier        byte = 2
	RefusedServerUnavailable byte = 3
	RefusedBadCredentials    byte = 4
	RefusedNotAuthorized     byte = 5
)

// SubackFailure is SUBACK's return code for a refused filter [MQTT-3.9.3].
const SubackFailure byte = 0x80

// MaxRemaining is the largest remaining length, 268,435,455: four bytes of
// variable byte integer [MQTT-2.2.3].
const MaxRemaining = 268_435_455

// ErrMalformed reports bytes from the broker that are not a well-formed
// packet of the kind asked for.
var ErrMalformed = errors.New("rawmqtt: malformed packet")

// AppendVarint appends n as a variable byte integer, the encoding of the
// remaining length [MQTT-2.2.3]: 7 bits a byte, low first, the high bit
// saying more follow. n above MaxRemaining takes a fifth byte, as no
// well-formed packet does.
func AppendVarint(dst []byte, n int) []byte {
	for {
		b := byte(n & 0x7f)
		n >>= 7
		if n > 0 {
			b |= 0x80
		}
		dst = append(dst, b)
		if n == 0 {
			return dst
		}
	}
}

// Varint is n as a variable byte integer.
func Varint(n int) []byte { return AppendVarint(nil, n) }

// varintLen is how many bytes AppendVarint writes for n.
func varintLen(n int) int {
	l := 1
	for n >= 128 {
		n >>= 7
		l++
	}
	return l
}

// readVarint reads a remaining length; a fifth byte is malformed.
func readVarint(r io.ByteReader) (int, error) {
	n := 0
	for i := 0; i < 4; i++ {
		b, err := r.ReadByte()
		if err != nil {
			return 0, err
		}
		n |= int(b&0x7f) << (7 * i)
		if b&0x80 == 0 {
			return n, nil
		}
	}
	return 0, fmt.Errorf("%w: remaining length longer than 4 bytes [MQTT-2.2.3]", ErrMalformed)
}

// U16 is a two-byte big-endian integer [MQTT-1.5.2].
func U16(v uint16) []byte { return appendU16(nil, v) }

func appendU16(dst []byte, v uint16) []byte { return append(dst, byte(v>>8), byte(v)) }

// Str is a length-prefixed string [MQTT-1.5.3]. Its bytes are sent as given,
// valid UTF-8 or not; a string longer than 65,535 bytes gets a length that
// wraps, as no well-formed packet has.
func Str(s string) []byte { return appendStr(nil, s) }

func appendStr(dst []byte, s string) []byte { return append(appendU16(dst, uint16(len(s))), s...) }

// Frame assembles a packet: the fixed header's first byte as given (any
// type, any flags), the remaining length of the body, then the body's
// parts in order.
func Frame(header byte, body ...[]byte) []byte {
	n := 0
	for _, b := range body {
		n += len(b)
	}
	return FrameClaiming(header, n, body...)
}

// FrameClaiming is Frame with a remaining length of claim, whatever the
// body's: for packets that lie about their length.
func FrameClaiming(header byte, claim int, body ...[]byte) []byte {
	n := 0
	for _, b := range body {
		n += len(b)
	}
	out := AppendVarint(append(make([]byte, 0, 1+varintLen(claim)+n), header), claim)
	for _, b := range body {
		out = append(out, b...)
	}
	return out
}
