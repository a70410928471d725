package tally

import (
	"encoding/binary"
	"errors"
	"time"
)

// HeaderSize is the size of the header at the start of every payload: the
// publisher's number, the message's sequence number and its send time.
const HeaderSize = 4 + 8 + 8

// ErrShortPayload is a payload too short to hold a Header.
var ErrShortPayload = errors.New("tally: payload shorter than its header")

// Header identifies one published message.
type Header struct {
	Publisher uint32 // dense number of the publisher within a run, from 0
	Seq       uint64 // per publisher, from 0, no gaps
	Sent      int64  // nanoseconds since the Clock's epoch
}

// Put writes h into the first HeaderSize bytes of b.
func (h Header) Put(b []byte) {
	binary.BigEndian.PutUint32(b[0:], h.Publisher)
	binary.BigEndian.PutUint64(b[4:], h.Seq)
	binary.BigEndian.PutUint64(b[12:], uint64(h.Sent))
}

// ParseHeader reads the header at the start of a payload.
func ParseHeader(b []byte) (Header, error) {
	if len(b) < HeaderSize {
		return Header{}, ErrShortPayload
	}
	return Header{
		Publisher: binary.BigEndian.Uint32(b[0:]),
		Seq:       binary.BigEndian.Uint64(b[4:]),
		Sent:      int64(binary.BigEndian.Uint64(b[12:])),
	}, nil
}

// Clock gives monotonic nanoseconds since its epoch; publishers and
// subscribers of one run share it, so a latency is one subtraction.
type Clock struct{ epoch time.Time }

// NewClock starts a clock now.
func NewClock() Clock { return Clock{epoch: time.Now()} }

// Now returns nanoseconds since the epoch.
func (c Clock) Now() int64 { return int64(time.Since(c.epoch)) }

// At returns t in nanoseconds since the epoch.
func (c Clock) At(t time.Time) int64 { return int64(t.Sub(c.epoch)) }

// Time returns the wall-clock time of ns nanoseconds since the epoch.
func (c Clock) Time(ns int64) time.Time { return c.epoch.Add(time.Duration(ns)) }
