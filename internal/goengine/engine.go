package goengine

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/forkmq/forkmq/internal/auth"
	"github.com/forkmq/forkmq/internal/packet"
	"github.com/forkmq/forkmq/internal/protocol"
	"github.com/forkmq/forkmq/internal/retain"
	"github.com/forkmq/forkmq/internal/stall"
	"github.com/forkmq/forkmq/internal/state"
)

// Config is what the broker's command line gives the goroutine engine. The
// flags are the process engine's; those that only concern processes and
// queues (-worker, -queue-budget) have no field here.
type Config struct {
	Listen        string        // address to listen on, e.g. ":1883"
	StateDir      string        // holds retained/, the process engine's retained store
	MaxClients    int           // clients served at once
	MaxPacketSize int           // largest packet accepted from a client
	ConnectWait   time.Duration // how long a new connection may take to send CONNECT
	QueueLen      int           // capacity of each client's reply channel
	MaxInflight   int           // unacknowledged QoS 1/2 messages sent to a client at once
	StopGrace     time.Duration // how long an orderly close may take to flush
	SessionMsgs   int           // most QoS 1/2 messages a persistent session stores
	SessionBytes  int64         // most bytes a persistent session stores
	BacklogMsgs   int           // publications held for a client that reads slowly
	BacklogBytes  int64         // bytes of publications held for a client that reads slowly
	StallTimeout  time.Duration // how long a client with a full backlog may make no progress
	Limits        protocol.Limits
	Access        *auth.Config // password and ACL files; nil: everything allowed
}

// Defaults for Config fields left zero; the same values as the process
// engine's.
const (
	DefaultMaxClients  = 100
	DefaultConnectWait = 10 * time.Second
	DefaultStopGrace   = time.Second
	DefaultMaxInflight = 20
	// DefaultQueueLen is the depth the process engine's queues get from
	// fs.mqueue.msg_max (10) on a stock kernel.
	DefaultQueueLen     = 10
	DefaultSessionMsgs  = 1000
	DefaultSessionBytes = 64 << 20
	DefaultBacklogMsgs  = 1000
	DefaultBacklogBytes = 16 << 20
)

// maxPacket is the largest MQTT 3.1.1 packet: a fixed header with the
// largest remaining length.
const maxPacket = 1 + 4 + packet.MaxRemainingLength

func (c *Config) setDefaults() {
	c.MaxClients = cmp.Or(c.MaxClients, DefaultMaxClients)
	c.MaxPacketSize = cmp.Or(c.MaxPacketSize, maxPacket)
	c.ConnectWait = cmp.Or(c.ConnectWait, DefaultConnectWait)
	c.QueueLen = cmp.Or(c.QueueLen, DefaultQueueLen)
	c.StopGrace = cmp.Or(c.StopGrace, DefaultStopGrace)
	c.MaxInflight = cmp.Or(c.MaxInflight, DefaultMaxInflight)
	c.SessionMsgs = cmp.Or(c.SessionMsgs, DefaultSessionMsgs)
	c.SessionBytes = cmp.Or(c.SessionBytes, DefaultSessionBytes)
	c.BacklogMsgs = cmp.Or(c.BacklogMsgs, DefaultBacklogMsgs)
	c.BacklogBytes = cmp.Or(c.BacklogBytes, DefaultBacklogBytes)
	c.StallTimeout = cmp.Or(c.StallTimeout, stall.DefaultTimeout)
}

