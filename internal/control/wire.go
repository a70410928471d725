package control

import (
	"encoding/binary"
	"os"

	"golang.org/x/sys/unix"

	"github.com/forkmq/forkmq/internal/spawn"
)

// Limits of one message. A client identifier longer than MaxString cannot
// be claimed: the router refuses it with CONNACK 2 (identifier rejected),
// which the server may do for any identifier past 23 bytes [MQTT-3.1.3-5].
const (
	MaxSize   = 4096 // bytes in one datagram
	MaxString = 1024 // bytes in one string field
	MaxFiles  = 3    // descriptors in one message (Hand's)
)

// fields walks the fields of one message in one direction: appending them to
// b (and its descriptors to out) when encoding, reading them from b (and
// taking descriptors from fds) when decoding. Every step names its field, so
// an error says which field was wrong; after the first error every step does
// nothing.
type fields struct {
	t      Type
	decode bool
	b      []byte     // encoding: the datagram so far; decoding: the bytes not read yet
	files  []*os.File // decoding: the descriptors wrapped so far
	out    []int      // encoding: the descriptors to send, in order
	fds    []int      // decoding: the descriptors not taken yet
	raw    bool       // decoding: a Hand's descriptors are taken unwrapped (Conn.RawHands)
	taken  []int      // decoding: those taken unwrapped so far
	err    error
}

func (f *fields) fail(field string, err error) {
	if f.err == nil {
		f.err = &Error{Type: f.t, Field: field, Err: err}
	}
}

// take returns the next n bytes when decoding (nil after an error).
func (f *fields) take(field string, n int) []byte {
	if f.err != nil {
		return nil
	}
	if len(f.b) < n {
		f.fail(field, ErrTruncated)
		return nil
	}
	v := f.b[:n:n]
	f.b = f.b[n:]
	return v
}

func (f *fields) u8(field string, v *uint8) {
	if !f.decode {
		f.b = append(f.b, *v)
	} else if b := f.take(field, 1); b != nil {
		*v = b[0]
	}
}

func (f *fields) u32(field string, v *uint32) {
	if !f.decode {
		f.b = binary.BigEndian.AppendUint32(f.b, *v)
	} else if b := f.take(field, 4); b != nil {
		*v = binary.BigEndian.Uint32(b)
	}
}

func (f *fields) u64(field string, v *uint64) {
	if !f.decode {
		f.b = binary.BigEndian.AppendUint64(f.b, *v)
	} else if b := f.take(field, 8); b != nil {
		*v = binary.BigEndian.Uint64(b)
	}
}

// bool is one byte, 0 or 1: any other value is refused, so that what
// decodes re-encodes to the same bytes.
func (f *fields) bool(field string, v *bool) {
	var b uint8
	if *v {
		b = 1
	}
	f.u8(field, &b)
	if b > 1 {
		f.fail(field, ErrValue)
	}
	*v = b == 1
}

// string is a u16 length and at most MaxString bytes.
func (f *fields) string(field string, v *string) {
	if f.err != nil {
		return
	}
	if !f.decode {
		if len(*v) > MaxString {
			f.fail(field, ErrTooLong)
			return
		}
		f.b = binary.BigEndian.AppendUint16(f.b, uint16(len(*v)))
		f.b = append(f.b, *v...)
		return
	}
	n := f.take(field, 2)
	if n == nil {
		return
	}
	if l := binary.BigEndian.Uint16(n); l > MaxString {
		f.fail(field, ErrTooLong)
	} else if b := f.take(field, int(l)); b != nil {
		*v = string(b)
	}
}

// name is a string that must not be empty: a connection, a queue, a client
// identifier.
func (f *fields) name(field string, v *string) {
	f.string(field, v)
	if f.err == nil && *v == "" {
		f.fail(field, ErrEmpty)
	}
}

// enum is a one-byte enumeration; valid says which values exist.
func enum[E ~uint8](f *fields, field string, v *E, valid func(E) bool) {
	b := uint8(*v)
	f.u8(field, &b)
	*v = E(b)
	if f.err == nil && !valid(*v) {
		f.fail(field, ErrValue)
	}
}

