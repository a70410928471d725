// Package proxyproto reads the PROXY protocol header (versions 1 and 2, as
// HAProxy specifies them) that a load balancer writes at the start of a
// connection to pass on the address of the client it accepted.
//
// A listener accepts exactly the version it is configured with, never
// guessing from the first bytes: a header of the other version, a
// truncated or malformed one, is an error that closes that one connection.
// The reader takes exactly the header's bytes from the connection, so what
// follows (the client's MQTT) is left unread for the broker.
package proxyproto
