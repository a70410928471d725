package rawmqtt

import (
	"bufio"
	"fmt"
	"io"
)

// Packet is one packet as read: the fixed header's first byte and the
// bytes after the remaining length, undecoded. Its methods decode the
// fields a type has and report what does not fit.
type Packet struct {
	Header byte
	Body   []byte
}

// Type is the packet type, the high nibble of the header.
func (p Packet) Type() byte { return p.Header >> 4 }

// QoS is a PUBLISH's QoS, bits 1 and 2 of the header.
func (p Packet) QoS() byte { return p.Header >> PublishQoSShift & 3 }

var typeNames = [16]string{"reserved type 0", "CONNECT", "CONNACK", "PUBLISH", "PUBACK", "PUBREC", "PUBREL", "PUBCOMP",
	"SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK", "PINGREQ", "PINGRESP", "DISCONNECT", "reserved type 15"}

// HeaderName names a fixed header's first byte, e.g. "PUBREL (0x62)".
func HeaderName(header byte) string { return fmt.Sprintf("%s (%#02x)", typeNames[header>>4], header) }

func (p Packet) String() string {
	body := p.Body
	if len(body) > 32 {
		body = body[:32]
	}
	return fmt.Sprintf("%s body % x (%d bytes)", HeaderName(p.Header), body, len(p.Body))
}

// malformed wraps ErrMalformed with what is wrong with p.
func (p Packet) malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s: %v", ErrMalformed, fmt.Sprintf(format, args...), p)
}

// publishParts splits a PUBLISH's body: the topic, the packet identifier
// (QoS 1 and 2) and the payload, all slices of the body.
func (p Packet) publishParts() (topic []byte, id uint16, payload []byte, err error) {
	if p.Type() != TypePublish {
		return nil, 0, nil, p.malformed("want PUBLISH")
	}
	qos := p.QoS()
	if qos == 3 {
		return nil, 0, nil, p.malformed("PUBLISH with QoS 3 [MQTT-3.3.1-4]")
	}
	body := p.Body
	if len(body) < 2 {
		return nil, 0, nil, p.malformed("PUBLISH without topic length")
	}
	n := int(body[0])<<8 | int(body[1])
	if 2+n > len(body) {
		return nil, 0, nil, p.malformed("PUBLISH topic length %d exceeds its body", n)
	}
	topic, body = body[2:2+n], body[2+n:]
	if qos > 0 {
		if len(body) < 2 {
			return nil, 0, nil, p.malformed("QoS %d PUBLISH without packet identifier", qos)
		}
		if id, body = uint16(body[0])<<8|uint16(body[1]), body[2:]; id == 0 {
			return nil, 0, nil, p.malformed("PUBLISH with packet identifier 0 [MQTT-2.3.1-1]")
		}
	}
	return topic, id, body, nil
}

// Publish decodes a PUBLISH. It is malformed with QoS 3 [MQTT-3.3.1-4], or
// at QoS 1 or 2 with packet identifier 0 [MQTT-2.3.1-1].
func (p Packet) Publish() (Publish, error) {
	topic, id, payload, err := p.publishParts()
	if err != nil {
		return Publish{}, err
	}
	return Publish{
		Topic:   string(topic),
		Payload: string(payload),
		QoS:     p.QoS(),
		Retain:  p.Header&PublishRetain != 0,
		Dup:     p.Header&PublishDup != 0,
		ID:      id,
	}, nil
}

// Payload is a PUBLISH's payload, a slice of the body: Publish without
// copying, for the load generator.
func (p Packet) Payload() ([]byte, error) {
	_, _, payload, err := p.publishParts()
	return payload, err
}

// ID is the packet identifier of a PUBLISH at QoS 1 or 2, of SUBSCRIBE,
// SUBACK and UNSUBSCRIBE (their first two bytes), and of PUBACK, PUBREC,
// PUBREL, PUBCOMP and UNSUBACK, whose body is just the identifier.
func (p Packet) ID() (uint16, error) {
	switch p.Type() {
	case TypePublish:
		_, id, _, err := p.publishParts()
		if err == nil && p.QoS() == 0 {
			err = p.malformed("a QoS 0 PUBLISH has no packet identifier")
		}
		return id, err
	case TypeSubscribe, TypeSuback, TypeUnsubscribe:
		if len(p.Body) < 2 {
			return 0, p.malformed("no packet identifier")
		}
	case TypePuback, TypePubrec, TypePubrel, TypePubcomp, TypeUnsuback:
		if len(p.Body) != 2 {
			return 0, p.malformed("want a body of 2 bytes")
		}
	default:
		return 0, p.malformed("this type has no packet identifier")
	}
	return uint16(p.Body[0])<<8 | uint16(p.Body[1]), nil
}

// Connack is a CONNACK's fields [MQTT-3.2.2].
type Connack struct {
	Flags byte // acknowledge flags: bit 0 session present, the rest reserved
	Code  byte // return code
}

// SessionPresent is the session present flag.
func (a Connack) SessionPresent() bool { return a.Flags&1 != 0 }

// Connack decodes a CONNACK, whose body is 2 bytes.
func (p Packet) Connack() (Connack, error) {
	if p.Type() != TypeConnack {
		return Connack{}, p.malformed("want CONNACK")
	}
	if len(p.Body) != 2 {
		return Connack{}, p.malformed("CONNACK remaining length %d, want 2", len(p.Body))
	}
	return Connack{Flags: p.Body[0], Code: p.Body[1]}, nil
}

// Suback decodes a SUBACK: its packet identifier and a return code per
// filter (a slice of the body).
func (p Packet) Suback() (id uint16, codes []byte, err error) {
	if p.Type() != TypeSuback {
		return 0, nil, p.malformed("want SUBACK")
	}
	if len(p.Body) < 3 {
		return 0, nil, p.malformed("SUBACK without a return code")
	}
	return uint16(p.Body[0])<<8 | uint16(p.Body[1]), p.Body[2:], nil
}

// readPacket reads one packet from r into buf (grown when too small) and
// returns it with the buffer. Bytes are not interpreted beyond the fixed
// header: any type, any flags, any body.
func readPacket(r *bufio.Reader, buf []byte) (Packet, []byte, error) {
	h, err := r.ReadByte()
	if err != nil {
		return Packet{}, buf, err
	}
	n, err := readVarint(r)
	if err != nil {
		return Packet{}, buf, unexpected(err)
	}
	if cap(buf) < n {
		buf = make([]byte, n, max(n, 2*cap(buf)))
	}
	body := buf[:n]
	if _, err := io.ReadFull(r, body); err != nil {
		return Packet{}, buf, unexpected(err)
	}
	return Packet{Header: h, Body: body}, buf, nil
}

// unexpected turns an EOF inside a packet into io.ErrUnexpectedEOF.
func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
