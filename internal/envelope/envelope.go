package envelope

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// Kind is the first byte of every envelope.
type Kind byte

// Envelope kinds.
const (
	KindPacket  Kind = 0x01
	KindPublish Kind = 0x02
	KindSpooled Kind = 0x03
	KindClose   Kind = 0x04
	KindMailbox Kind = 0x05
	KindAck     Kind = 0x06
	KindAdopt   Kind = 0x07
	KindHold    Kind = 0x08
	KindRelease Kind = 0x09
	KindBatch   Kind = 0x0a
	KindSegment Kind = 0x0b
)

// Hold and Release are the KindHold and KindRelease envelopes.
var (
	Hold    = []byte{byte(KindHold)}
	Release = []byte{byte(KindRelease)}
)

// PrioPublish is the priority of every envelope on a client's queue: they
// are all publications, taken in the order they came (what must overtake
// them travels on the pair channel).
const PrioPublish uint32 = 0

// ErrBadEnvelope reports a queue message this package cannot read.
var ErrBadEnvelope = errors.New("envelope: malformed")

// Publication is a PUBLISH as routed to one subscriber: its QoS is already
// the one granted to that subscriber.
type Publication struct {
	Flags   byte
	Topic   string
	Payload []byte
}

// PublicationSize is the encoded size of a publication body (flags, topic
// length, topic and payload), without the kind byte.
func PublicationSize(topicLen, payloadLen int) int { return 1 + 2 + topicLen + payloadLen }

// AppendPublication appends the publication body (without kind byte).
func AppendPublication(dst []byte, flags byte, topic string, payload []byte) []byte {
	dst = append(dst, flags)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(topic)))
	dst = append(dst, topic...)
	return append(dst, payload...)
}

// AppendPublish appends a whole KindPublish envelope.
func AppendPublish(dst []byte, flags byte, topic string, payload []byte) []byte {
	return AppendPublication(append(dst, byte(KindPublish)), flags, topic, payload)
}

// AppendPacket appends a KindPacket envelope around encoded MQTT bytes.
func AppendPacket(dst []byte, mqtt []byte) []byte {
	return append(append(dst, byte(KindPacket)), mqtt...)
}

// AppendSpooled appends a KindSpooled envelope naming a spool file.
func AppendSpooled(dst []byte, file string) []byte { return AppendNamed(dst, KindSpooled, file) }

// A KindSegment envelope names a copy in the receiving queue's spool
// segment (package spool): where it starts and how long it is, each 8 bytes
// big-endian. The copy is what a KindSpooled file would hold.

// SegmentSize is the size of a KindSegment envelope.
const SegmentSize = 1 + 8 + 8

// AppendSegment appends a KindSegment envelope for n bytes at off.
func AppendSegment(dst []byte, off, n int64) []byte {
	dst = binary.BigEndian.AppendUint64(append(dst, byte(KindSegment)), uint64(off))
	return binary.BigEndian.AppendUint64(dst, uint64(n))
}

// ParseSegment reads the body (without kind byte) of a KindSegment
// envelope.
func ParseSegment(b []byte) (off, n int64, err error) {
	if len(b) != SegmentSize-1 {
		return 0, 0, fmt.Errorf("%w: segment reference of %d bytes", ErrBadEnvelope, len(b))
	}
	off, n = int64(binary.BigEndian.Uint64(b)), int64(binary.BigEndian.Uint64(b[8:]))
	if off < 0 || n < 0 {
		return 0, 0, fmt.Errorf("%w: segment reference %d+%d", ErrBadEnvelope, off, n)
	}
	return off, n, nil
}

// Close is the KindClose envelope.
var Close = []byte{byte(KindClose)}

// AppendClosePooled appends the KindClose envelope of a router that is
// back in the pool already: its deliverer says so for it when it ends
// (control.PartnerIdle). sent is how many control messages the router has
// sent the supervisor in its life; the deliverer passes it on, so that the
// supervisor acts on the router's end only after all of them
// (control.PartnerIdle.RouterSent).
func AppendClosePooled(b []byte, sent uint32) []byte {
	return binary.BigEndian.AppendUint32(append(b, byte(KindClose), closePooled), sent)
}

// closePooled is the flag byte of AppendClosePooled's envelope.
const closePooled = 1

// Pooled reports whether a KindClose envelope is one of AppendClosePooled,
// and the count it carries.
func Pooled(env []byte) (sent uint32, ok bool) {
	if len(env) != 6 || Kind(env[0]) != KindClose || env[1] != closePooled {
		return 0, false
	}
	return binary.BigEndian.Uint32(env[2:]), true
}

// AppendNamed appends an envelope of a kind that carries a name (KindSpooled,
// KindMailbox, KindAdopt).
func AppendNamed(dst []byte, k Kind, name string) []byte {
	return append(append(dst, byte(k)), name...)
}

// AppendMailbox appends a KindMailbox envelope: the doorbell of a
// persistent session's mailbox entry, and the entry's own envelope when
// the deliverer may take it from here rather than read the entry (env
// nil: it reads the entry).
func AppendMailbox(dst []byte, name string, env []byte) []byte {
	dst = AppendNamed(dst, KindMailbox, name)
	if env != nil {
		dst = append(append(dst, 0), env...)
	}
	return dst
}

