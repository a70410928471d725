package control

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every encoding or decoding error of this package is an
// *Error that unwraps to one of these; a Track's refusal unwraps to
// ErrOutOfState.
var (
	ErrUnknownType  = errors.New("unknown message type")
	ErrTruncated    = errors.New("datagram ends inside the field")
	ErrTrailing     = errors.New("unexpected bytes after the last field")
	ErrOversized    = errors.New("datagram larger than control.MaxSize")
	ErrTooLong      = errors.New("string longer than control.MaxString")
	ErrEmpty        = errors.New("must not be empty")
	ErrValue        = errors.New("value out of range")
	ErrDescriptors  = errors.New("wrong number of descriptors")
	ErrAncillary    = errors.New("ancillary data truncated or not SCM_RIGHTS")
	ErrMissingFile  = errors.New("descriptor missing")
	ErrOutOfState   = errors.New("message not allowed in this state")
	ErrNotSeqpacket = errors.New("not a SOCK_SEQPACKET socket")
	ErrSendAllFiles = errors.New("SendAll sends no descriptors")
	ErrInInbox      = errors.New("the channel is read through its Inbox")
)

// Error is an error in one field (or the framing) of one message.
type Error struct {
	Type  Type   // the message type; 0 when the datagram did not name a known one
	Field string // the field, such as "client id"; "" for the datagram as a whole
	Err   error  // one of the sentinel errors above
}

func (e *Error) Error() string {
	msg := "control " + e.Type.String()
	if e.Field != "" {
		msg += " " + e.Field
	}
	return msg + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// StateError is a Track's refusal of a message: it names who sent what in
// which state, which is the log line of the worker it ends.
type StateError struct {
	Role  Role
	State State
	Type  Type
}

func (e *StateError) Error() string {
	return fmt.Sprintf("control: %s not allowed for a %s worker in state %s", e.Type, e.Role, e.State)
}

func (e *StateError) Unwrap() error { return ErrOutOfState }
