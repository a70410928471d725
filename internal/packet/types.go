package packet

import "strconv"

// Type is the control packet type, the high nibble of the first byte of
// the fixed header [MQTT-2.2.1].
type Type byte

// Control packet types. 0 and 15 are reserved.
const (
	TypeConnect     Type = 1
	TypeConnack     Type = 2
	TypePublish     Type = 3
	TypePuback      Type = 4
	TypePubrec      Type = 5
	TypePubrel      Type = 6
	TypePubcomp     Type = 7
	TypeSubscribe   Type = 8
	TypeSuback      Type = 9
	TypeUnsubscribe Type = 10
	TypeUnsuback    Type = 11
	TypePingreq     Type = 12
	TypePingresp    Type = 13
	TypeDisconnect  Type = 14
)

var typeNames = [...]string{
	TypeConnect:     "CONNECT",
	TypeConnack:     "CONNACK",
	TypePublish:     "PUBLISH",
	TypePuback:      "PUBACK",
	TypePubrec:      "PUBREC",
	TypePubrel:      "PUBREL",
	TypePubcomp:     "PUBCOMP",
	TypeSubscribe:   "SUBSCRIBE",
	TypeSuback:      "SUBACK",
	TypeUnsubscribe: "UNSUBSCRIBE",
	TypeUnsuback:    "UNSUBACK",
	TypePingreq:     "PINGREQ",
	TypePingresp:    "PINGRESP",
	TypeDisconnect:  "DISCONNECT",
}

// String returns the name the specification uses, such as "PUBLISH".
func (t Type) String() string {
	if int(t) < len(typeNames) && typeNames[t] != "" {
		return typeNames[t]
	}
	return "Type(" + strconv.Itoa(int(t)) + ")"
}

// QoS is a quality of service level [MQTT-4.3].
type QoS byte

// The three QoS levels. 3 is never valid.
const (
	AtMostOnce  QoS = 0
	AtLeastOnce QoS = 1
	ExactlyOnce QoS = 2
)

// ConnackCode is the return code of a CONNACK [MQTT-3.2.2.3].
type ConnackCode byte

// CONNACK return codes; 6 to 255 are reserved.
const (
	Accepted                     ConnackCode = 0
	RefusedProtocolVersion       ConnackCode = 1
	RefusedIdentifierRejected    ConnackCode = 2
	RefusedServerUnavailable     ConnackCode = 3
	RefusedBadUsernameOrPassword ConnackCode = 4
	RefusedNotAuthorized         ConnackCode = 5
)

var connackNames = [...]string{
	Accepted:                     "connection accepted",
	RefusedProtocolVersion:       "connection refused: unacceptable protocol version",
	RefusedIdentifierRejected:    "connection refused: identifier rejected",
	RefusedServerUnavailable:     "connection refused: server unavailable",
	RefusedBadUsernameOrPassword: "connection refused: bad user name or password",
	RefusedNotAuthorized:         "connection refused: not authorized",
}

// String describes the code as the specification does.
func (c ConnackCode) String() string {
	if int(c) < len(connackNames) {
		return connackNames[c]
	}
	return "ConnackCode(" + strconv.Itoa(int(c)) + ")"
}

// SubackFailure is the SUBACK return code for a refused subscription
// [MQTT-3.9.3].
const SubackFailure = 0x80

// MaxRemainingLength is the largest remaining length four bytes of the
// variable length encoding can express [MQTT-2.2.3].
const MaxRemainingLength = 268435455

// Protocol names and levels accepted in CONNECT [MQTT-3.1.2-1, MQTT-3.1.2-2].
const (
	ProtocolName    = "MQTT"   // MQTT 3.1.1
	ProtocolLevel   = 4        // MQTT 3.1.1
	ProtocolName31  = "MQIsdp" // MQTT 3.1
	ProtocolLevel31 = 3        // MQTT 3.1
)
