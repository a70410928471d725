package mqttc

import (
	"errors"
	"fmt"
	"io"
)

// Packet types of MQTT 3.1.1 (the high nibble of the fixed header).
const (
	TypeConnect    byte = 1
	TypeConnack    byte = 2
	TypePublish    byte = 3
	TypePuback     byte = 4
	TypeSubscribe  byte = 8
	TypeSuback     byte = 9
	TypePingreq    byte = 12
	TypePingresp   byte = 13
	TypeDisconnect byte = 14
)

// maxRemaining is the largest remaining length the 4-byte varint can carry.
const maxRemaining = 268_435_455

// ErrMalformed reports bytes from the broker that are not a packet this
// client understands.
var ErrMalformed = errors.New("mqttc: malformed packet from broker")

// appendVarint appends the remaining-length encoding of n (1 to 4 bytes).
func appendVarint(dst []byte, n int) []byte {
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

func appendUint16(dst []byte, v uint16) []byte {
	return append(dst, byte(v>>8), byte(v))
}

func appendString(dst []byte, s string) []byte {
	dst = appendUint16(dst, uint16(len(s)))
	return append(dst, s...)
}

// AppendConnect appends a CONNECT with protocol level 4, the clean-session
// flag as given, no will, no user name or password.
func AppendConnect(dst []byte, clientID string, keepAlive uint16, clean bool) []byte {
	var flags byte
	if clean {
		flags |= 0x02
	}
	// variable header: "MQTT", level 4, flags, keep-alive = 10 bytes
	remaining := 10 + 2 + len(clientID)
	dst = append(dst, TypeConnect<<4)
	dst = appendVarint(dst, remaining)
	dst = appendString(dst, "MQTT")
	dst = append(dst, 4, flags)
	dst = appendUint16(dst, keepAlive)
	return appendString(dst, clientID)
}

// AppendSubscribe appends a SUBSCRIBE for the filters, all at one QoS.
func AppendSubscribe(dst []byte, id uint16, qos byte, filters ...string) []byte {
	remaining := 2
	for _, f := range filters {
		remaining += 2 + len(f) + 1
	}
	dst = append(dst, TypeSubscribe<<4|0x02) // [MQTT-3.8.1-1] flags 0010
	dst = appendVarint(dst, remaining)
	dst = appendUint16(dst, id)
	for _, f := range filters {
		dst = appendString(dst, f)
		dst = append(dst, qos)
	}
	return dst
}

// AppendPublishHeader appends everything of a PUBLISH but its payload: the
// fixed header, the topic and (QoS 1) the packet identifier. The payload of
// payloadLen bytes must follow.
func AppendPublishHeader(dst []byte, topic string, qos byte, id uint16, payloadLen int) []byte {
	remaining := 2 + len(topic) + payloadLen
	if qos > 0 {
		remaining += 2
	}
	dst = append(dst, TypePublish<<4|qos<<1)
	dst = appendVarint(dst, remaining)
	dst = appendString(dst, topic)
	if qos > 0 {
		dst = appendUint16(dst, id)
	}
	return dst
}

// AppendPuback appends a PUBACK for the packet identifier.
func AppendPuback(dst []byte, id uint16) []byte {
	return append(dst, TypePuback<<4, 2, byte(id>>8), byte(id))
}

// Fixed two-byte packets.
var (
	pingreq    = []byte{TypePingreq << 4, 0}
	disconnect = []byte{TypeDisconnect << 4, 0}
)

// Packet is one packet read from the broker. Topic and Payload are slices of
// the connection's read buffer: valid until the next ReadPacket.
type Packet struct {
	Type    byte
	Flags   byte   // low nibble of the fixed header
	ID      uint16 // packet identifier (PUBLISH QoS>0, PUBACK, SUBACK)
	Code    byte   // CONNACK return code, or SUBACK's first return code
	Topic   []byte // PUBLISH
	Payload []byte // PUBLISH
}

// QoS is the QoS of a PUBLISH.
func (p *Packet) QoS() byte { return p.Flags >> 1 & 3 }

// readVarint reads a remaining length from r.
func readVarint(r io.ByteReader) (int, error) {
	n, shift := 0, 0
	for i := 0; i < 4; i++ {
		b, err := r.ReadByte()
		if err != nil {
			return 0, err
		}
		n |= int(b&0x7f) << shift
		if b&0x80 == 0 {
			return n, nil
		}
		shift += 7
	}
	return 0, fmt.Errorf("%w: remaining length longer than 4 bytes", ErrMalformed)
}

// parseBody fills p from the body of a packet whose fixed header byte is h.
func parseBody(p *Packet, h byte, body []byte) error {
	*p = Packet{Type: h >> 4, Flags: h & 0x0f}
	switch p.Type {
	case TypeConnack:
		if len(body) != 2 {
			return fmt.Errorf("%w: CONNACK of %d bytes", ErrMalformed, len(body))
		}
		p.Code = body[1]
	case TypePublish:
		if len(body) < 2 {
			return fmt.Errorf("%w: PUBLISH without topic length", ErrMalformed)
		}
		tl := int(body[0])<<8 | int(body[1])
		rest := body[2:]
		if len(rest) < tl {
			return fmt.Errorf("%w: PUBLISH topic of %d bytes in %d", ErrMalformed, tl, len(rest))
		}
		p.Topic, rest = rest[:tl], rest[tl:]
		if p.QoS() > 0 {
			if len(rest) < 2 {
				return fmt.Errorf("%w: PUBLISH QoS %d without packet identifier", ErrMalformed, p.QoS())
			}
			p.ID, rest = uint16(rest[0])<<8|uint16(rest[1]), rest[2:]
		}
		p.Payload = rest
	case TypePuback:
		if len(body) != 2 {
			return fmt.Errorf("%w: PUBACK of %d bytes", ErrMalformed, len(body))
		}
		p.ID = uint16(body[0])<<8 | uint16(body[1])
	case TypeSuback:
		if len(body) < 3 {
			return fmt.Errorf("%w: SUBACK of %d bytes", ErrMalformed, len(body))
		}
		p.ID = uint16(body[0])<<8 | uint16(body[1])
		p.Code = body[2]
	case TypePingresp:
		if len(body) != 0 {
			return fmt.Errorf("%w: PINGRESP of %d bytes", ErrMalformed, len(body))
		}
	default:
		return fmt.Errorf("%w: unexpected packet type %d", ErrMalformed, p.Type)
	}
	return nil
}
