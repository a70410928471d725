// Package admission is how both engines take a new connection, or turn it
// away: the accept loop (a temporary error backs off instead of ending it),
// the accept rate limit and the client limit, and the refusal — CONNACK 3,
// "server unavailable", written as four constant bytes without parsing
// MQTT, with one log line per limit and second naming the limit and how to
// raise it. It also drops root privileges after the port is bound (-user).
package admission
