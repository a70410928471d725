package goengine

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
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

	"github.com/forkmq/forkmq/internal/admission"
	"github.com/forkmq/forkmq/internal/auth"
	"github.com/forkmq/forkmq/internal/core"
	"github.com/forkmq/forkmq/internal/listener"
	"github.com/forkmq/forkmq/internal/options"
	"github.com/forkmq/forkmq/internal/protocol"
	"github.com/forkmq/forkmq/internal/retain"
	"github.com/forkmq/forkmq/internal/scoreboard"
	"github.com/forkmq/forkmq/internal/state"
)

// replyLen is the capacity of each client's reply channel: what a router
// may send its own client ahead of the deliverer (the pair channel of the
// process engine holds much more, and a router waits on either when full).
const replyLen = 64

// Engine is a running goroutine broker.
type Engine struct {
	access   atomic.Pointer[auth.Authorizer] // nil: everything allowed
	cfg      options.Options
	log      zerolog.Logger
	lns      listener.Set // Endpoints' order: the main listener first
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
	gate     *admission.Gate
	refuser  *admission.Refuser

	// Operating it (operate.go).
	board       *scoreboard.Board
	started     time.Time
	sysInterval atomic.Int64  // time.Duration
	sysDone     chan struct{} // closed when the $SYS publisher has returned

	bridges []*localBridge // bridges.go
}

// New prepares the engine: it creates the state directory, opens the
// retained store in it and binds the listening socket.
func New(cfg options.Options, log zerolog.Logger) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.StateDir == "" {
		return nil, errors.New("goroutine engine: -state-dir is required")
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
		gate:     admission.NewGate(cfg.AcceptRate, cfg.AcceptBurst, cfg.MaxClients),
		refuser:  admission.NewRefuser(log),
		board:    newBoard(cfg.MaxClients, os.Getpid()),
		started:  time.Now(),
		sysDone:  make(chan struct{}),
	}
	if cfg.PasswordFile != "" || cfg.ACLFile != "" || !cfg.AllowAnon {
		a, err := auth.Load(auth.Config{PasswordFile: cfg.PasswordFile, ACLFile: cfg.ACLFile, AllowAnonymous: cfg.AllowAnon})
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
	if e.lns, err = listener.OpenSet(cfg.Endpoints(), cfg.ConnectWait, e.log); err != nil {
		e.closeState()
		return nil, err
	}
	if cfg.User != "" {
		if err := admission.DropPrivileges(cfg.User, abs); err != nil {
			e.lns.Close()
			e.closeState()
			return nil, err
		}
		log.Info().Str("user", cfg.User).Int("uid", os.Getuid()).Msg("privileges dropped")
	}
	return e, nil
}

// Addr is the address the broker listens on: its main listener's.
func (e *Engine) Addr() net.Addr { return e.lns[0].Addr() }

// connPrefix starts the name of every connection and session of this
// broker in its log lines.
func (e *Engine) connPrefix() string { return "goroutine." + e.instance + "." }

// Run serves until ctx is cancelled (the broker's signal handling cancels
// it), then closes every client and returns.
func (e *Engine) Run(ctx context.Context) error {
	e.log.Info().
		Str("engine", "goroutine").
		Str("addr", e.Addr().String()).
		Str("instance", e.instance).
		Str("conn_prefix", e.connPrefix()).
		Str("state_dir", e.stateDir).
		Int("pid", e.pid).
		Int("max_clients", e.cfg.MaxClients).
		Msg("listening")
	accepted := e.serveListeners()
	go e.publishSys(ctx)
	bridged := e.runBridges(ctx)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-hup:
			e.reloadAccess()
			e.lns.Reload(e.log)
		case <-ctx.Done():
			<-bridged // they publish into the engine until they have disconnected
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
	// A reconfiguration on the same SIGHUP (Reconfigure) may have
	// swapped the rules in meanwhile, from files the file names now: keep it.
	if e.access.CompareAndSwap(cur, next) {
		e.log.Info().Msg("SIGHUP: routers re-read the access files")
	}
}

// authorizer is the current access rules, nil when there are none.
func (e *Engine) authorizer() protocol.Authorizer {
	if a := e.access.Load(); a != nil {
		return a
	}
	return nil
}

// admit registers a new client and starts its router, or refuses it with
// CONNACK 3 (-max-accept-rate, -max-clients).
func (e *Engine) admit(conn *listener.Conn) {
	e.mu.Lock()
	if e.stopping {
		e.mu.Unlock()
		conn.Close()
		return
	}
	if err := e.gate.Admit(time.Now(), len(e.clients)); err != nil {
		e.mu.Unlock()
		e.refuser.Refuse(conn, err)
		return
	}
	e.seq++
	name := e.connPrefix() + strconv.FormatUint(e.seq, 10)
	c := newClient(name, conn, &e.cfg, e.log.With().Str("role", "deliverer").Str("conn", name).Logger())
	c.counts = e.allocCounts(name, c.remote)
	e.clients[c] = struct{}{}
	e.running.Add(1)
	e.mu.Unlock()
	go e.serve(c)
}

// serve runs one client: its deliverer on a goroutine of its own, its router
// on this one; then, once both are done, it cleans up after the client.
func (e *Engine) serve(c *client) {
	defer e.running.Done()
	defer close(c.cleaned)
	go newDeliverer(c, core.Limits{Window: e.cfg.MaxInflight, BacklogMsgs: e.cfg.BacklogMsgs, BacklogBytes: e.cfg.BacklogBytes}).run()
	r := newRouter(e, c)
	r.run()
	<-c.delivered
	// A clean session's index entries go first, so no publisher routes to
	// the client any more (nor its own will to it); a persistent session
	// stays subscribed, offline.
	if s := r.sess; s != nil && s.persistent {
		s.online.CompareAndSwap(c, nil)
		s.mailbox.attach(false)
	} else if s != nil {
		e.index.Remove(s, s.filterList()...)
	}
	willPublished := r.publishWill()
	e.releaseCounts(c.counts)
	e.mu.Lock()
	delete(e.clients, c)
	if e.ids[r.id] == c {
		delete(e.ids, r.id)
	}
	e.mu.Unlock()
	e.log.Info().
		Str("client_id", r.proto.ClientID()).
		Str("remote", c.remote).
		Str("conn", c.name).
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
	s := newSession(e.connPrefix()+"s"+state.HashClientID(clientID)[:24], true)
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
	if s.mailbox != nil {
		s.mailbox.discard()
	}
	e.log.Debug().Str("client_id", clientID).Str("session", s.name).Msg("earlier session discarded")
}

// shutdown stops accepting, ends every client at once and waits for their
// cleanup.
func (e *Engine) shutdown(accepted <-chan struct{}) error {
	e.mu.Lock()
	e.stopping = true
	e.log.Info().Int("clients", len(e.clients)).Msg("shutting down")
	e.lns.Close()
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
	e.forgetSys()
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