func (c *Config) validate() error {
	var errs []error
	if c.Listen == "" {
		errs = append(errs, errors.New("-listen is required"))
	}
	if c.StateDir == "" {
		errs = append(errs, errors.New("-state-dir is required"))
	}
	if c.MaxClients < 1 {
		errs = append(errs, fmt.Errorf("-max-clients %d: want at least 1", c.MaxClients))
	}
	if c.MaxPacketSize < 2 || c.MaxPacketSize > maxPacket {
		errs = append(errs, fmt.Errorf("-max-packet-size %d: want 2…%d", c.MaxPacketSize, maxPacket))
	}
	if c.QueueLen < 1 {
		errs = append(errs, fmt.Errorf("queue length %d: want at least 1", c.QueueLen))
	}
	if c.SessionMsgs < 1 || c.SessionBytes < 1 {
		errs = append(errs, fmt.Errorf("-session-max-messages %d, -session-max-bytes %d: want at least 1", c.SessionMsgs, c.SessionBytes))
	}
	if c.BacklogMsgs < 1 || c.BacklogBytes < 1 {
		errs = append(errs, fmt.Errorf("-max-queued-messages %d, -max-queued-bytes %d: want at least 1", c.BacklogMsgs, c.BacklogBytes))
	}
	return errors.Join(errs...)
}

// Engine is a running goroutine broker.
type Engine struct {
	access   atomic.Pointer[auth.Authorizer] // nil: everything allowed
	cfg      Config
	log      zerolog.Logger
	ln       net.Listener
	index    *Index[*session]
	retained *retain.Store
	stateDir string // absolute
	madeDir  bool   // the state directory did not exist before New
	instance string
	pid      int

	mu       sync.Mutex // guards the fields below; never held with Index.mu or session.mu
	clients  map[*client]struct{}
	ids      map[string]*client  // client identifier -> the connection holding it
	sessions map[string]*session // client identifier -> its persistent session
	seq      uint64
	stopping bool
	running  sync.WaitGroup // one per admitted client, done after its cleanup
}

// New prepares the engine: it creates the state directory, opens the
// retained store in it and binds the listening socket.
func New(cfg Config, log zerolog.Logger) (*Engine, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(cfg.StateDir)
	if err != nil {
		return nil, fmt.Errorf("state dir %s: %w", cfg.StateDir, err)
	}
	_, statErr := os.Stat(abs)
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	// The instance names this broker's clients as the process engine's
	// names its queues: from the state directory, so two brokers differ.
	h := fnv.New32a()
	h.Write([]byte(abs))
	e := &Engine{
		cfg:      cfg,
		log:      log,
		index:    NewIndex[*session](),
		stateDir: abs,
		madeDir:  errors.Is(statErr, os.ErrNotExist),
		instance: fmt.Sprintf("%08x", h.Sum32()),
		pid:      os.Getpid(),
		clients:  make(map[*client]struct{}),
		ids:      make(map[string]*client),
		sessions: make(map[string]*session),
	}
	if cfg.Access != nil {
		a, err := auth.Load(*cfg.Access)
		if err != nil {
			e.removeStateDir()
			return nil, fmt.Errorf("access files: %w", err)
		}
		e.access.Store(a)
	}
	if e.retained, err = retain.Open(e.layout().Retained()); err != nil {
		e.removeStateDir()
		return nil, fmt.Errorf("retained store: %w", err)
	}
	if e.ln, err = net.Listen("tcp", cfg.Listen); err != nil {
		e.closeState()
		return nil, fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	return e, nil
}

// Addr is the address the broker listens on.
func (e *Engine) Addr() net.Addr { return e.ln.Addr() }

// QueuePrefix starts the internal name of every client of this broker, the
// counterpart of the process engine's queue names.
func (e *Engine) QueuePrefix() string { return "goroutine." + e.instance + "." }

// Run serves until ctx is cancelled (the broker's signal handling cancels
// it), then closes every client and returns.
func (e *Engine) Run(ctx context.Context) error {
	e.log.Info().
		Str("engine", "goroutine").
		Str("addr", e.ln.Addr().String()).
		Str("instance", e.instance).
		Str("queue_prefix", e.QueuePrefix()).
		Str("state_dir", e.stateDir).
		Int("pid", e.pid).
		Int("max_clients", e.cfg.MaxClients).
		Int("queue_len", e.cfg.QueueLen).
		Msg("listening")
	accepted := make(chan struct{})
	go func() {
		defer close(accepted)
		e.acceptLoop()
	}()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-hup:
			e.reloadAccess()
		case <-ctx.Done():
			return e.shutdown(accepted)
		}
	}
}

