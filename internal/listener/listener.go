package listener

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/coder/websocket"
	"github.com/rs/zerolog"

	"github.com/forkmq/forkmq/internal/admission"
	"github.com/forkmq/forkmq/internal/proxyproto"
)

// Listener is one open listener.
type Listener struct {
	cfg  Config
	log  zerolog.Logger
	ln   net.Listener
	tls  atomic.Pointer[tls.Config] // the configuration new handshakes take; nil without TLS
	ws   *wsServer                  // nil unless Protocol is WebSockets
	open sync.WaitGroup             // handshakes under way

	mu         sync.Mutex
	closed     bool
	acceptFile *os.File // the listening socket's duplicate ServeHandOver waits on; nil if none
}

// Open validates cfg, loads its certificates and binds its address.
func Open(cfg Config, log zerolog.Logger) (*Listener, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = 10 * time.Second
	}
	l := &Listener{cfg: cfg}
	if cfg.TLS != nil {
		tc, err := cfg.TLS.load()
		if err != nil {
			return nil, fmt.Errorf("listener %s %s: %w", cfg.Scheme(), cfg.Addr, err)
		}
		l.tls.Store(tc)
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	if err := setInherited(ln); err != nil {
		ln.Close()
		return nil, fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	l.ln = ln
	l.log = log.With().Str("listener", l.Name()).Logger()
	return l, nil
}

// Name is the listener as its log lines name it: scheme://address, and
// "+proxy-vN" behind the PROXY protocol.
func (l *Listener) Name() string {
	s := l.cfg.Scheme() + "://" + l.ln.Addr().String()
	if l.cfg.Proxy != 0 {
		s += fmt.Sprintf("+proxy-v%d", l.cfg.Proxy)
	}
	return s
}

// Addr is the address the listener is bound to.
func (l *Listener) Addr() net.Addr { return l.ln.Addr() }

// Config is the listener's configuration.
func (l *Listener) Config() Config { return l.cfg }

// Reload re-reads the certificate, key and CA files: handshakes from now
// on take them, established sessions keep theirs. Files that do not load
// leave the previous ones in force.
func (l *Listener) Reload() error {
	if l.cfg.TLS == nil {
		return nil
	}
	tc, err := l.cfg.TLS.load()
	if err != nil {
		return fmt.Errorf("listener %s: %w", l.Name(), err)
	}
	l.tls.Store(tc)
	return nil
}

// Close stops accepting; connections handed over stay open.
func (l *Listener) Close() error {
	l.mu.Lock()
	l.closed = true
	f := l.acceptFile
	l.mu.Unlock()
	err := l.ln.Close()
	if f != nil {
		f.Close() // the socket stops listening once both are closed
	}
	return err
}

// Serve accepts connections until the listener is closed and calls handle
// with each one whose handshakes succeed, on the handshake's goroutine (on
// the accept loop's, for a plain listener: there is no handshake).
// It returns when the listener is closed and no handshake is under way.
func (l *Listener) Serve(handle func(*Conn)) {
	if l.cfg.Protocol == WebSockets {
		l.ws = newWSServer(l, handle)
		defer l.ws.close()
	}
	plain := l.cfg.Proxy == 0 && l.cfg.TLS == nil && l.ws == nil
	admission.AcceptLoop(l.ln, l.log, func(raw net.Conn) {
		if plain {
			// No handshake to wait for: handed on from the accept loop, as
			// fast as a broker without this package.
			handle(&Conn{Conn: raw, remote: raw.RemoteAddr(), scheme: l.cfg.Scheme()})
			return
		}
		l.open.Add(1)
		go func() {
			defer l.open.Done()
			l.handshake(raw, handle)
		}()
	})
	l.open.Wait()
}

// handshake runs a new connection's handshakes under one deadline: the
// PROXY header, TLS, then the WebSocket upgrade (which the WebSocket
// server finishes, and hands on).
func (l *Listener) handshake(raw net.Conn, handle func(*Conn)) {
	start := time.Now()
	c := &Conn{Conn: raw, remote: raw.RemoteAddr(), scheme: l.cfg.Scheme()}
	raw.SetDeadline(start.Add(l.cfg.HandshakeTimeout))
	fail := func(stage string, err error) {
		l.log.Warn().Err(err).Str("remote", c.remote.String()).Str("stage", stage).
			Dur("after", time.Since(start)).Msg("handshake failed; connection closed")
		raw.Close()
	}
	if l.cfg.Proxy != 0 {
		h, err := proxyproto.Read(raw, l.cfg.Proxy)
		if err != nil {
			fail("proxy", err)
			return
		}
		if !h.Local {
			c.remote = h.Source
		}
	}
	if tc := l.tls.Load(); tc != nil {
		ts := tls.Server(raw, tc)
		if err := ts.Handshake(); err != nil {
			fail("tls", err)
			return
		}
		c.Conn, c.session = ts, true
		if l.cfg.TLS.IdentityAsUsername {
			// RequireAndVerifyClientCert: there is a verified certificate.
			c.identity = ts.ConnectionState().PeerCertificates[0].Subject.CommonName
			if c.identity == "" {
				fail("tls", errors.New("client certificate without a common name, needed as its user name (use_identity_as_username)"))
				return
			}
		}
	}
	if l.ws != nil {
		l.ws.upgrade(c, fail)
		return
	}
	raw.SetDeadline(time.Time{})
	handle(c)
}

// isClosed reports an error that means the peer or this process closed the
// connection.
func isClosed(err error) bool {
	var ce websocket.CloseError
	if errors.As(err, &ce) {
		return ce.Code == websocket.StatusNormalClosure || ce.Code == websocket.StatusGoingAway || ce.Code == websocket.StatusNoStatusRcvd
	}
	return errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, context.Canceled)
}

