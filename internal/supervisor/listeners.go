package supervisor

import (
	"fmt"
	"net"
	"syscall"

	"github.com/forkmq/forkmq/internal/listener"
)

// Reach (issue 14): the supervisor opens every listener of the options —
// plain, TLS, WebSocket, each optionally behind the PROXY protocol — with
// package listener, and is the terminator of their sessions, as Postfix's
// tlsproxy(8) is one process for many sessions: each TLS or WebSocket
// session is pumped by goroutines of this process to one end of a
// socketpair (listener.ServePlain), and the other end is handed to the
// worker pair exactly as a TCP socket is (control.Hand, SCM_RIGHTS). The
// pair does not know the difference. The handshakes and the pumps run on
// goroutines of their own, never in the main loop, so a slow handshake
// or a slow client holds up no one; the client's address (the PROXY
// header's source) and TLS identity (use_identity_as_username) travel
// with the Hand. Why one terminator for every session rather than one
// process per session: docs/ARCHITECTURE.md, "Terminators".

// acceptLoop feeds every listener's connections, their handshakes done and
// sessions terminated, to the main loop; s.accepted is closed once every
// listener is closed.
func (s *Supervisor) acceptLoop() {
	s.lns.ServeHandOver(s.log, func(c *listener.Conn) { s.accepted <- c })
	close(s.accepted)
}

// handedSocket is a descriptor of conn's socket for a Hand (TCP, or a
// socketpair's plain end), the supervisor's to close (nowait.Close) once
// both workers have it, with the TLS identity the client is to have ("" if
// none). A connection the listener accepted as a descriptor gives that
// descriptor itself, leaving conn nothing to close (listener.Conn.Descriptor).
func handedSocket(conn net.Conn) (fd int, identity string, err error) {
	if lc, ok := conn.(*listener.Conn); ok {
		fd, err = lc.Descriptor()
		identity = lc.Identity()
	} else if sc, ok := conn.(syscall.Conn); ok {
		fd, err = listener.Dup(sc) // a bridge's end
	} else {
		return -1, "", fmt.Errorf("connection is %T, not a socket", conn)
	}
	if err != nil {
		return -1, "", spawnLimit(err)
	}
	return fd, identity, nil
}