// reloadAccess re-reads the password and ACL files (SIGHUP); connections
// stay up, and a file that does not load leaves the previous rules in force.
func (e *Engine) reloadAccess() {
	cur := e.access.Load()
	if cur == nil {
		e.log.Info().Msg("SIGHUP: no access files to re-read")
		return
	}
	next, err := cur.Reload()
	if err != nil {
		e.log.Error().Err(err).Msg("SIGHUP: access files not reloaded; keeping the previous ones")
		return
	}
	e.access.Store(next)
	e.log.Info().Msg("SIGHUP: routers re-read the access files")
}

// authorizer is the current access rules, nil when there are none.
func (e *Engine) authorizer() protocol.Authorizer {
	if a := e.access.Load(); a != nil {
		return a
	}
	return nil
}

// acceptLoop admits connections until the listener closes. A temporary
// error (out of descriptors, say) backs off instead of ending the loop.
func (e *Engine) acceptLoop() {
	backoff := 5 * time.Millisecond
	for {
		conn, err := e.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			e.log.Warn().Err(err).Dur("backoff", backoff).Msg("accept failed")
			time.Sleep(backoff)
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = 5 * time.Millisecond
		e.admit(conn.(*net.TCPConn))
	}
}

// admit registers a new client and starts its router, or refuses it with
// CONNACK 3 when -max-clients are being served.
func (e *Engine) admit(conn *net.TCPConn) {
	e.mu.Lock()
	if e.stopping {
		e.mu.Unlock()
		conn.Close()
		return
	}
	if n := len(e.clients); n >= e.cfg.MaxClients {
		e.mu.Unlock()
		e.refuse(conn, "-max-clients", "start the broker with a larger -max-clients", fmt.Errorf("%d clients connected", n))
		return
	}
	e.seq++
	name := e.QueuePrefix() + strconv.FormatUint(e.seq, 10)
	c := newClient(name, conn, &e.cfg, e.log.With().Str("role", "deliverer").Int("pid", e.pid).Str("queue", name).Logger())
	e.clients[c] = struct{}{}
	e.running.Add(1)
	e.mu.Unlock()
	go e.serve(c)
}

// refuse answers a client that cannot be served with CONNACK 3 (server
// unavailable) and logs one line naming the limit and how to raise it,
// exactly as the process engine's supervisor does: four constant bytes, no
// MQTT parsing, then the client's CONNECT is drained so the close is not a
// reset.
func (e *Engine) refuse(conn *net.TCPConn, limit, fix string, err error) {
	e.log.Warn().Err(fmt.Errorf("%s reached: %w", limit, err)).Str("remote", conn.RemoteAddr().String()).
		Str("limit", limit).Str("fix", fix).Msg("client refused: server unavailable")
	go func() {
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(2 * time.Second))
		// CONNACK: type 2, remaining length 2, no session, code 3.
		if _, err := conn.Write([]byte{0x20, 0x02, 0x00, byte(packet.RefusedServerUnavailable)}); err != nil {
			return
		}
		conn.CloseWrite()
		io.Copy(io.Discard, io.LimitReader(conn, 1<<20))
	}()
}

