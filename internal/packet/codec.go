package packet

import (
	"errors"
	"io"
	"slices"
	"sync"
)

// Packet is one MQTT control packet. It is implemented by the pointer types
// of this package only: *Connect, *Connack, *Publish, *Puback, *Pubrec,
// *Pubrel, *Pubcomp, *Subscribe, *Suback, *Unsubscribe, *Unsuback,
// *Pingreq, *Pingresp and *Disconnect.
type Packet interface {
	Type() Type

	// size checks that the packet can be encoded and returns its
	// remaining length.
	size() (int, error)
	// appendBody appends the variable header and payload; size has
	// returned no error.
	appendBody(dst []byte) []byte
	// decode reads the packet from the body and checks that nothing is
	// left over. The cursor is passed by value so that it stays on the
	// stack.
	decode(c cursor) error
}

// newPacket is the one decoding dispatch: an empty packet of type t, which
// ReadFixedHeader has checked to be valid.
func newPacket(t Type) Packet {
	switch t {
	case TypeConnect:
		return new(Connect)
	case TypeConnack:
		return new(Connack)
	case TypePublish:
		return new(Publish)
	case TypePuback:
		return new(Puback)
	case TypePubrec:
		return new(Pubrec)
	case TypePubrel:
		return new(Pubrel)
	case TypePubcomp:
		return new(Pubcomp)
	case TypeSubscribe:
		return new(Subscribe)
	case TypeSuback:
		return new(Suback)
	case TypeUnsubscribe:
		return new(Unsubscribe)
	case TypeUnsuback:
		return new(Unsuback)
	case TypePingreq:
		return new(Pingreq)
	case TypePingresp:
		return new(Pingresp)
	case TypeDisconnect:
		return new(Disconnect)
	}
	panic("packet: no packet type " + t.String())
}

// Append appends the wire encoding of p, fixed header included, to dst. It
// checks p first and, if p cannot be encoded as a valid packet, returns dst
// unchanged and an *Error.
func Append(dst []byte, p Packet) ([]byte, error) {
	n, err := p.size()
	if err != nil {
		return dst, err
	}
	if n > MaxRemainingLength {
		return dst, newError(p.Type(), "remaining length", ErrPacketTooLarge)
	}
	dst = slices.Grow(dst, 5+n)
	dst = append(dst, byte(p.Type())<<4|headerFlags(p))
	dst = appendRemainingLength(dst, n)
	return p.appendBody(dst), nil
}

// Encode returns the wire encoding of p.
func Encode(p Packet) ([]byte, error) { return Append(nil, p) }

// writeBuffers recycles the buffers of Write. Buffers that grew beyond
// maxPooled are left to the garbage collector.
var writeBuffers = sync.Pool{New: func() any { return new([]byte) }}

const maxPooled = 64 << 10

// Write encodes p and writes it to w with a single Write call, so that
// packets written by concurrent callers of a synchronized writer do not
// interleave.
func Write(w io.Writer, p Packet) error {
	bp := writeBuffers.Get().(*[]byte)
	b, err := Append((*bp)[:0], p)
	if err == nil {
		_, err = w.Write(b)
	}
	if cap(b) <= maxPooled {
		*bp = b
		writeBuffers.Put(bp)
	}
	return err
}

// FixedHeader is the first two to five bytes of every packet [MQTT-2.2].
type FixedHeader struct {
	Type            Type
	Flags           byte // the low nibble of the first byte
	RemainingLength int  // bytes of variable header and payload
}

// ReadFixedHeader reads and checks a fixed header: the type is not reserved,
// the flags are those the type allows [MQTT-2.2.2-1, MQTT-2.2.2-2], and the
// remaining length takes at most four bytes [MQTT-2.2.3] and fits the type.
// It returns io.EOF if r ends before the first byte and io.ErrUnexpectedEOF
// if it ends inside the header. It reads byte by byte: give it a buffered
// reader (an io.ByteReader such as *bufio.Reader is used as one).
func ReadFixedHeader(r io.Reader) (FixedHeader, error) {
	br, ok := r.(io.ByteReader)
	if !ok {
		br = &byteReader{r: r}
	}
	var buf [5]byte
	for n := range len(buf) {
		b, err := br.ReadByte()
		if err == io.EOF && n > 0 {
			err = io.ErrUnexpectedEOF
		}
		if err != nil {
			return FixedHeader{}, err
		}
		buf[n] = b
		// Parse what has arrived: a bad first byte is reported at once.
		if h, _, err := decodeHeader(buf[:n+1]); err != io.ErrUnexpectedEOF {
			return h, err
		}
	}
	panic("unreachable: decodeHeader rejects five bytes of remaining length")
}

// decodeHeader parses the fixed header at the start of b and returns it
// with its length. If b ends inside the header it returns
// io.ErrUnexpectedEOF, after checking the bytes it has.
func decodeHeader(b []byte) (FixedHeader, int, error) {
	if len(b) == 0 {
		return FixedHeader{}, 0, io.ErrUnexpectedEOF
	}
	h := FixedHeader{Type: Type(b[0] >> 4), Flags: b[0] & 0x0f}
	if err := checkTypeAndFlags(h); err != nil {
		return FixedHeader{}, 0, err
	}
	for i := 1; ; i++ {
		switch {
		case i == 5:
			// The remaining length takes at most four bytes [MQTT-2.2.3].
			return FixedHeader{}, 0, newError(h.Type, "remaining length", ErrRemainingLength)
		case i == len(b):
			return FixedHeader{}, 0, io.ErrUnexpectedEOF
		}
		h.RemainingLength |= int(b[i]&0x7f) << (7 * (i - 1))
		if b[i]&0x80 == 0 {
			if err := checkLength(h); err != nil {
				return FixedHeader{}, 0, err
			}
			return h, i + 1, nil
		}
	}
}

