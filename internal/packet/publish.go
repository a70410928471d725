package packet

// Publish carries an application message [MQTT-3.3]. PacketID is only
// sent for QoS 1 and 2; an encoder ignores it for QoS 0.
type Publish struct {
	Dup      bool
	QoS      QoS
	Retain   bool
	Topic    string
	PacketID uint16
	Payload  []byte
}

func (*Publish) Type() Type { return TypePublish }

func (p *Publish) flags() byte {
	f := byte(p.QoS&3) << 1
	if p.Dup {
		f |= 0x8
	}
	if p.Retain {
		f |= 0x1
	}
	return f
}

// headerSize checks p and returns the length of its variable header.
func (p *Publish) headerSize() (int, error) {
	const t = TypePublish
	if p.QoS > ExactlyOnce {
		return 0, newError(t, "QoS", ErrQoS) // [MQTT-3.3.1-4]
	}
	if p.Dup && p.QoS == AtMostOnce {
		return 0, newError(t, "DUP flag", ErrFlags) // [MQTT-3.3.1-2]
	}
	if err := checkTopic(t, "topic name", p.Topic, false); err != nil {
		return 0, err // [MQTT-3.3.2-1, MQTT-3.3.2-2]
	}
	n := 2 + len(p.Topic)
	if p.QoS > AtMostOnce {
		if err := checkPacketID(t, p.PacketID); err != nil {
			return 0, err
		}
		n += 2
	}
	return n, nil
}

func (p *Publish) size() (int, error) {
	n, err := p.headerSize()
	return n + len(p.Payload), err
}

func (p *Publish) appendHeader(dst []byte) []byte {
	dst = appendString(dst, p.Topic)
	if p.QoS > AtMostOnce {
		dst = appendUint16(dst, p.PacketID)
	}
	return dst
}

func (p *Publish) appendBody(dst []byte) []byte {
	return append(p.appendHeader(dst), p.Payload...)
}

// AppendPublishHeader appends the fixed header, topic name and packet
// identifier of p as if its payload were payloadLen bytes long; p.Payload
// is ignored. The caller sends the payload itself, for instance with
// sendfile from a spool file.
func AppendPublishHeader(dst []byte, p *Publish, payloadLen int) ([]byte, error) {
	n, err := p.headerSize()
	if err != nil {
		return dst, err
	}
	if payloadLen < 0 || payloadLen > MaxRemainingLength-n {
		return dst, newError(TypePublish, "remaining length", ErrPacketTooLarge)
	}
	dst = append(dst, byte(TypePublish)<<4|p.flags())
	dst = appendRemainingLength(dst, n+payloadLen)
	return p.appendHeader(dst), nil
}

func (p *Publish) decode(c cursor) error {
	// checkTypeAndFlags has rejected QoS 3 and DUP with QoS 0.
	p.Dup = c.flags&0x8 != 0
	p.QoS = QoS(c.flags>>1) & 3
	p.Retain = c.flags&0x1 != 0
	var err error
	if p.Topic, err = c.topic("topic name", false); err != nil {
		return err // [MQTT-3.3.2-1, MQTT-3.3.2-2]
	}
	if p.QoS > AtMostOnce {
		if p.PacketID, err = c.packetID(); err != nil {
			return err
		}
	}
	p.Payload = c.rest()
	return nil
}

// The acknowledgements carry only the identifier of the packet they answer.
type (
	// Puback answers a QoS 1 PUBLISH [MQTT-3.4].
	Puback struct{ PacketID uint16 }
	// Pubrec answers a QoS 2 PUBLISH [MQTT-3.5].
	Pubrec struct{ PacketID uint16 }
	// Pubrel answers a PUBREC [MQTT-3.6].
	Pubrel struct{ PacketID uint16 }
	// Pubcomp answers a PUBREL [MQTT-3.7].
	Pubcomp struct{ PacketID uint16 }
	// Unsuback answers an UNSUBSCRIBE [MQTT-3.11].
	Unsuback struct{ PacketID uint16 }
)

func (*Puback) Type() Type   { return TypePuback }
func (*Pubrec) Type() Type   { return TypePubrec }
func (*Pubrel) Type() Type   { return TypePubrel }
func (*Pubcomp) Type() Type  { return TypePubcomp }
func (*Unsuback) Type() Type { return TypeUnsuback }

func (p *Puback) size() (int, error)   { return 2, checkPacketID(p.Type(), p.PacketID) }
func (p *Pubrec) size() (int, error)   { return 2, checkPacketID(p.Type(), p.PacketID) }
func (p *Pubrel) size() (int, error)   { return 2, checkPacketID(p.Type(), p.PacketID) }
func (p *Pubcomp) size() (int, error)  { return 2, checkPacketID(p.Type(), p.PacketID) }
func (p *Unsuback) size() (int, error) { return 2, checkPacketID(p.Type(), p.PacketID) }

func (p *Puback) appendBody(dst []byte) []byte   { return appendUint16(dst, p.PacketID) }
func (p *Pubrec) appendBody(dst []byte) []byte   { return appendUint16(dst, p.PacketID) }
func (p *Pubrel) appendBody(dst []byte) []byte   { return appendUint16(dst, p.PacketID) }
func (p *Pubcomp) appendBody(dst []byte) []byte  { return appendUint16(dst, p.PacketID) }
func (p *Unsuback) appendBody(dst []byte) []byte { return appendUint16(dst, p.PacketID) }

func (p *Puback) decode(c cursor) (err error)   { p.PacketID, err = c.onlyPacketID(); return err }
func (p *Pubrec) decode(c cursor) (err error)   { p.PacketID, err = c.onlyPacketID(); return err }
func (p *Pubrel) decode(c cursor) (err error)   { p.PacketID, err = c.onlyPacketID(); return err }
func (p *Pubcomp) decode(c cursor) (err error)  { p.PacketID, err = c.onlyPacketID(); return err }
func (p *Unsuback) decode(c cursor) (err error) { p.PacketID, err = c.onlyPacketID(); return err }

// The packets without a body [MQTT-3.12, MQTT-3.13, MQTT-3.14].
type (
	// Pingreq is a client's keep-alive probe.
	Pingreq struct{ empty }
	// Pingresp answers a PINGREQ.
	Pingresp struct{ empty }
	// Disconnect is a client's clean goodbye.
	Disconnect struct{ empty }
)

func (*Pingreq) Type() Type    { return TypePingreq }
func (*Pingresp) Type() Type   { return TypePingresp }
func (*Disconnect) Type() Type { return TypeDisconnect }

// empty implements the body methods of the packets without one.
type empty struct{}

func (empty) size() (int, error)           { return 0, nil }
func (empty) appendBody(dst []byte) []byte { return dst }
func (empty) decode(c cursor) error        { return c.end() }
