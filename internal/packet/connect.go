package packet

// Connect is the first packet a client sends [MQTT-3.1].
//
// An encoder may leave ProtocolName and ProtocolLevel zero for "MQTT"
// level 4. UsernameFlag and PasswordFlag say whether the fields are
// present, so that an empty user name or password can be sent.
type Connect struct {
	ProtocolName  string
	ProtocolLevel byte
	CleanSession  bool
	KeepAlive     uint16 // seconds
	ClientID      string // may be empty; the session decides [MQTT-3.1.3-6]
	Will          *Will  // nil without a will
	UsernameFlag  bool
	Username      string
	PasswordFlag  bool
	Password      []byte
}

// Will is the message a server publishes when the client goes away
// without a DISCONNECT [MQTT-3.1.2.5].
type Will struct {
	Topic   string
	Payload []byte
	QoS     QoS
	Retain  bool
}

// Connect flag bits [MQTT-3.1.2.3].
const (
	connectReserved     = 0x01
	connectCleanSession = 0x02
	connectWill         = 0x04
	connectWillQoSShift = 3
	connectWillRetain   = 0x20
	connectPassword     = 0x40
	connectUsername     = 0x80
)

func (*Connect) Type() Type { return TypeConnect }

// protocol returns the protocol name and level, defaulting to MQTT 3.1.1.
func (p *Connect) protocol() (string, byte) {
	if p.ProtocolName == "" && p.ProtocolLevel == 0 {
		return ProtocolName, ProtocolLevel
	}
	return p.ProtocolName, p.ProtocolLevel
}

// checkProtocol accepts "MQTT" level 4 and "MQIsdp" level 3 (MQTT 3.1).
func checkProtocol(name string, level byte) error {
	var want byte
	switch name {
	case ProtocolName:
		want = ProtocolLevel
	case ProtocolName31:
		want = ProtocolLevel31
	default:
		return newError(TypeConnect, "protocol name", ErrProtocolName) // [MQTT-3.1.2-1]
	}
	if level != want {
		return newError(TypeConnect, "protocol level", ErrProtocolLevel) // [MQTT-3.1.2-2]
	}
	return nil
}

// checkConnectFlags checks the combinations of connect flags the
// specification forbids.
func checkConnectFlags(f byte) error {
	const field = "connect flags"
	willQoS := QoS(f>>connectWillQoSShift) & 3
	switch {
	case f&connectReserved != 0:
		return newError(TypeConnect, field, ErrConnectFlags) // [MQTT-3.1.2-3]
	case f&connectWill == 0 && (willQoS != 0 || f&connectWillRetain != 0):
		return newError(TypeConnect, field, ErrConnectFlags) // [MQTT-3.1.2-11, MQTT-3.1.2-13, MQTT-3.1.2-15]
	case willQoS > ExactlyOnce:
		return newError(TypeConnect, "will QoS", ErrQoS) // [MQTT-3.1.2-14]
	case f&connectPassword != 0 && f&connectUsername == 0:
		return newError(TypeConnect, field, ErrConnectFlags) // [MQTT-3.1.2-22]
	}
	return nil
}

func (p *Connect) flags() byte {
	var f byte
	if p.CleanSession {
		f |= connectCleanSession
	}
	if w := p.Will; w != nil {
		f |= connectWill | byte(w.QoS&3)<<connectWillQoSShift
		if w.Retain {
			f |= connectWillRetain
		}
	}
	if p.UsernameFlag {
		f |= connectUsername
	}
	if p.PasswordFlag {
		f |= connectPassword
	}
	return f
}

func (p *Connect) size() (int, error) {
	const t = TypeConnect
	name, level := p.protocol()
	if err := checkProtocol(name, level); err != nil {
		return 0, err
	}
	if p.Will != nil && p.Will.QoS > ExactlyOnce {
		return 0, newError(t, "will QoS", ErrQoS)
	}
	if err := checkConnectFlags(p.flags()); err != nil {
		return 0, err
	}
	if (p.Username != "" && !p.UsernameFlag) || (len(p.Password) > 0 && !p.PasswordFlag) {
		return 0, newError(t, "connect flags", ErrConnectFlags)
	}
	if err := checkString(t, "client identifier", p.ClientID); err != nil {
		return 0, err
	}
	n := 2 + len(name) + 1 + 1 + 2 + 2 + len(p.ClientID)
	if w := p.Will; w != nil {
		if err := checkTopic(t, "will topic", w.Topic, false); err != nil {
			return 0, err
		}
		if len(w.Payload) > 65535 {
			return 0, newError(t, "will message", ErrTooLong)
		}
		n += 2 + len(w.Topic) + 2 + len(w.Payload)
	}
	if p.UsernameFlag {
		if err := checkString(t, "user name", p.Username); err != nil {
			return 0, err
		}
		n += 2 + len(p.Username)
	}
	if p.PasswordFlag {
		if len(p.Password) > 65535 {
			return 0, newError(t, "password", ErrTooLong)
		}
		n += 2 + len(p.Password)
	}
	return n, nil
}

