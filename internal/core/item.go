package core

import (
	"os"
	"time"

	"github.com/forkmq/forkmq/internal/packet"
)

// Kind says what an Item is.
type Kind byte

// The kinds of Item a deliverer takes.
const (
	// Reply is an encoded packet for the client, written as it is
	// (CONNACK, SUBACK, PINGRESP, PUBACK …).
	Reply Kind = iota + 1
	// Publication is a message for the client at a QoS.
	Publication
	// Bell says a persistent session's mailbox has news (Entry names it
	// when the engine knows which).
	Bell
	// Ack is the client's PUBACK, PUBREC or PUBCOMP of a message it was
	// sent.
	Ack
	// Start says CONNACK accepting the connection is out: publications may
	// be written from now on; Queue names what the engine reads them from.
	Start
	// Hold says subscriptions are being made: publications the client's
	// inbox brings wait until Release, so SUBACK goes out first.
	Hold
	// Release says SUBACK is out.
	Release
	// Close says the router has answered for the last time: write what is
	// left, then close the connection.
	Close
)

var kindNames = [...]string{"", "reply", "publication", "bell", "ack", "start", "hold", "release", "close"}

func (k Kind) String() string {
	if int(k) < len(kindNames) && k != 0 {
		return kindNames[k]
	}
	return "unknown"
}

// Item is one thing for a client's deliverer.
type Item struct {
	Kind    Kind
	Packet  []byte      // Reply: the encoded packet
	Msg     *Message    // Publication: the message
	QoS     packet.QoS  // Publication: the QoS it is sent at (min of published and granted)
	Entry   string      // Publication, Bell: the persistent session's mailbox entry, if any
	AckType packet.Type // Ack: PUBACK, PUBREC or PUBCOMP
	AckID   uint16      // Ack: its packet identifier
	Queue   string      // Start: where the client's publications come from
}

// Message is a publication as routed: one per PUBLISH, shared by every
// subscriber that gets it (the QoS of each copy travels with the Item).
// Its payload is in memory, or — in the process engine, for a payload too
// large for a queue message — in a file.
type Message struct {
	Topic   string
	Payload []byte
	Retain  bool      // set only for retained messages sent after SUBACK [MQTT-3.3.1-8, -9]
	Routed  time.Time // when a router routed it (zero: not known), for the delivery-latency histogram

	// File holds the payload from Offset, Size bytes, when Payload is nil.
	File   *os.File
	Offset int64
	Size   int64
}

// Len is the payload's length.
func (m *Message) Len() int64 {
	if m.File != nil {
		return m.Size
	}
	return int64(len(m.Payload))
}

// Weight is what the message counts against -max-queued-bytes and
// -session-max-bytes: topic and payload.
func (m *Message) Weight() int64 { return int64(len(m.Topic)) + m.Len() }
