package packet

import "bytes"

// golden lists every packet type with its exact wire form. Each fixture
// drives both the encoder (Encode must produce the bytes) and the decoder
// (the bytes must decode to the packet).
var golden = []struct {
	name string
	p    Packet
	b    []byte
}{
	{
		name: "CONNECT minimal",
		p:    &Connect{ProtocolName: "MQTT", ProtocolLevel: 4, CleanSession: true, KeepAlive: 60, ClientID: "c1"},
		b: []byte{
			0x10,                           // CONNECT, flags 0000
			14,                             // remaining length
			0x00, 0x04, 'M', 'Q', 'T', 'T', // protocol name
			0x04,       // protocol level 4 (3.1.1)
			0x02,       // connect flags: clean session
			0x00, 0x3c, // keep alive 60
			0x00, 0x02, 'c', '1', // client identifier
		},
	},
	{
		name: "CONNECT with will, user name and password",
		p: &Connect{
			ProtocolName: "MQTT", ProtocolLevel: 4, KeepAlive: 10, ClientID: "id",
			Will:         &Will{Topic: "w/t", Payload: []byte("bye"), QoS: AtLeastOnce, Retain: true},
			UsernameFlag: true, Username: "u", PasswordFlag: true, Password: []byte{0x00, 0xff},
		},
		b: []byte{
			0x10,                           // CONNECT
			31,                             // remaining length
			0x00, 0x04, 'M', 'Q', 'T', 'T', // protocol name
			0x04,       // protocol level
			0xec,       // flags: user name, password, will retain, will QoS 1, will (not clean)
			0x00, 0x0a, // keep alive 10
			0x00, 0x02, 'i', 'd', // client identifier
			0x00, 0x03, 'w', '/', 't', // will topic
			0x00, 0x03, 'b', 'y', 'e', // will message
			0x00, 0x01, 'u', // user name
			0x00, 0x02, 0x00, 0xff, // password (binary)
		},
	},
	{
		name: "CONNECT MQTT 3.1, empty client id, empty user name and password",
		p: &Connect{ProtocolName: "MQIsdp", ProtocolLevel: 3, CleanSession: true,
			UsernameFlag: true, PasswordFlag: true},
		b: []byte{
			0x10,                                     // CONNECT
			18,                                       // remaining length
			0x00, 0x06, 'M', 'Q', 'I', 's', 'd', 'p', // protocol name (3.1)
			0x03,       // protocol level 3
			0xc2,       // flags: user name, password, clean session
			0x00, 0x00, // keep alive 0
			0x00, 0x00, // client identifier ""
			0x00, 0x00, // user name ""
			0x00, 0x00, // password (empty)
		},
	},
	{
		name: "CONNECT will with empty message and QoS 2",
		p: &Connect{ProtocolName: "MQTT", ProtocolLevel: 4, ClientID: "x",
			Will: &Will{Topic: "t", QoS: ExactlyOnce}},
		b: []byte{
			0x10, 18, // CONNECT, remaining length
			0x00, 0x04, 'M', 'Q', 'T', 'T', // protocol name
			0x04,       // protocol level
			0x14,       // flags: will QoS 2, will
			0x00, 0x00, // keep alive
			0x00, 0x01, 'x', // client identifier
			0x00, 0x01, 't', // will topic
			0x00, 0x00, // will message (empty)
		},
	},
	{
		name: "CONNACK accepted, session present",
		p:    &Connack{SessionPresent: true, ReturnCode: Accepted},
		b: []byte{
			0x20, 0x02, // CONNACK, remaining length 2
			0x01, // acknowledge flags: session present
			0x00, // return code: accepted
		},
	},
	{
		name: "CONNACK not authorized",
		p:    &Connack{ReturnCode: RefusedNotAuthorized},
		b: []byte{
			0x20, 0x02, // CONNACK, remaining length 2
			0x00, // acknowledge flags
			0x05, // return code: not authorized
		},
	},
	{
		name: "PUBLISH QoS 0 retained",
		p:    &Publish{Retain: true, Topic: "a/b", Payload: []byte("hi")},
		b: []byte{
			0x31,                      // PUBLISH, flags: QoS 0, retain
			0x07,                      // remaining length
			0x00, 0x03, 'a', '/', 'b', // topic name
			'h', 'i', // payload (no packet identifier at QoS 0)
		},
	},
	{
		name: "PUBLISH QoS 1 duplicate, empty payload",
		p:    &Publish{Dup: true, QoS: AtLeastOnce, Topic: "t", PacketID: 10},
		b: []byte{
			0x3a,            // PUBLISH, flags: DUP, QoS 1
			0x05,            // remaining length
			0x00, 0x01, 't', // topic name
			0x00, 0x0a, // packet identifier 10
		},
	},
	{
		name: "PUBLISH QoS 2, two-byte remaining length",
		p:    &Publish{QoS: ExactlyOnce, Topic: "$SYS/x", PacketID: 0xbeef, Payload: bytes.Repeat([]byte{'z'}, 118)},
		b: append([]byte{
			0x34,       // PUBLISH, flags: QoS 2
			0x80, 0x01, // remaining length 128 = 0x00 + 1*128
			0x00, 0x06, '$', 'S', 'Y', 'S', '/', 'x', // topic name
			0xbe, 0xef, // packet identifier
		}, bytes.Repeat([]byte{'z'}, 118)...), // payload
	},
	{
		name: "PUBACK",
		p:    &Puback{PacketID: 1},
		b:    []byte{0x40, 0x02, 0x00, 0x01}, // PUBACK, length 2, packet identifier 1
	},
	{
		name: "PUBREC",
		p:    &Pubrec{PacketID: 0x0102},
		b:    []byte{0x50, 0x02, 0x01, 0x02}, // PUBREC, length 2, packet identifier 258
	},
	{
		name: "PUBREL",
		p:    &Pubrel{PacketID: 0xffff},
		b:    []byte{0x62, 0x02, 0xff, 0xff}, // PUBREL with flags 0010, length 2, packet identifier 65535
	},
	{
		name: "PUBCOMP",
		p:    &Pubcomp{PacketID: 7},
		b:    []byte{0x70, 0x02, 0x00, 0x07}, // PUBCOMP, length 2, packet identifier 7
	},
	{
		name: "SUBSCRIBE two filters",
		p: &Subscribe{PacketID: 2, Subscriptions: []Subscription{
			{Filter: "a/+", QoS: AtLeastOnce},
			{Filter: "#", QoS: ExactlyOnce},
		}},
		b: []byte{
			0x82,       // SUBSCRIBE, flags 0010
			0x0c,       // remaining length 12
			0x00, 0x02, // packet identifier
			0x00, 0x03, 'a', '/', '+', // topic filter
			0x01,            // requested QoS 1
			0x00, 0x01, '#', // topic filter
			0x02, // requested QoS 2
		},
	},
	{
		name: "SUBACK",
		p:    &Suback{PacketID: 2, ReturnCodes: []byte{0, 1, 2, SubackFailure}},
		b: []byte{
			0x90, 0x06, // SUBACK, remaining length 6
			0x00, 0x02, // packet identifier
			0x00, 0x01, 0x02, 0x80, // return codes: QoS 0, 1, 2, failure
		},
	},
	{
		name: "UNSUBSCRIBE",
		p:    &Unsubscribe{PacketID: 3, Filters: []string{"a/#", "/"}},
		b: []byte{
			0xa2, 0x0a, // UNSUBSCRIBE with flags 0010, remaining length 10
			0x00, 0x03, // packet identifier
			0x00, 0x03, 'a', '/', '#', // topic filter
			0x00, 0x01, '/', // topic filter
		},
	},
	{
		name: "UNSUBACK",
		p:    &Unsuback{PacketID: 3},
		b:    []byte{0xb0, 0x02, 0x00, 0x03}, // UNSUBACK, length 2, packet identifier 3
	},
	{name: "PINGREQ", p: &Pingreq{}, b: []byte{0xc0, 0x00}},       // PINGREQ, length 0
	{name: "PINGRESP", p: &Pingresp{}, b: []byte{0xd0, 0x00}},     // PINGRESP, length 0
	{name: "DISCONNECT", p: &Disconnect{}, b: []byte{0xe0, 0x00}}, // DISCONNECT, length 0
}

