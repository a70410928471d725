package packet

// Subscribe asks for the messages of one or more topic filters [MQTT-3.8].
type Subscribe struct {
	PacketID      uint16
	Subscriptions []Subscription
}

// checkFilterList checks the packet identifier and the number of topic
// filters of a SUBSCRIBE or UNSUBSCRIBE to be encoded: at least one
// [MQTT-3.8.3-3, MQTT-3.10.3-2].
func checkFilterList(t Type, id uint16, n int) error {
	if err := checkPacketID(t, id); err != nil {
		return err
	}
	if n == 0 {
		return newError(t, "topic filters", ErrNoSubscriptions)
	}
	return nil
}

// Subscription is one topic filter with its requested QoS.
type Subscription struct {
	Filter string
	QoS    QoS
}

func (*Subscribe) Type() Type { return TypeSubscribe }

func (p *Subscribe) size() (int, error) {
	const t = TypeSubscribe
	if err := checkFilterList(t, p.PacketID, len(p.Subscriptions)); err != nil {
		return 0, err
	}
	n := 2
	for _, s := range p.Subscriptions {
		if err := checkTopic(t, "topic filter", s.Filter, true); err != nil {
			return 0, err
		}
		if s.QoS > ExactlyOnce {
			return 0, newError(t, "requested QoS", ErrQoS) // [MQTT-3.8.3-4]
		}
		n += 2 + len(s.Filter) + 1
	}
	return n, nil
}

func (p *Subscribe) appendBody(dst []byte) []byte {
	dst = appendUint16(dst, p.PacketID)
	for _, s := range p.Subscriptions {
		dst = append(appendString(dst, s.Filter), byte(s.QoS))
	}
	return dst
}

func (p *Subscribe) decode(c cursor) error {
	var err error
	if p.PacketID, err = c.packetID(); err != nil {
		return err
	}
	for len(c.b) > 0 {
		var s Subscription
		if s.Filter, err = c.topic("topic filter", true); err != nil {
			return err // [MQTT-4.7.1-2, MQTT-4.7.1-3, MQTT-4.7.3-1]
		}
		q, err := c.byte("requested QoS")
		if err != nil {
			return err
		}
		if q > byte(ExactlyOnce) {
			return c.fail("requested QoS", ErrQoS) // QoS 3 or reserved bits [MQTT-3.8.3-4]
		}
		s.QoS = QoS(q)
		p.Subscriptions = append(p.Subscriptions, s)
	}
	if len(p.Subscriptions) == 0 {
		return c.fail("topic filters", ErrNoSubscriptions) // [MQTT-3.8.3-3]
	}
	return nil
}

// Suback answers a SUBSCRIBE with one return code per topic filter, in
// order: the granted QoS (0, 1 or 2) or SubackFailure [MQTT-3.9].
type Suback struct {
	PacketID    uint16
	ReturnCodes []byte
}

func (*Suback) Type() Type { return TypeSuback }

// checkReturnCodes accepts a non-empty list of 0, 1, 2 and 0x80.
func checkReturnCodes(codes []byte) error {
	const field = "return codes"
	if len(codes) == 0 {
		return newError(TypeSuback, field, ErrNoSubscriptions) // one per filter [MQTT-3.9.3-1]
	}
	for _, code := range codes {
		if code > byte(ExactlyOnce) && code != SubackFailure {
			return newError(TypeSuback, field, ErrReturnCode) // [MQTT-3.9.3-2]
		}
	}
	return nil
}

func (p *Suback) size() (int, error) {
	if err := checkPacketID(TypeSuback, p.PacketID); err != nil {
		return 0, err
	}
	return 2 + len(p.ReturnCodes), checkReturnCodes(p.ReturnCodes)
}

func (p *Suback) appendBody(dst []byte) []byte {
	return append(appendUint16(dst, p.PacketID), p.ReturnCodes...)
}

func (p *Suback) decode(c cursor) error {
	var err error
	if p.PacketID, err = c.packetID(); err != nil {
		return err
	}
	p.ReturnCodes = c.rest()
	return checkReturnCodes(p.ReturnCodes)
}

// Unsubscribe removes subscriptions [MQTT-3.10].
type Unsubscribe struct {
	PacketID uint16
	Filters  []string
}

func (*Unsubscribe) Type() Type { return TypeUnsubscribe }

func (p *Unsubscribe) size() (int, error) {
	const t = TypeUnsubscribe
	if err := checkFilterList(t, p.PacketID, len(p.Filters)); err != nil {
		return 0, err
	}
	n := 2
	for _, f := range p.Filters {
		if err := checkTopic(t, "topic filter", f, true); err != nil {
			return 0, err
		}
		n += 2 + len(f)
	}
	return n, nil
}

func (p *Unsubscribe) appendBody(dst []byte) []byte {
	dst = appendUint16(dst, p.PacketID)
	for _, f := range p.Filters {
		dst = appendString(dst, f)
	}
	return dst
}

func (p *Unsubscribe) decode(c cursor) error {
	var err error
	if p.PacketID, err = c.packetID(); err != nil {
		return err
	}
	for len(c.b) > 0 {
		f, err := c.topic("topic filter", true)
		if err != nil {
			return err // [MQTT-4.7.1-2, MQTT-4.7.1-3, MQTT-4.7.3-1]
		}
		p.Filters = append(p.Filters, f)
	}
	if len(p.Filters) == 0 {
		return c.fail("topic filters", ErrNoSubscriptions) // [MQTT-3.10.3-2]
	}
	return nil
}
