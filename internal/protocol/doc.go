// Package protocol is the MQTT 3.1.1 state machine of one client's
// connection (Connection), as seen by whoever reads the client's packets
// (the router).
//
// It knows the rules of the conversation — CONNECT first, no second CONNECT,
// which client identifiers are acceptable, which acknowledgement answers
// which packet, limits and access decisions — and nothing of how messages
// move between clients. That is its Engine's job, which core.Router does
// for both engines.
package protocol
