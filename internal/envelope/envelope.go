// Package envelope defines the messages that travel through a client's POSIX
// queue to its deliverer, the only process that writes to the client's socket.
//
// Three processes put envelopes on a client's queue: the client's own router
// (its replies: CONNACK, SUBACK, PINGRESP …, and the request to close), and
// the routers of every publisher whose messages match the client's
// subscriptions. Queue messages are small (the queue's message size is planned
// from the RLIMIT_MSGQUEUE budget), so a publication that does not fit travels
// as a spool file and the envelope carries only the file's name.
//
// Wire format, one queue message each:
//
//	KindPacket   0x01 | MQTT packet bytes, written to the socket as they are
//	KindPublish  0x02 | flags | topic length (2, big endian) | topic | payload
//	KindSpooled  0x03 | spool file name; the file holds a whole envelope that
//	                    did not fit in a queue message (usually a KindPublish)
//	KindClose    0x04                    flush what came before, then close
//	KindMailbox  0x05 | file name in the persistent session's mailbox (kept until acknowledged)
//	KindAck      0x06 | packet type | packet id (2)   the client's PUBACK, PUBREC or PUBCOMP
//	KindAdopt    0x07 | queue name   CONNACK is out: read this queue from now on
//	                                 (a persistent session's: after replaying its mailbox)
//	KindHold     0x08                subscriptions are being made: hold publications
//	                                 from the queue until KindRelease
//	KindRelease  0x09                SUBACK is out: write the held publications
//
// flags uses the bit layout of a PUBLISH fixed header: bit 0 retain, bits 1–2
// QoS, bit 3 DUP.
package envelope

import (
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
)

// Hold and Release are the KindHold and KindRelease envelopes.
var (
	Hold    = []byte{byte(KindHold)}
	Release = []byte{byte(KindRelease)}
)

// Queue priorities: a router's replies to its own client overtake publications
// waiting in the queue, so CONNACK is always the first packet written even when
// a queue already holds messages.
const (
	PrioPublish uint32 = 0
	PrioControl uint32 = 1
)

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

// Close is the KindClose envelope.
var Close = []byte{byte(KindClose)}

// AppendNamed appends an envelope of a kind that carries a name (KindSpooled,
// KindMailbox, KindAdopt).
func AppendNamed(dst []byte, k Kind, name string) []byte {
	return append(append(dst, byte(k)), name...)
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