func (p *Connect) appendBody(dst []byte) []byte {
	name, level := p.protocol()
	dst = appendString(dst, name)
	dst = append(dst, level, p.flags())
	dst = appendUint16(dst, p.KeepAlive)
	dst = appendString(dst, p.ClientID)
	if w := p.Will; w != nil {
		dst = appendString(dst, w.Topic)
		dst = appendString(dst, w.Payload)
	}
	if p.UsernameFlag {
		dst = appendString(dst, p.Username)
	}
	if p.PasswordFlag {
		dst = appendString(dst, p.Password)
	}
	return dst
}

func (p *Connect) decode(c cursor) error {
	var err error
	if p.ProtocolName, err = c.string("protocol name"); err != nil {
		return err
	}
	if p.ProtocolLevel, err = c.byte("protocol level"); err != nil {
		return err
	}
	// Checked before reading on: another protocol's CONNECT, such as MQTT
	// 5's with its properties, need not parse as ours.
	if err := checkProtocol(p.ProtocolName, p.ProtocolLevel); err != nil {
		return err
	}
	f, err := c.byte("connect flags")
	if err != nil {
		return err
	}
	if err := checkConnectFlags(f); err != nil {
		return err
	}
	p.CleanSession = f&connectCleanSession != 0
	p.UsernameFlag = f&connectUsername != 0
	p.PasswordFlag = f&connectPassword != 0
	if p.KeepAlive, err = c.uint16("keep alive"); err != nil {
		return err
	}
	if p.ClientID, err = c.string("client identifier"); err != nil {
		return err
	}
	if f&connectWill != 0 {
		w := &Will{QoS: QoS(f>>connectWillQoSShift) & 3, Retain: f&connectWillRetain != 0}
		if w.Topic, err = c.topic("will topic", false); err != nil {
			return err
		}
		if w.Payload, err = c.binary("will message"); err != nil {
			return err
		}
		p.Will = w
	}
	if p.UsernameFlag {
		if p.Username, err = c.string("user name"); err != nil {
			return err
		}
	}
	if p.PasswordFlag {
		if p.Password, err = c.binary("password"); err != nil {
			return err
		}
	}
	return c.end()
}

// Connack is the server's answer to a CONNECT [MQTT-3.2].
type Connack struct {
	SessionPresent bool
	ReturnCode     ConnackCode
}

func (*Connack) Type() Type { return TypeConnack }

// checkConnack checks the acknowledge flags byte and the return code.
func checkConnack(ackFlags byte, code ConnackCode) error {
	const t = TypeConnack
	switch {
	case ackFlags&^1 != 0:
		return newError(t, "acknowledge flags", ErrFlags) // bits 7-1 reserved [MQTT-3.2.2.1]
	case code > RefusedNotAuthorized:
		return newError(t, "return code", ErrReturnCode) // [MQTT-3.2.2.3]: 6-255 reserved
	case ackFlags != 0 && code != Accepted:
		return newError(t, "session present", ErrFlags) // [MQTT-3.2.2-4]
	}
	return nil
}

func (p *Connack) ackFlags() byte {
	if p.SessionPresent {
		return 1
	}
	return 0
}

func (p *Connack) size() (int, error) { return 2, checkConnack(p.ackFlags(), p.ReturnCode) }

func (p *Connack) appendBody(dst []byte) []byte {
	return append(dst, p.ackFlags(), byte(p.ReturnCode))
}

func (p *Connack) decode(c cursor) error {
	f, err := c.byte("acknowledge flags")
	if err != nil {
		return err
	}
	code, err := c.byte("return code")
	if err != nil {
		return err
	}
	if err := checkConnack(f, ConnackCode(code)); err != nil {
		return err
	}
	p.SessionPresent, p.ReturnCode = f == 1, ConnackCode(code)
	return c.end()
}