// wsServer upgrades connections to WebSocket with net/http's server, fed
// one connection at a time by handshake (so a slow HTTP request holds up
// only its own goroutine).
type wsServer struct {
	l      *Listener
	srv    *http.Server
	conns  chan net.Conn
	done   chan struct{}
	served chan struct{}
}

// pending is a connection waiting for its upgrade: what the handler needs
// besides the request.
type pending struct {
	net.Conn
	c    *Conn
	fail func(string, error)
	ok   atomic.Bool // the upgrade succeeded
}

type pendingKey struct{}

func newWSServer(l *Listener, handle func(*Conn)) *wsServer {
	s := &wsServer{l: l, conns: make(chan net.Conn), done: make(chan struct{}), served: make(chan struct{})}
	s.srv = &http.Server{
		Handler:           http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.serveHTTP(w, r, handle) }),
		ReadHeaderTimeout: l.cfg.HandshakeTimeout,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, pendingKey{}, c.(*pending))
		},
		ConnState: func(c net.Conn, st http.ConnState) {
			// A connection net/http closes without a handler having upgraded
			// it (a bad request, a timeout) is a failed handshake.
			if p := c.(*pending); st == http.StateClosed && !p.ok.Load() {
				p.fail("websocket", errors.New("no WebSocket upgrade"))
			}
		},
		// Its failures are logged as failed handshakes, in the broker's format.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	go func() {
		defer close(s.served)
		s.srv.Serve(s)
	}()
	return s
}

// upgrade hands c to the HTTP server, which calls serveHTTP with it.
func (s *wsServer) upgrade(c *Conn, fail func(string, error)) {
	select {
	case s.conns <- &pending{Conn: c.Conn, c: c, fail: fail}:
	case <-s.done:
		c.Close()
	}
}

func (s *wsServer) serveHTTP(w http.ResponseWriter, r *http.Request, handle func(*Conn)) {
	p := r.Context().Value(pendingKey{}).(*pending)
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		Subprotocols: []string{"mqtt", "mqttv3.1"},
		// Browsers on any page may connect, as to mosquitto: MQTT clients
		// authenticate in CONNECT, not with the cookies an origin check
		// protects.
		InsecureSkipVerify: true,
	})
	if err != nil {
		p.ok.Store(true)         // failed here, logged here
		p.fail("websocket", err) // Accept has answered with an HTTP error
		return
	}
	if ws.Subprotocol() == "" {
		p.ok.Store(true)
		ws.Close(websocket.StatusPolicyViolation, "subprotocol mqtt required")
		p.fail("websocket", fmt.Errorf("client offered subprotocols %q, not mqtt", r.Header.Values("Sec-WebSocket-Protocol")))
		return
	}
	p.ok.Store(true)
	p.Conn.SetDeadline(time.Time{}) // the handshake is done
	c := p.c
	c.Conn = websocket.NetConn(context.Background(), ws, websocket.MessageBinary)
	c.session = true
	handle(c)
}

// Accept implements net.Listener for the HTTP server.
func (s *wsServer) Accept() (net.Conn, error) {
	select {
	case c := <-s.conns:
		return c, nil
	case <-s.done:
		return nil, net.ErrClosed
	}
}

func (s *wsServer) Close() error   { return nil }
func (s *wsServer) Addr() net.Addr { return s.l.Addr() }

// close stops the HTTP server; upgraded connections are hijacked and stay.
func (s *wsServer) close() {
	close(s.done)
	<-s.served
	s.srv.Close()
}
