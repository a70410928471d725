// Package rawmqtt is forkmq's one MQTT 3.1.1 client for tests and the
// benchmark: packet bytes built field by field, a reader that returns what
// arrived undecoded, and a connection type that plays either side of every
// QoS flow.
//
// It has its own encoding and decoding, written from the specification and
// independent of forkmq's codec (internal/packet), the way mosquitto's
// broker tests build their packets by hand: a bug in the broker's codec
// cannot hide itself behind the same bug in the client. For the same reason
// it builds whatever it is asked to, malformed packets included: a header
// byte with wrong flags or a reserved type (Frame), a remaining length that
// lies (FrameClaiming), CONNECT flags with reserved bits set (Connect.Flags).
//
// The package has four parts:
//
//   - building packets: Frame, Str, U16, Varint, the Connect and Publish
//     types, and Subscribe, Unsubscribe, Ack, Pingreq, Disconnect;
//   - reading them: Packet, the fixed header's first byte and the body,
//     with methods that decode the fields (Publish, ID, Connack, Suback);
//   - a connection, Conn: Write and Read with deadlines for tests and for
//     goroutines (they return errors), and a fast path for the load
//     generator: BufferPublish and BufferAck into the write buffer, Flush,
//     ReadPacket into a reused buffer, and Serve, a reader loop that
//     answers every QoS flow and flushes its answers once per burst;
//   - expectations for tests (the methods that take a TB): each reads or
//     sends one step, fails the test with what arrived instead, and cites
//     the MQTT 3.1.1 statement it checks, e.g. [MQTT-3.2.0-1]. The
//     receiver's side of QoS 1 and 2 (Receive, Settle) keeps the QoS 2
//     identifiers it holds in a ReceiverState, which a persistent session
//     carries from one connection to the next.
//
// Tests take a TB, which *testing.T and *testing.B satisfy, so that the
// benchmark's binary does not link package testing.
package rawmqtt
