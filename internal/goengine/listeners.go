package goengine

import (
	"github.com/forkmq/forkmq/internal/listener"
)

// Reach (issue 14): the engine's listeners — plain, TLS, WebSocket, each
// optionally behind the PROXY protocol — opened by package listener (a
// listener.Set). This engine terminates TLS and WebSocket sessions
// in-process: each session is pumped to a socketpair whose other end the
// client's router and deliverer use as they use a TCP socket
// (listener.Terminate), so its writes keep their slow-consumer deadlines
// without breaking the session.

// serveListeners serves every listener; the channel returned is closed
// when all have returned.
func (e *Engine) serveListeners() <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.lns.Serve(e.log, func(c *listener.Conn) { e.admit(c) })
	}()
	return done
}
