package packet

import (
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/forkmq/forkmq/internal/topic"
)

// This file holds the primitives of the wire format shared by every packet:
// the decoding cursor, the encoding helpers and the checks both directions
// apply to strings and topics.

// cursor walks the body of one packet. Every read names the field it reads,
// so that an error says which field was wrong.
type cursor struct {
	t     Type
	flags byte   // fixed header flags, for PUBLISH
	b     []byte // the bytes not read yet
}

func (c *cursor) fail(field string, err error) error { return newError(c.t, field, err) }

// take returns the next n bytes, capped so that appending to them cannot
// overwrite the fields that follow.
func (c *cursor) take(field string, n int) ([]byte, error) {
	if len(c.b) < n {
		return nil, c.fail(field, ErrTruncated)
	}
	v := c.b[:n:n]
	c.b = c.b[n:]
	return v, nil
}

func (c *cursor) byte(field string) (byte, error) {
	v, err := c.take(field, 1)
	if err != nil {
		return 0, err
	}
	return v[0], nil
}

func (c *cursor) uint16(field string) (uint16, error) {
	v, err := c.take(field, 2)
	if err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint16(v), nil
}

// packetID reads a packet identifier, which is never 0 [MQTT-2.3.1-1].
func (c *cursor) packetID() (uint16, error) {
	const field = "packet identifier"
	id, err := c.uint16(field)
	if err == nil && id == 0 {
		err = c.fail(field, ErrPacketID)
	}
	return id, err
}

// onlyPacketID reads the packet identifier that is the whole body of an
// acknowledgement.
func (c *cursor) onlyPacketID() (uint16, error) {
	id, err := c.packetID()
	if err == nil {
		err = c.end()
	}
	return id, err
}

// binary reads length-prefixed binary data [MQTT-1.5.5]. Empty data is nil.
func (c *cursor) binary(field string) ([]byte, error) {
	n, err := c.uint16(field)
	if err != nil || n == 0 {
		return nil, err
	}
	return c.take(field, int(n))
}

// string reads a UTF-8 encoded string [MQTT-1.5.3].
func (c *cursor) string(field string) (string, error) {
	b, err := c.binary(field)
	if err != nil {
		return "", err
	}
	s := string(b)
	if !validUTF8(s) {
		return "", c.fail(field, ErrInvalidUTF8)
	}
	if hasControl(s) {
		return "", c.fail(field, ErrControlChar)
	}
	return s, nil
}

// topic reads a topic name or filter [MQTT-4.7].
func (c *cursor) topic(field string, isFilter bool) (string, error) {
	b, err := c.binary(field)
	if err != nil {
		return "", err
	}
	s := string(b)
	return s, checkTopic(c.t, field, s, isFilter)
}

// end reports bytes left over after the last field.
func (c *cursor) end() error {
	if len(c.b) != 0 {
		return c.fail("", ErrTrailingBytes)
	}
	return nil
}

// rest returns all the bytes not read yet, or nil if there are none.
func (c *cursor) rest() []byte {
	if len(c.b) == 0 {
		return nil
	}
	v := c.b
	c.b = nil
	return v
}

// validUTF8 reports whether s is well-formed UTF-8, which excludes the
// surrogates U+D800 to U+DFFF [MQTT-1.5.3-1], and free of U+0000
// [MQTT-1.5.3-2].
func validUTF8(s string) bool {
	return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0
}

// hasControl reports whether valid UTF-8 s holds a control character,
// U+0001–U+001F or U+007F–U+009F. MQTT 3.1.1 allows a receiver to close the
// connection on one [MQTT-1.5.3]; forkmq does, as mosquitto does, for every
// string a client sends that names something (client identifier, user name,
// will topic, topic names and filters).
func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		switch b := s[i]; {
		case b < 0x20 && b != 0, b == 0x7f:
			return true
		case b == 0xc2 && i+1 < len(s) && s[i+1] >= 0x80 && s[i+1] <= 0x9f: // U+0080–U+009F
			return true
		}
	}
	return false
}

