// Package packet encodes and decodes the fourteen MQTT 3.1.1 control packets.
//
// Each packet kind has its own type (*Connect, *Publish, …) implementing
// Packet. Encoding goes through Append (and its wrappers Encode and Write);
// decoding through ReadFixedHeader and ReadBody (or Read, which does both)
// for streams and Decode for buffers. There is one dispatch in each
// direction: newPacket picks the type for a header, and every type knows how
// to size, append and decode its own body.
//
// Decoding is strict: it rejects everything the bytes alone show to be
// malformed, citing the rule of the specification beside each check
// ([MQTT-x.y.z-n]). Errors are *Error values that name the packet and the
// field ("CONNECT client identifier: invalid UTF-8") and unwrap to one of the
// sentinel errors of this package; all of them except ErrPacketTooLarge and
// ErrProtocolLevel also match ErrMalformed. ConnackCodeFor maps a CONNECT
// decoding error to the CONNACK return code, if any, that the server sends
// before closing the connection. Rules that depend on the session (CONNECT
// must come first, only once; an empty client identifier needs a clean
// session) are not the codec's business.
//
// Decoded packets own their memory: byte slices such as Publish.Payload
// point into a buffer allocated for that packet alone. A claimed remaining
// length is never allocated up front; the body buffer grows as bytes arrive,
// so a peer cannot make the server reserve 256 MiB by sending five bytes.
//
// The package imports only the standard library and never logs.
package packet
