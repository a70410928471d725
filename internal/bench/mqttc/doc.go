// Package mqttc is the benchmark's own MQTT 3.1.1 client: just the packets a
// load generator needs (CONNECT/CONNACK, SUBSCRIBE/SUBACK, PUBLISH at QoS 0
// and 1 with PUBACK, PINGREQ/PINGRESP, DISCONNECT), written as raw bytes
// through buffered I/O on a net.Conn.
//
// It has its own encoders and decoder rather than forkmq's internal/packet so
// that a bug in the broker's codec cannot hide itself from the benchmark, and
// so that it stays allocation-free on the hot path: Publish writes straight
// into the connection's buffer and ReadPacket returns slices of a reused one.
//
// Every packet written or read is counted in a Counters, which the harness
// samples to report MQTT packets per second on the wire.
package mqttc
