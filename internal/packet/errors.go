package packet

import "errors"

// Sentinel errors. Every error the codec produces (other than those of the
// underlying io.Reader) is an *Error that unwraps to one of these. All of
// them except ErrPacketTooLarge and ErrProtocolLevel also match ErrMalformed:
// the server closes the connection without a CONNACK [MQTT-3.1.4-1].
var (
	ErrMalformed       = errors.New("malformed packet")
	ErrPacketTooLarge  = errors.New("packet too large")
	ErrRemainingLength = errors.New("invalid remaining length")
	ErrReservedType    = errors.New("reserved packet type")
	ErrFlags           = errors.New("invalid flags")
	ErrInvalidUTF8     = errors.New("invalid UTF-8")
	ErrControlChar     = errors.New("control character in a string")
	ErrTooLong         = errors.New("longer than 65535 bytes")
	ErrProtocolName    = errors.New("unsupported protocol name")
	ErrProtocolLevel   = errors.New("unsupported protocol level")
	ErrConnectFlags    = errors.New("invalid connect flags")
	ErrReturnCode      = errors.New("invalid return code")
	ErrTopicName       = errors.New("invalid topic name")
	ErrTopicFilter     = errors.New("invalid topic filter")
	ErrQoS             = errors.New("invalid QoS")
	ErrPacketID        = errors.New("packet identifier must not be 0")
	ErrNoSubscriptions = errors.New("empty list")
	ErrTrailingBytes   = errors.New("unexpected bytes after the last field")
	ErrTruncated       = errors.New("field extends beyond the remaining length")
)

// Error is a decoding or encoding error in one field of one packet.
type Error struct {
	Type  Type   // packet type; 0 when the fixed header names a reserved type
	Field string // the field, such as "client identifier"
	Err   error  // one of the sentinel errors of this package

	cause error // optional detail, such as the topic package's verdict
}

func (e *Error) Error() string {
	msg := e.Type.String()
	if e.Field != "" {
		msg += " " + e.Field
	}
	msg += ": " + e.Err.Error()
	if e.cause != nil {
		msg += ": " + e.cause.Error()
	}
	return msg
}

// Unwrap returns the sentinel, the detailed cause if any, and ErrMalformed
// unless the sentinel is ErrPacketTooLarge or ErrProtocolLevel.
func (e *Error) Unwrap() []error {
	errs := make([]error, 0, 3)
	errs = append(errs, e.Err)
	if e.cause != nil {
		errs = append(errs, e.cause)
	}
	if e.Err != ErrMalformed && e.Err != ErrPacketTooLarge && e.Err != ErrProtocolLevel {
		errs = append(errs, ErrMalformed)
	}
	return errs
}

func newError(t Type, field string, err error) *Error {
	return &Error{Type: t, Field: field, Err: err}
}

// ConnackCodeFor returns the CONNACK return code to send before closing the
// connection when decoding a CONNECT failed with err. Only an unsupported
// protocol level earns a CONNACK (RefusedProtocolVersion) [MQTT-3.1.2-2];
// for every other error ok is false and the server closes the connection
// without one [MQTT-3.1.4-1].
func ConnackCodeFor(err error) (code ConnackCode, ok bool) {
	if errors.Is(err, ErrProtocolLevel) {
		return RefusedProtocolVersion, true
	}
	return 0, false
}