// exitCode is a worker's exit code, one byte like an exit status.
func (f *fields) exitCode(field string, v *spawn.ExitCode) {
	if *v < 0 || *v > 255 {
		f.fail(field, ErrValue)
		return
	}
	b := uint8(*v)
	f.u8(field, &b)
	*v = spawn.ExitCode(b)
}

// file is a descriptor sent with the message. The datagram holds nothing
// for it: descriptors travel in order in the ancillary data.
func (f *fields) file(field string, v **os.File) { f.fileOrFd(field, v, nil) }

// fileOrFd is file for a descriptor that may travel unwrapped. Decoding,
// a raw decoding (Conn.RawHands) puts its number in *fd and leaves *v nil;
// any other sets *fd to -1. Encoding, *v is sent when it is set, else the
// number *fd (the supervisor's copies of a handed socket and pair channel
// are plain descriptors, see Hand).
func (f *fields) fileOrFd(field string, v **os.File, fd *int) {
	if f.err != nil {
		return
	}
	if !f.decode {
		switch {
		case *v != nil:
			n, err := rawFd(*v)
			if err != nil {
				f.fail(field, err)
				return
			}
			f.out = append(f.out, n)
		case fd != nil && *fd >= 0:
			f.out = append(f.out, *fd)
		default:
			f.fail(field, ErrMissingFile)
		}
		return
	}
	if len(f.fds) == 0 {
		f.fail(field, ErrDescriptors)
		return
	}
	switch {
	case fd != nil && f.raw:
		*fd = f.fds[0]
		f.taken = append(f.taken, *fd)
	case fd != nil:
		*fd = -1
		fallthrough
	default:
		*v = os.NewFile(uintptr(f.fds[0]), field)
		f.files = append(f.files, *v)
	}
	f.fds = f.fds[1:]
}

// Encode returns the datagram of m and the descriptors to send with it, in
// order: its files' and its raw numbers. They stay the message's: the
// caller keeps m (and its files) alive and open until they are sent.
func Encode(m Message) ([]byte, []int, error) {
	t := m.Type()
	f := fields{t: t, b: append(make([]byte, 0, 64), byte(t))}
	m.walk(&f)
	if f.err != nil {
		return nil, nil, f.err
	}
	if len(f.b) > MaxSize {
		return nil, nil, &Error{Type: t, Err: ErrOversized}
	}
	return f.b, f.out, nil
}

// Decode reads one datagram and the descriptors that came with it. The
// message owns the descriptors it names; on an error every one of them is
// closed, so a malformed message leaks nothing.
func Decode(b []byte, fds []int) (Message, error) { return decodeAs(b, fds, false) }

// decodeAs is Decode, taking a Hand's descriptors unwrapped when raw (see
// Conn.RawHands).
func decodeAs(b []byte, fds []int, raw bool) (Message, error) {
	m, f := decode(b, fds, raw)
	if f.err != nil {
		for _, file := range f.files {
			file.Close()
		}
		for _, fd := range append(f.taken, f.fds...) {
			unix.Close(fd)
		}
		return nil, f.err
	}
	return m, nil
}

func decode(b []byte, fds []int, raw bool) (Message, *fields) {
	f := &fields{decode: true, fds: fds, raw: raw}
	switch {
	case len(b) == 0:
		f.fail("type", ErrTruncated)
	case len(b) > MaxSize:
		f.t = Type(b[0])
		f.fail("", ErrOversized)
	case !Type(b[0]).known():
		f.fail("type", ErrUnknownType)
	}
	if f.err != nil {
		return nil, f
	}
	f.t, f.b = Type(b[0]), b[1:]
	if len(fds) != f.t.Files() {
		f.fail("", ErrDescriptors)
		return nil, f
	}
	m := types[f.t].new()
	m.walk(f)
	if f.err == nil && len(f.b) != 0 {
		f.fail("", ErrTrailing)
	}
	return m, f
}
