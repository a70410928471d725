package goengine

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/forkmq/forkmq/internal/packet"
)

// Config is what the broker's command line gives the goroutine engine. The
// flags are the process engine's; those that only concern processes and
// queues (-worker, -queue-budget) have no field here.
type Config struct {
	Listen        string        // address to listen on, e.g. ":1883"
	StateDir      string        // accepted for parity; created, left empty, removed if made here
	MaxClients    int           // clients served at once
	MaxPacketSize int           // largest packet accepted from a client
	ConnectWait   time.Duration // how long a new connection may take to send CONNECT
	QueueLen      int           // capacity of each client's channels (its "queue")
	MaxInflight   int           // unacknowledged QoS 1/2 messages sent to a client at once
	StopGrace     time.Duration // how long an orderly close may take to flush
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
	DefaultQueueLen = 10
)

func (c *Config) setDefaults() {
	if c.MaxClients == 0 {
		c.MaxClients = DefaultMaxClients
	}
	if c.MaxPacketSize == 0 {
		c.MaxPacketSize = packet.MaxRemainingLength
	}
	if c.ConnectWait == 0 {
		c.ConnectWait = DefaultConnectWait
	}
	if c.QueueLen == 0 {
		c.QueueLen = DefaultQueueLen
	}
	if c.StopGrace == 0 {
		c.StopGrace = DefaultStopGrace
	}
	if c.MaxInflight == 0 {
		c.MaxInflight = DefaultMaxInflight
	}
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
	if c.MaxPacketSize < 2 || c.MaxPacketSize > packet.MaxRemainingLength {
		errs = append(errs, fmt.Errorf("-max-packet-size %d: want 2…%d", c.MaxPacketSize, packet.MaxRemainingLength))
	}
	if c.QueueLen < 1 {
		errs = append(errs, fmt.Errorf("queue length %d: want at least 1", c.QueueLen))
	}
	return errors.Join(errs...)
}

// Engine is a running goroutine broker.
type Engine struct {
	cfg      Config
	log      zerolog.Logger
	ln       net.Listener
	index    *Index[*client]
	stateDir string // absolute
	madeDir  bool   // the state directory did not exist before New
	instance string
	pid      int

	mu       sync.Mutex // guards the fields below; never held with Index.mu
	clients  map[*client]struct{}
	ids      map[string]*client // client identifier -> the connection holding it
	seq      uint64
	stopping bool
	running  sync.WaitGroup // one per admitted client, done after its cleanup
}

// New prepares the engine: it creates the state directory (which it leaves
// empty) and binds the listening socket.
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
		index:    NewIndex[*client](),
		stateDir: abs,
		madeDir:  errors.Is(statErr, os.ErrNotExist),
		instance: fmt.Sprintf("%08x", h.Sum32()),
		pid:      os.Getpid(),
		clients:  make(map[*client]struct{}),
		ids:      make(map[string]*client),
	}
	if e.ln, err = net.Listen("tcp", cfg.Listen); err != nil {
		e.removeStateDir()
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
	<-ctx.Done()
	return e.shutdown(accepted)
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
	c := newClient(e.QueuePrefix()+strconv.FormatUint(e.seq, 10), conn, e.cfg.QueueLen)
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
	d := newDeliverer(c, e.log.With().Str("role", "deliverer").Int("pid", e.pid).Str("queue", c.name).Logger(), e.cfg.MaxInflight)
	go d.run()
	r := newRouter(e, c)
	r.run()
	<-c.delivered
	// Index entries first, so no publisher routes to the client any more
	// (nor its own will to it).
	e.index.Remove(c, r.filterList()...)
	r.publishWill()
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
	e.removeStateDir()
	e.log.Info().Msg("stopped")
	return err
}

// removeStateDir removes the state directory if New made it; it is empty.
func (e *Engine) removeStateDir() {
	if e.madeDir {
		if err := os.Remove(e.stateDir); err != nil && !errors.Is(err, os.ErrNotExist) {
			e.log.Warn().Err(err).Msg("remove state dir")
		}
	}
}