// serve runs one client: its deliverer on a goroutine of its own, its router
// on this one; then, once both are done, it cleans up after the client.
func (e *Engine) serve(c *client) {
	defer e.running.Done()
	defer close(c.cleaned)
	go newDeliverer(c, e.cfg.MaxInflight).run()
	r := newRouter(e, c)
	r.run()
	<-c.delivered
	// A clean session's index entries go first, so no publisher routes to
	// the client any more (nor its own will to it); a persistent session
	// stays subscribed, offline.
	if s := r.sess; s != nil && s.persistent {
		s.online.CompareAndSwap(c, nil)
		s.attach(false)
	} else if s != nil {
		e.index.Remove(s, s.filterList()...)
	}
	willPublished := r.publishWill()
	e.mu.Lock()
	delete(e.clients, c)
	if e.ids[r.id] == c {
		delete(e.ids, r.id)
	}
	e.mu.Unlock()
	e.log.Info().
		Str("client_id", r.session.ClientID()).
		Str("remote", c.remote).
		Int("router_pid", e.pid).
		Int("deliverer_pid", e.pid).
		Str("queue", c.name).
		Str("reason", c.reason()).
		Bool("will_published", willPublished).
		Dur("connected_for", time.Since(c.started)).
		Msg("client disconnected")
}

// claim gives clientID to c unless another connection holds it; then it
// returns that one, which c must end first.
func (e *Engine) claim(clientID string, c *client) *client {
	e.mu.Lock()
	defer e.mu.Unlock()
	if prev := e.ids[clientID]; prev != nil && prev != c {
		return prev
	}
	e.ids[clientID] = c
	return nil
}

// openSession returns the persistent session of clientID, made if there is
// none, and whether it existed [MQTT-3.2.2-2].
func (e *Engine) openSession(clientID string) (*session, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if s := e.sessions[clientID]; s != nil {
		return s, true
	}
	s := newSession(e.QueuePrefix()+"s"+state.HashClientID(clientID)[:24], true)
	e.sessions[clientID] = s
	return s, false
}

// discardSession removes the persistent session of clientID, if any: its
// subscriptions and stored messages [MQTT-3.1.2-6]. No connection serves
// it (the caller holds the client identifier).
func (e *Engine) discardSession(clientID string) {
	e.mu.Lock()
	s := e.sessions[clientID]
	delete(e.sessions, clientID)
	e.mu.Unlock()
	if s == nil {
		return
	}
	e.index.Remove(s, s.filterList()...)
	s.discard()
	e.log.Debug().Str("client_id", clientID).Str("session", s.name).Msg("earlier session discarded")
}

// shutdown stops accepting, ends every client at once and waits for their
// cleanup.
func (e *Engine) shutdown(accepted <-chan struct{}) error {
	e.mu.Lock()
	e.stopping = true
	e.log.Info().Int("clients", len(e.clients)).Msg("shutting down")
	e.ln.Close()
	for c := range e.clients {
		c.end("router: " + reasonStopped)
	}
	e.mu.Unlock()
	<-accepted
	done := make(chan struct{})
	go func() {
		e.running.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-time.After(e.cfg.StopGrace + 3*time.Second):
		e.mu.Lock()
		err = fmt.Errorf("shutdown: %d clients did not end", len(e.clients))
		e.mu.Unlock()
	}
	// Persistent sessions end with the engine (see the package doc).
	e.mu.Lock()
	sessions := e.sessions
	e.sessions = make(map[string]*session)
	e.mu.Unlock()
	for _, s := range sessions {
		e.index.Remove(s, s.filterList()...)
	}
	e.closeState()
	e.log.Info().Msg("stopped")
	return err
}

func (e *Engine) layout() state.Layout { return state.Layout{Root: e.stateDir} }

// closeState closes the retained store. A state directory New made is
// removed again if nothing is retained in it.
func (e *Engine) closeState() {
	n, err := e.retained.Count()
	if err := e.retained.Close(); err != nil {
		e.log.Warn().Err(err).Msg("close retained store")
	}
	if e.madeDir && err == nil && n == 0 {
		if err := os.RemoveAll(e.layout().Retained()); err != nil {
			e.log.Warn().Err(err).Msg("remove retained store")
		}
		e.removeStateDir()
	}
}

// removeStateDir removes the state directory if New made it and it is empty.
func (e *Engine) removeStateDir() {
	if e.madeDir {
		if err := os.Remove(e.stateDir); err != nil && !errors.Is(err, os.ErrNotExist) {
			e.log.Warn().Err(err).Msg("remove state dir")
		}
	}
}
