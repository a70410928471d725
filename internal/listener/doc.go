// Package listener opens the broker's listeners — plain TCP, TLS,
// WebSocket (ws) and WebSocket over TLS (wss), each optionally behind the
// PROXY protocol — and turns every connection they accept into a net.Conn
// that carries plain MQTT bytes, for either engine.
//
// The accept loop only accepts: every connection's handshakes (the PROXY
// header, TLS, the WebSocket upgrade) run on a goroutine of their own under
// a deadline, so a slow or hostile one holds up no one, and one that fails
// is logged in one line and closed.
//
// A TLS or WebSocket session cannot be shared by two processes, and its
// writes do not survive the write deadlines the broker's slow-consumer
// detection uses (crypto/tls refuses every write after one has timed out).
// So a session is terminated as Postfix's tlsproxy(8) does: Terminate makes
// a socketpair, pumps between the session and one end (Pump), and gives the
// broker the other end, a plain socket that the router and deliverer use
// like a TCP connection. ServePlain does it for every session of a
// listener, and a Set is a broker's listeners together: the goroutine
// engine terminates in its one process; the process engine's supervisor
// terminates and hands the plain end (Conn.Descriptor) to a worker pair with
// SCM_RIGHTS, as it hands a TCP socket. It serves them with
// Set.ServeHandOver, which accepts a plain TCP listener's connections as
// descriptors (accept4 until the backlog is empty) rather than as
// net.Conns, which the supervisor would only have duplicated and closed.
//
// Certificates and keys are re-read by Reload (on SIGHUP) without touching
// the connections already established: each handshake takes the TLS
// configuration current when it starts.
package listener