// connectBytes builds a CONNECT from the bytes after the fixed header.
func connectBytes(body ...byte) []byte { return withHeader(0x10, body...) }

// withHeader prepends a fixed header with a one-byte remaining length.
func withHeader(first byte, body ...byte) []byte {
	return append([]byte{first, byte(len(body))}, body...)
}

// mqtt is the protocol name and level of MQTT 3.1.1.
var mqtt = []byte{0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04}

// setFirst returns b with its first byte replaced.
func setFirst(first byte, b []byte) []byte { return append([]byte{first}, b[1:]...) }

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// malformed lists byte sequences that must not decode, each with the
// sentinel it must produce and the rule it breaks.
var malformed = []struct {
	name string
	b    []byte
	want error
	spec string
}{
	// Fixed header.
	{"reserved type 0", []byte{0x00, 0x00}, ErrReservedType, "MQTT-2.2.1"},
	{"reserved type 15", []byte{0xf0, 0x00}, ErrReservedType, "MQTT-2.2.1"},
	{"PUBACK flags", []byte{0x41, 0x02, 0x00, 0x01}, ErrFlags, "MQTT-2.2.2-2"},
	{"CONNECT flags", setFirst(0x11, connectBytes(cat(mqtt, []byte{0x02, 0x00, 0x00, 0x00, 0x00})...)), ErrFlags, "MQTT-2.2.2-2"},
	{"PUBREL flags 0000", []byte{0x60, 0x02, 0x00, 0x01}, ErrFlags, "MQTT-3.6.1-1"},
	{"SUBSCRIBE flags 0000", []byte{0x80, 0x06, 0x00, 0x01, 0x00, 0x01, 'a', 0x00}, ErrFlags, "MQTT-3.8.1-1"},
	{"UNSUBSCRIBE flags 0011", []byte{0xa3, 0x05, 0x00, 0x01, 0x00, 0x01, 'a'}, ErrFlags, "MQTT-3.10.1-1"},
	{"PINGREQ flags", []byte{0xc1, 0x00}, ErrFlags, "MQTT-2.2.2-2"},
	{"remaining length of 5 bytes", []byte{0x30, 0xff, 0xff, 0xff, 0xff, 0x01}, ErrRemainingLength, "MQTT-2.2.3"},
	{"PINGREQ with a body", []byte{0xc0, 0x01, 0x00}, ErrRemainingLength, "MQTT-3.12.1"},
	{"DISCONNECT with a body", []byte{0xe0, 0x01, 0x00}, ErrRemainingLength, "MQTT-3.14.1"},
	{"PUBACK too long", []byte{0x40, 0x03, 0x00, 0x01, 0x00}, ErrRemainingLength, "MQTT-3.4.1"},
	{"PUBACK too short", []byte{0x40, 0x01, 0x01}, ErrRemainingLength, "MQTT-3.4.1"},
	{"CONNACK too long", []byte{0x20, 0x03, 0x00, 0x00, 0x00}, ErrRemainingLength, "MQTT-3.2.1"},

	// CONNECT.
	{"protocol name", connectBytes(0x00, 0x04, 'M', 'Q', 'T', 'X', 0x04, 0x02, 0x00, 0x00, 0x00, 0x00), ErrProtocolName, "MQTT-3.1.2-1"},
	{"protocol name lower case", connectBytes(0x00, 0x04, 'm', 'q', 't', 't', 0x04, 0x02, 0x00, 0x00, 0x00, 0x00), ErrProtocolName, "MQTT-3.1.2-1"},
	{"protocol level 3 for MQTT", connectBytes(0x00, 0x04, 'M', 'Q', 'T', 'T', 0x03, 0x02, 0x00, 0x00, 0x00, 0x00), ErrProtocolLevel, "MQTT-3.1.2-2"},
	{"protocol level 4 for MQIsdp", connectBytes(0x00, 0x06, 'M', 'Q', 'I', 's', 'd', 'p', 0x04, 0x02, 0x00, 0x00, 0x00, 0x00), ErrProtocolLevel, "MQTT-3.1.2-2"},
	// An MQTT 5 CONNECT has properties our parser would trip over.
	{"MQTT 5 CONNECT", connectBytes(0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x02, 0x00, 0x3c, 0x05, 0x11, 0x00, 0x00, 0x0e, 0x10, 0x00, 0x00), ErrProtocolLevel, "MQTT-3.1.2-2"},
	{"protocol name truncated", connectBytes(0x00, 0x04, 'M', 'Q'), ErrTruncated, "MQTT-3.1.2.1"},
	{"reserved connect flag", connectBytes(cat(mqtt, []byte{0x03, 0x00, 0x00, 0x00, 0x00})...), ErrConnectFlags, "MQTT-3.1.2-3"},
	{"will QoS without will", connectBytes(cat(mqtt, []byte{0x0a, 0x00, 0x00, 0x00, 0x00})...), ErrConnectFlags, "MQTT-3.1.2-13"},
	{"will retain without will", connectBytes(cat(mqtt, []byte{0x22, 0x00, 0x00, 0x00, 0x00})...), ErrConnectFlags, "MQTT-3.1.2-15"},
	{"will QoS 3", connectBytes(cat(mqtt, []byte{0x1e, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 't', 0x00, 0x00})...), ErrQoS, "MQTT-3.1.2-14"},
	{"password without user name", connectBytes(cat(mqtt, []byte{0x42, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00})...), ErrConnectFlags, "MQTT-3.1.2-22"},
	{"keep alive truncated", connectBytes(cat(mqtt, []byte{0x02, 0x00})...), ErrTruncated, "MQTT-3.1.2.10"},
	{"client id truncated", connectBytes(cat(mqtt, []byte{0x02, 0x00, 0x00, 0x00, 0x05, 'a'})...), ErrTruncated, "MQTT-3.1.3-3"},
	{"client id invalid UTF-8", connectBytes(cat(mqtt, []byte{0x02, 0x00, 0x00, 0x00, 0x01, 0xff})...), ErrInvalidUTF8, "MQTT-1.5.3-1"},
	{"client id surrogate", connectBytes(cat(mqtt, []byte{0x02, 0x00, 0x00, 0x00, 0x03, 0xed, 0xa0, 0x80})...), ErrInvalidUTF8, "MQTT-1.5.3-1"},
	{"client id NUL", connectBytes(cat(mqtt, []byte{0x02, 0x00, 0x00, 0x00, 0x01, 0x00})...), ErrInvalidUTF8, "MQTT-1.5.3-2"},
	// [MQTT-1.5.3] allows closing on a control character; mosquitto does.
	{"client id U+0001", connectBytes(cat(mqtt, []byte{0x02, 0x00, 0x00, 0x00, 0x02, 'a', 0x01})...), ErrControlChar, "MQTT-1.5.3"},
	{"client id U+007F", connectBytes(cat(mqtt, []byte{0x02, 0x00, 0x00, 0x00, 0x01, 0x7f})...), ErrControlChar, "MQTT-1.5.3"},
	{"user name U+0085", connectBytes(cat(mqtt, []byte{0x82, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0xc2, 0x85})...), ErrControlChar, "MQTT-1.5.3"},
	{"will topic U+001F", connectBytes(cat(mqtt, []byte{0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 't', 0x1f, 0x00, 0x00})...), ErrControlChar, "MQTT-1.5.3"},
	{"will topic with wildcard", connectBytes(cat(mqtt, []byte{0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, '#', 0x00, 0x00})...), ErrTopicName, "MQTT-3.3.2-2"},
	{"will topic empty", connectBytes(cat(mqtt, []byte{0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00})...), ErrTopicName, "MQTT-4.7.3-1"},
	{"will message missing", connectBytes(cat(mqtt, []byte{0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 't'})...), ErrTruncated, "MQTT-3.1.3-10"},
	{"user name missing", connectBytes(cat(mqtt, []byte{0x82, 0x00, 0x00, 0x00, 0x00})...), ErrTruncated, "MQTT-3.1.2-19"},
	{"user name invalid UTF-8", connectBytes(cat(mqtt, []byte{0x82, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0xc0})...), ErrInvalidUTF8, "MQTT-3.1.3-11"},
	{"password missing", connectBytes(cat(mqtt, []byte{0xc2, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00})...), ErrTruncated, "MQTT-3.1.2-21"},
	{"CONNECT trailing byte", connectBytes(cat(mqtt, []byte{0x02, 0x00, 0x00, 0x00, 0x00, 0x00})...), ErrTrailingBytes, "MQTT-3.1.3"},

	// CONNACK.
	{"CONNACK reserved flags", []byte{0x20, 0x02, 0x02, 0x00}, ErrFlags, "MQTT-3.2.2.1"},
	{"CONNACK return code 6", []byte{0x20, 0x02, 0x00, 0x06}, ErrReturnCode, "MQTT-3.2.2.3"},
	{"CONNACK session present when refused", []byte{0x20, 0x02, 0x01, 0x05}, ErrFlags, "MQTT-3.2.2-4"},

	// PUBLISH.
	{"PUBLISH QoS 3", withHeader(0x36, 0x00, 0x01, 't', 0x00, 0x01), ErrQoS, "MQTT-3.3.1-4"},
	{"PUBLISH DUP at QoS 0", withHeader(0x38, 0x00, 0x01, 't'), ErrFlags, "MQTT-3.3.1-2"},
	{"PUBLISH topic with +", withHeader(0x30, 0x00, 0x03, 'a', '/', '+'), ErrTopicName, "MQTT-3.3.2-2"},
	{"PUBLISH topic with #", withHeader(0x30, 0x00, 0x01, '#'), ErrTopicName, "MQTT-3.3.2-2"},
	{"PUBLISH empty topic", withHeader(0x30, 0x00, 0x00, 'x'), ErrTopicName, "MQTT-4.7.3-1"},
	{"PUBLISH topic invalid UTF-8", withHeader(0x30, 0x00, 0x01, 0x80), ErrInvalidUTF8, "MQTT-1.5.3-1"},
	{"PUBLISH topic NUL", withHeader(0x30, 0x00, 0x01, 0x00), ErrInvalidUTF8, "MQTT-1.5.3-2"},
	{"PUBLISH topic U+009F", withHeader(0x30, 0x00, 0x03, 'a', 0xc2, 0x9f), ErrControlChar, "MQTT-1.5.3"},
	{"PUBLISH topic tab", withHeader(0x30, 0x00, 0x02, 'a', '\t'), ErrControlChar, "MQTT-1.5.3"},
	{"PUBLISH topic truncated", withHeader(0x30, 0x00, 0x05, 'a'), ErrTruncated, "MQTT-3.3.2-1"},
	{"PUBLISH no topic length", withHeader(0x30, 0x00), ErrTruncated, "MQTT-3.3.2-1"},
	{"PUBLISH QoS 1 packet id 0", withHeader(0x32, 0x00, 0x01, 't', 0x00, 0x00), ErrPacketID, "MQTT-2.3.1-1"},
	{"PUBLISH QoS 2 packet id missing", withHeader(0x34, 0x00, 0x01, 't', 0x01), ErrTruncated, "MQTT-2.3.1-1"},

	// Acknowledgements.
	{"PUBACK packet id 0", []byte{0x40, 0x02, 0x00, 0x00}, ErrPacketID, "MQTT-2.3.1-1"},
	{"PUBREL packet id 0", []byte{0x62, 0x02, 0x00, 0x00}, ErrPacketID, "MQTT-2.3.1-1"},
	{"UNSUBACK packet id 0", []byte{0xb0, 0x02, 0x00, 0x00}, ErrPacketID, "MQTT-2.3.1-1"},

	// SUBSCRIBE and SUBACK.
	{"SUBSCRIBE no filters", withHeader(0x82, 0x00, 0x01), ErrNoSubscriptions, "MQTT-3.8.3-3"},
	{"SUBSCRIBE packet id 0", withHeader(0x82, 0x00, 0x00, 0x00, 0x01, 'a', 0x00), ErrPacketID, "MQTT-2.3.1-1"},
	{"SUBSCRIBE QoS 3", withHeader(0x82, 0x00, 0x01, 0x00, 0x01, 'a', 0x03), ErrQoS, "MQTT-3.8.3-4"},
	{"SUBSCRIBE reserved bits", withHeader(0x82, 0x00, 0x01, 0x00, 0x01, 'a', 0x41), ErrQoS, "MQTT-3.8.3-4"},
	{"SUBSCRIBE QoS missing", withHeader(0x82, 0x00, 0x01, 0x00, 0x01, 'a'), ErrTruncated, "MQTT-3.8.3-1"},
	{"SUBSCRIBE filter truncated", withHeader(0x82, 0x00, 0x01, 0x00, 0x03, 'a'), ErrTruncated, "MQTT-3.8.3-1"},
	{"SUBSCRIBE # not last", withHeader(0x82, 0x00, 0x01, 0x00, 0x03, '#', '/', 'a', 0x00), ErrTopicFilter, "MQTT-4.7.1-2"},
	{"SUBSCRIBE + with text", withHeader(0x82, 0x00, 0x01, 0x00, 0x02, 'a', '+', 0x00), ErrTopicFilter, "MQTT-4.7.1-3"},
	{"SUBSCRIBE empty filter", withHeader(0x82, 0x00, 0x01, 0x00, 0x00, 0x00), ErrTopicFilter, "MQTT-4.7.3-1"},
	{"SUBSCRIBE filter invalid UTF-8", withHeader(0x82, 0x00, 0x01, 0x00, 0x01, 0xfe, 0x00), ErrInvalidUTF8, "MQTT-1.5.3-1"},
	{"SUBSCRIBE filter U+0080", withHeader(0x82, 0x00, 0x01, 0x00, 0x03, 'a', 0xc2, 0x80, 0x00), ErrControlChar, "MQTT-1.5.3"},
	{"SUBSCRIBE filter newline", withHeader(0x82, 0x00, 0x01, 0x00, 0x02, 'a', '\n', 0x00), ErrControlChar, "MQTT-1.5.3"},
	{"SUBACK return code 3", withHeader(0x90, 0x00, 0x01, 0x03), ErrReturnCode, "MQTT-3.9.3-2"},
	{"SUBACK return code 0x81", withHeader(0x90, 0x00, 0x01, 0x00, 0x81), ErrReturnCode, "MQTT-3.9.3-2"},
	{"SUBACK no return codes", withHeader(0x90, 0x00, 0x01), ErrNoSubscriptions, "MQTT-3.9.3-1"},
	{"SUBACK packet id 0", withHeader(0x90, 0x00, 0x00, 0x00), ErrPacketID, "MQTT-2.3.1-1"},

	// UNSUBSCRIBE.
	{"UNSUBSCRIBE no filters", withHeader(0xa2, 0x00, 0x01), ErrNoSubscriptions, "MQTT-3.10.3-2"},
	{"UNSUBSCRIBE packet id 0", withHeader(0xa2, 0x00, 0x00, 0x00, 0x01, 'a'), ErrPacketID, "MQTT-2.3.1-1"},
	{"UNSUBSCRIBE bad filter", withHeader(0xa2, 0x00, 0x01, 0x00, 0x02, '#', '#'), ErrTopicFilter, "MQTT-4.7.1-2"},
	{"UNSUBSCRIBE filter truncated", withHeader(0xa2, 0x00, 0x01, 0x00, 0x02, 'a'), ErrTruncated, "MQTT-3.10.3-1"},
	{"UNSUBSCRIBE filter U+0008", withHeader(0xa2, 0x00, 0x01, 0x00, 0x02, 'a', 0x08), ErrControlChar, "MQTT-1.5.3"},
}