// checkTypeAndFlags checks the first byte of a fixed header.
func checkTypeAndFlags(h FixedHeader) error {
	const field = "fixed header flags"
	if h.Type == 0 || h.Type >= 15 {
		return newError(h.Type, "packet type", ErrReservedType) // [MQTT-2.2.1]
	}
	if h.Flags > 0x0f {
		return newError(h.Type, field, ErrFlags)
	}
	if h.Type != TypePublish {
		if h.Flags != requiredFlags(h.Type) {
			return newError(h.Type, field, ErrFlags) // [MQTT-2.2.2-1, MQTT-2.2.2-2]
		}
		return nil
	}
	qos := QoS(h.Flags>>1) & 3
	if qos > ExactlyOnce {
		return newError(h.Type, "QoS", ErrQoS) // [MQTT-3.3.1-4]
	}
	if qos == AtMostOnce && h.Flags&0x8 != 0 {
		return newError(h.Type, "DUP flag", ErrFlags) // [MQTT-3.3.1-2]
	}
	return nil
}

// checkLength checks the remaining length against its range and, for the
// types whose body has a fixed size, against that size.
func checkLength(h FixedHeader) error {
	n := fixedLength(h.Type)
	if h.RemainingLength < 0 || h.RemainingLength > MaxRemainingLength ||
		(n >= 0 && h.RemainingLength != n) {
		return newError(h.Type, "remaining length", ErrRemainingLength)
	}
	return nil
}

// ReadBody reads and decodes the body of the packet whose fixed header h
// has just been read. If the remaining length exceeds maxSize (at most
// MaxRemainingLength; <= 0 means MaxRemainingLength) it returns an error
// matching ErrPacketTooLarge without reading anything. If r ends early it
// returns io.ErrUnexpectedEOF.
func ReadBody(r io.Reader, h FixedHeader, maxSize int) (Packet, error) {
	if err := checkTypeAndFlags(h); err != nil {
		return nil, err
	}
	if err := checkLength(h); err != nil {
		return nil, err
	}
	if err := checkSize(h, maxSize); err != nil {
		return nil, err
	}
	body, err := readBody(r, h.RemainingLength)
	if err != nil {
		return nil, err
	}
	return decodeBody(h, body)
}

func checkSize(h FixedHeader, maxSize int) error {
	if maxSize <= 0 {
		maxSize = MaxRemainingLength
	}
	if h.RemainingLength > maxSize {
		return newError(h.Type, "remaining length", ErrPacketTooLarge)
	}
	return nil
}

// readStep is how much of a body is allocated before its bytes arrive.
const readStep = 64 << 10

// readBody reads n bytes. It trusts n only up to readStep: beyond that the
// buffer at most doubles for each step of bytes that actually arrived, so a
// peer that claims 256 MiB and sends nothing costs 64 KiB.
func readBody(r io.Reader, n int) ([]byte, error) {
	if n == 0 {
		return nil, nil
	}
	b := make([]byte, 0, min(n, readStep))
	for len(b) < n {
		if len(b) == cap(b) {
			b = slices.Grow(b, min(cap(b), n-len(b)))
		}
		m, err := io.ReadFull(r, b[len(b):min(cap(b), n)])
		b = b[:len(b)+m]
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		if err != nil {
			return nil, err
		}
	}
	return b, nil
}

// decodeBody decodes the body of a packet; the packet keeps body.
func decodeBody(h FixedHeader, body []byte) (Packet, error) {
	p := newPacket(h.Type)
	if err := p.decode(cursor{t: h.Type, flags: h.Flags, b: body}); err != nil {
		return nil, err
	}
	return p, nil
}

// Read reads one packet from r: ReadFixedHeader followed by ReadBody. It
// returns io.EOF if r ends cleanly before the packet.
func Read(r io.Reader, maxSize int) (Packet, error) {
	h, err := ReadFixedHeader(r)
	if err != nil {
		return nil, err
	}
	return ReadBody(r, h, maxSize)
}

// Decode decodes the packet at the start of b and returns it with the
// number of bytes it took. If b holds only part of a packet it returns
// io.ErrUnexpectedEOF (after checking the part it has, so a malformed or
// too large packet is reported as soon as its header is complete). The
// packet does not refer to b's memory. On error n is 0.
func Decode(b []byte, maxSize int) (p Packet, n int, err error) {
	h, start, err := decodeHeader(b)
	if err == nil {
		err = checkSize(h, maxSize)
	}
	if err != nil {
		return nil, 0, err
	}
	end := start + h.RemainingLength
	if end > len(b) {
		return nil, 0, io.ErrUnexpectedEOF
	}
	var body []byte
	if h.RemainingLength > 0 {
		body = slices.Clone(b[start:end])
	}
	if p, err = decodeBody(h, body); err != nil {
		return nil, 0, err
	}
	return p, end, nil
}
