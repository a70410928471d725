package listener

import (
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Socketpair returns the two ends of a connected Unix stream socket: plain
// as a *net.UnixConn for this process, and the other as a file, to pump
// from (Pump) or to pass to another process with SCM_RIGHTS.
func Socketpair() (*net.UnixConn, *os.File, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("socketpair: %w", err)
	}
	a := os.NewFile(uintptr(fds[0]), "plain")
	b := os.NewFile(uintptr(fds[1]), "terminator")
	defer a.Close() // net.FileConn duplicates it
	c, err := net.FileConn(a)
	if err != nil {
		b.Close()
		return nil, nil, fmt.Errorf("socketpair: %w", err)
	}
	return c.(*net.UnixConn), b, nil
}

// Pump is the terminator: it copies the session's plain bytes to inner
// (the terminator's end of a socketpair) and inner's to the session, until
// the broker closes its end or the client goes; then it closes both.
//
// A client that ends its side (EOF) half-closes inner, so the broker reads
// the end and may still write what it owes; the broker closing its end
// closes the session (TLS close_notify, WebSocket close frame). Writes to
// the session block as long as the client does not read, so the
// socketpair fills and the broker's own write deadlines see a slow
// consumer as on TCP. It returns the first error of the two directions
// other than an end.
func Pump(session net.Conn, inner *net.UnixConn) error {
	var wg sync.WaitGroup
	var inErr error
	var closing atomic.Bool // Pump closed the session: the reading side's error is its echo
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, err := io.Copy(inner, session)
		inner.CloseWrite()
		if !closing.Load() {
			inErr = err
		}
	}()
	_, outErr := io.Copy(session, inner)
	closing.Store(true)
	session.Close()
	inner.Close()
	wg.Wait()
	if outErr != nil && !isEnd(outErr) {
		return fmt.Errorf("to the client: %w", outErr)
	}
	if inErr != nil && !isEnd(inErr) {
		return fmt.Errorf("from the client: %w", inErr)
	}
	return nil
}

// isEnd reports an error that only says the connection ended, from either
// side.
func isEnd(err error) bool {
	return err == io.EOF || isClosed(err)
}

// CloseGrace is how long a session may take, once the broker has closed
// its plain end, to take what the broker wrote before; a client that reads
// nothing for that long is holding the pump up, and its session is closed
// under it.
const CloseGrace = 5 * time.Second

// Terminate gives the broker a plain socket for a TLS or WebSocket
// session: one end of a socketpair, with the session's remote address and
// identity, while a goroutine pumps between the session and the other end.
// A connection that is no session is returned as it is. done, if not nil,
// is called with Pump's result when the session ends.
//
// Closing the plain end lets the pump deliver what is left and close the
// session; if the client does not read it within CloseGrace (the pump is
// blocked writing to it, and would never see the close), the session is
// closed regardless.
func Terminate(c *Conn, done func(error)) (*Conn, error) {
	if !c.session {
		return c, nil
	}
	plain, other, err := Socketpair()
	if err != nil {
		return nil, err
	}
	fc, err := net.FileConn(other)
	other.Close()
	if err != nil {
		plain.Close()
		return nil, fmt.Errorf("socketpair: %w", err)
	}
	pumped := make(chan struct{})
	go func() {
		err := Pump(c.Conn, fc.(*net.UnixConn))
		close(pumped)
		if done != nil {
			done(err)
		}
	}()
	var once sync.Once
	session := c.Conn
	onClose := func() {
		once.Do(func() {
			go func() {
				select {
				case <-pumped:
				case <-time.After(CloseGrace):
					session.Close()
				}
			}()
		})
	}
	return &Conn{Conn: plain, remote: c.remote, identity: c.identity, scheme: c.scheme, onClose: onClose}, nil
}

// ServePlain is Serve for a broker: every session is terminated (Terminate)
// before handle sees it, so that handle gets a socket — TCP, or the plain
// end of a socketpair — whatever the listener speaks. A session that
// cannot be terminated is closed with a log line; one that ends in an
// error is logged at debug level.
func (l *Listener) ServePlain(handle func(*Conn)) {
	l.Serve(func(c *Conn) {
		plain, err := Terminate(c, func(err error) {
			if err != nil {
				l.log.Debug().Err(err).Str("remote", c.RemoteAddr().String()).Msg("session ended")
			}
		})
		if err != nil {
			l.log.Warn().Err(err).Str("remote", c.RemoteAddr().String()).Msg("connection not terminated; closed")
			c.Close()
			return
		}
		handle(plain)
	})
}