// checkString checks a string about to be encoded.
func checkString(t Type, field, s string) error {
	if len(s) > 65535 {
		return newError(t, field, ErrTooLong)
	}
	if !validUTF8(s) {
		return newError(t, field, ErrInvalidUTF8)
	}
	return nil
}

// checkTopic checks a topic name or filter, decoded or to be encoded, with
// the topic package and reports its verdict under this package's sentinels:
// ErrInvalidUTF8 and ErrTooLong as for any string, ErrTopicName or
// ErrTopicFilter for the rest (empty [MQTT-4.7.3-1], wildcards misplaced
// [MQTT-4.7.1-2, MQTT-4.7.1-3] or in a name [MQTT-3.3.2-2]).
func checkTopic(t Type, field, s string, isFilter bool) error {
	var err error
	if isFilter {
		err = topic.ValidateFilter(s)
	} else {
		err = topic.ValidateName(s)
	}
	if err == nil {
		if hasControl(s) {
			return newError(t, field, ErrControlChar)
		}
		return nil
	}
	sentinel := ErrTopicName
	switch {
	case errors.Is(err, topic.ErrInvalidUTF8):
		sentinel = ErrInvalidUTF8
	case errors.Is(err, topic.ErrTooLong):
		sentinel = ErrTooLong
	case isFilter:
		sentinel = ErrTopicFilter
	}
	return &Error{Type: t, Field: field, Err: sentinel, cause: err}
}

func checkPacketID(t Type, id uint16) error {
	if id == 0 {
		return newError(t, "packet identifier", ErrPacketID) // [MQTT-2.3.1-1]
	}
	return nil
}

func appendUint16(dst []byte, v uint16) []byte { return binary.BigEndian.AppendUint16(dst, v) }

// appendString appends a length-prefixed string or binary data; the caller
// has checked that it is at most 65535 bytes long.
func appendString[S string | []byte](dst []byte, s S) []byte {
	return append(appendUint16(dst, uint16(len(s))), s...)
}

// appendRemainingLength appends n in the variable length encoding
// [MQTT-2.2.3]: seven bits a byte, least significant first.
func appendRemainingLength(dst []byte, n int) []byte {
	for n >= 0x80 {
		dst = append(dst, byte(n)|0x80)
		n >>= 7
	}
	return append(dst, byte(n))
}

// headerFlags returns the flags nibble of the fixed header for p.
func headerFlags(p Packet) byte {
	if pub, ok := p.(*Publish); ok {
		return pub.flags()
	}
	return requiredFlags(p.Type())
}

// requiredFlags returns the only flags allowed for every type but PUBLISH:
// 0010 for PUBREL, SUBSCRIBE and UNSUBSCRIBE [MQTT-3.6.1-1, MQTT-3.8.1-1,
// MQTT-3.10.1-1], 0000 for the others [MQTT-2.2.2-1].
func requiredFlags(t Type) byte {
	switch t {
	case TypePubrel, TypeSubscribe, TypeUnsubscribe:
		return 0x2
	}
	return 0
}

// fixedLength returns the remaining length of the types whose body has a
// fixed size, or -1.
func fixedLength(t Type) int {
	switch t {
	case TypeConnack, TypePuback, TypePubrec, TypePubrel, TypePubcomp, TypeUnsuback:
		return 2 // [MQTT-3.2.1], [MQTT-3.4.1], [MQTT-3.5.1], [MQTT-3.6.1], [MQTT-3.7.1], [MQTT-3.11.1]
	case TypePingreq, TypePingresp, TypeDisconnect:
		return 0 // [MQTT-3.12.1], [MQTT-3.13.1], [MQTT-3.14.1]
	}
	return -1
}

// byteReader adapts an io.Reader without ReadByte.
type byteReader struct {
	r   io.Reader
	buf [1]byte
}

func (r *byteReader) ReadByte() (byte, error) {
	_, err := io.ReadFull(r.r, r.buf[:])
	return r.buf[0], err
}