// MailboxSize is the size of a KindMailbox envelope carrying env.
func MailboxSize(name string, env []byte) int { return 1 + len(name) + 1 + len(env) }

// ParseMailbox splits a KindMailbox envelope's body into the entry's name
// and its envelope, nil when the doorbell carries none. (An entry's name
// never holds a NUL.)
func ParseMailbox(body []byte) (name string, env []byte) {
	n, env, found := bytes.Cut(body, []byte{0})
	if !found {
		return string(body), nil
	}
	return string(n), env
}

// AppendAck appends a KindAck envelope.
func AppendAck(dst []byte, packetType byte, id uint16) []byte {
	return binary.BigEndian.AppendUint16(append(dst, byte(KindAck), packetType), id)
}

// ParseAck reads a KindAck envelope's body.
func ParseAck(b []byte) (packetType byte, id uint16, err error) {
	if len(b) != 3 {
		return 0, 0, fmt.Errorf("%w: ack of %d bytes", ErrBadEnvelope, len(b))
	}
	return b[0], binary.BigEndian.Uint16(b[1:]), nil
}

// ParsePublicationHeader reads the flags and topic of a publication body and
// returns how many bytes they took; the payload is what follows.
func ParsePublicationHeader(b []byte) (flags byte, topic string, n int, err error) {
	if len(b) < 3 {
		return 0, "", 0, fmt.Errorf("%w: publication of %d bytes", ErrBadEnvelope, len(b))
	}
	tl := int(binary.BigEndian.Uint16(b[1:3]))
	if len(b) < 3+tl {
		return 0, "", 0, fmt.Errorf("%w: topic of %d bytes in %d", ErrBadEnvelope, tl, len(b))
	}
	return b[0], string(b[3 : 3+tl]), 3 + tl, nil
}

// ParsePublication splits a publication body into its parts. The payload
// aliases b.
func ParsePublication(b []byte) (Publication, error) {
	flags, topic, n, err := ParsePublicationHeader(b)
	if err != nil {
		return Publication{}, err
	}
	return Publication{Flags: flags, Topic: topic, Payload: b[n:]}, nil
}

// A batch is several envelopes in one queue message or datagram, in order:
// KindBatch, when its first envelope was routed (unix nanoseconds, 8 bytes
// big-endian; 0: not known), then for each envelope a uvarint length and
// the envelope. A router batches what it routes to one subscriber while its
// client's packets come faster than it routes them, so a burst costs one
// hand-over instead of one per message; the time lets the deliverer
// measure delivery latency (from routing to the socket) at no cost per
// message.

// BatchHeader is the size of a batch before its first envelope.
const BatchHeader = 1 + 8

// BatchedSize is what an envelope of n bytes adds to a batch.
func BatchedSize(n int) int { return uvarintLen(n) + n }

// AppendBatched appends env to the batch in dst, starting the batch, with
// routedAt as its time, if dst is empty.
func AppendBatched(dst, env []byte, routedAt int64) []byte {
	if len(dst) == 0 {
		dst = append(dst, byte(KindBatch))
		dst = binary.BigEndian.AppendUint64(dst, uint64(routedAt))
	}
	return append(binary.AppendUvarint(dst, uint64(len(env))), env...)
}

// Sendable is what to send for a batch of n envelopes whose last is last
// bytes long: the batch, or — a single envelope whose batch framing would
// not fit in limit bytes — that envelope alone.
func Sendable(batch []byte, n, last, limit int) []byte {
	if n == 1 && len(batch) > limit {
		return batch[len(batch)-last:]
	}
	return batch
}

// SplitBatch returns a batch body's (what follows KindBatch) time and its
// envelopes, for Unbatch.
func SplitBatch(b []byte) (routedAt int64, envs []byte, err error) {
	if len(b) < BatchHeader-1 {
		return 0, nil, fmt.Errorf("%w: batch of %d bytes", ErrBadEnvelope, len(b))
	}
	return int64(binary.BigEndian.Uint64(b)), b[BatchHeader-1:], nil
}

// Unbatch calls fn with each envelope of a batch's envelopes (see
// SplitBatch), in order. The envelopes alias b.
func Unbatch(b []byte, fn func(env []byte) error) error {
	for len(b) > 0 {
		n, k := binary.Uvarint(b)
		if k <= 0 || n == 0 || uint64(len(b)-k) < n {
			return fmt.Errorf("%w: batch entry of %d bytes in %d", ErrBadEnvelope, n, len(b)-max(k, 0))
		}
		// One encoding for each length, the shortest (AppendBatched's): a
		// length with redundant continuation bytes is not one a router
		// writes (FuzzParse found 0x81 0x00 for 1).
		if k != uvarintLen(int(n)) {
			return fmt.Errorf("%w: batch entry length %d in %d bytes", ErrBadEnvelope, n, k)
		}
		if err := fn(b[k : k+int(n)]); err != nil {
			return err
		}
		b = b[k+int(n):]
	}
	return nil
}

func uvarintLen(n int) int {
	l := 1
	for n >= 0x80 {
		n >>= 7
		l++
	}
	return l
}
