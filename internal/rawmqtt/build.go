package rawmqtt

import "fmt"

// Connect is a CONNECT packet's fields, sent as given [MQTT-3.1]: the
// flags byte is not derived from the other fields, so that reserved bits
// and flags that disagree with the payload can be sent on purpose. The
// payload's optional fields follow the flags: the will topic and message
// when Flags has ConnectWill, the user name with ConnectUsername, the
// password with ConnectPassword [MQTT-3.1.3-1].
type Connect struct {
	ProtocolName string // "MQTT"; "MQIsdp" for 3.1
	Level        byte   // 4 for 3.1.1, 3 for 3.1
	Flags        byte   // the connect flags byte
	KeepAlive    uint16 // seconds; 0 turns keep-alive off
	ClientID     string
	WillTopic    string
	WillMessage  string
	Username     string
	Password     string
}

// MQTT311 is a 3.1.1 CONNECT with clean session 1, no will, no user name
// and no keep-alive.
func MQTT311(clientID string) Connect {
	return Connect{ProtocolName: "MQTT", Level: 4, Flags: ConnectClean, ClientID: clientID}
}

// Persistent is c with clean session 0.
func (c Connect) Persistent() Connect {
	c.Flags &^= ConnectClean
	return c
}

// WithWill is c with a will: its topic, message, QoS and retain flag.
func (c Connect) WithWill(topic, message string, qos byte, retain bool) Connect {
	c.Flags |= ConnectWill | qos<<WillQoSShift
	if retain {
		c.Flags |= ConnectWillRetain
	}
	c.WillTopic, c.WillMessage = topic, message
	return c
}

// Bytes encodes the CONNECT.
func (c Connect) Bytes() []byte {
	body := [][]byte{
		Str(c.ProtocolName), // protocol name
		{c.Level},           // protocol level
		{c.Flags},           // connect flags
		U16(c.KeepAlive),    // keep alive
		Str(c.ClientID),     // payload: client identifier
	}
	if c.Flags&ConnectWill != 0 {
		body = append(body, Str(c.WillTopic), Str(c.WillMessage))
	}
	if c.Flags&ConnectUsername != 0 {
		body = append(body, Str(c.Username))
	}
	if c.Flags&ConnectPassword != 0 {
		body = append(body, Str(c.Password))
	}
	return Frame(HeaderConnect, body...)
}

// Publish is one PUBLISH, as sent or as received [MQTT-3.3]. The payload
// is a string so that tests compare it with ==; it may hold any bytes.
type Publish struct {
	Topic   string
	Payload string
	QoS     byte // 0, 1 or 2; 3 is sent as given
	Retain  bool
	Dup     bool
	ID      uint16 // packet identifier, sent at QoS 1 and 2 only
}

// header is the fixed header's first byte of m.
func (m Publish) header() byte {
	h := HeaderPublish | m.QoS<<PublishQoSShift
	if m.Dup {
		h |= PublishDup
	}
	if m.Retain {
		h |= PublishRetain
	}
	return h
}

// Bytes encodes the PUBLISH.
func (m Publish) Bytes() []byte {
	return append(appendPublishHeader(nil, m.header(), m.Topic, m.ID, len(m.Payload)), m.Payload...)
}

func (m Publish) String() string {
	s := fmt.Sprintf("PUBLISH %q %q qos=%d retain=%v dup=%v", abbrev(m.Topic), abbrev(m.Payload), m.QoS, m.Retain, m.Dup)
	if m.QoS > 0 {
		s += fmt.Sprintf(" id=%d", m.ID)
	}
	return s
}

// abbrev shortens long topics and payloads in messages.
func abbrev(s string) string {
	if len(s) <= 80 {
		return s
	}
	return fmt.Sprintf("%s…(%d bytes)", s[:40], len(s))
}

// appendPublishHeader appends all of a PUBLISH but its payload: the fixed
// header, the topic and, when header says QoS 1 or 2, the packet
// identifier. The payloadLen bytes of payload must follow.
func appendPublishHeader(dst []byte, header byte, topic string, id uint16, payloadLen int) []byte {
	withID := header>>PublishQoSShift&3 != 0
	remaining := 2 + len(topic) + payloadLen
	if withID {
		remaining += 2
	}
	dst = AppendVarint(append(dst, header), remaining)
	dst = appendStr(dst, topic)
	if withID {
		dst = appendU16(dst, id)
	}
	return dst
}

// Subscribe is a SUBSCRIBE asking for every filter at qos.
func Subscribe(id uint16, qos byte, filters ...string) []byte {
	body := [][]byte{U16(id)}
	for _, f := range filters {
		body = append(body, Str(f), []byte{qos})
	}
	return Frame(HeaderSubscribe, body...)
}

// Unsubscribe is an UNSUBSCRIBE of the filters.
func Unsubscribe(id uint16, filters ...string) []byte {
	body := [][]byte{U16(id)}
	for _, f := range filters {
		body = append(body, Str(f))
	}
	return Frame(HeaderUnsubscribe, body...)
}

// Ack is an acknowledgement that carries only a packet identifier: header
// is HeaderPuback, HeaderPubrec, HeaderPubrel, HeaderPubcomp or
// HeaderUnsuback (or any byte, to send one malformed).
func Ack(header byte, id uint16) []byte { return []byte{header, 2, byte(id >> 8), byte(id)} }

// Pingreq is a PINGREQ.
func Pingreq() []byte { return []byte{HeaderPingreq, 0} }

// Disconnect is a DISCONNECT.
func Disconnect() []byte { return []byte{HeaderDisconnect, 0} }
