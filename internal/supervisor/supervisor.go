package supervisor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/forkmq/forkmq/internal/admission"
	"github.com/forkmq/forkmq/internal/auth"
	"github.com/forkmq/forkmq/internal/control"
	"github.com/forkmq/forkmq/internal/listener"
	"github.com/forkmq/forkmq/internal/options"
	"github.com/forkmq/forkmq/internal/queue"
	"github.com/forkmq/forkmq/internal/retain"
	"github.com/forkmq/forkmq/internal/scoreboard"
	"github.com/forkmq/forkmq/internal/spawn"
	"github.com/forkmq/forkmq/internal/spool"
	"github.com/forkmq/forkmq/internal/topicdir"
)

// Supervisor is a running broker parent.
type Supervisor struct {
	cfg    options.Options
	log    zerolog.Logger
	state  *stateDir
	topics *topicdir.Dir
	spool  *spool.Spool
	attr   queue.Attr   // every client queue's attributes
	lns    listener.Set // the main one first (listeners.go)

	devNull   *os.File // the workers' stdin and stdout
	workerEnv []string // the environment workers start with

	board *scoreboard.Board // every process's counters (board.go)
	sys   sysWorker         // the $SYS publisher (sys.go)

	// Workers, by pid, and the pool.
	workers map[int]*worker
	slots   slots
	pool    pool
	gen     uint64 // the access files' generation: SIGHUPs so far

	// Clients, by connection (queue) name; the client holding each
	// granted client identifier; clients waiting for a pair; connections
	// whose will waits for a worker to publish it.
	seq      uint64
	clients  map[string]*client
	owners   map[string]*client
	pending  []*pendingConn
	wills    []*client
	cleaning int // cleanups under way

	// The loop's inputs.
	accepted chan net.Conn
	reconf   chan options.Options // a SIGHUP's re-read options (Reconfigure)
	inbox    *control.Inbox[*worker]
	received chan []control.Received[*worker] // what the inbox held (readControl)
	quit     chan struct{}                    // closed once the loop is over
	sigchld  chan os.Signal
	cleaned  chan *client  // a gone connection's files are removed
	calls    chan func()   // work of timers, run in the loop
	cleaners chan struct{} // bounds the cleanups running at once

	bridges   []*bridgeProc       // the file's bridges, each a process (bridge.go)
	bridgePID map[int]*bridgeProc // the running ones, by pid

	stopping bool // shutting down
	gate     *admission.Gate
	refuser  *admission.Refuser
}

// New prepares a broker: it takes the state directory (one broker per
// directory), sweeps what a killed predecessor left there, plans the queue
// size from the kernel's limits and binds the listening socket.
func New(cfg options.Options, log zerolog.Logger) (*Supervisor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.StateDir == "" || cfg.WorkerPath == "" {
		return nil, errors.New("supervisor: the state directory and the worker binary's path are required")
	}
	// Files are made 0660 and folders 0770 less the umask (see package
	// spool): the broker's own user alone, or with -worker-uids the group
	// of worker uids too (see uids.go).
	groups, err := workerGroups(cfg)
	if err != nil {
		return nil, err
	}
	if cfg.WorkerUIDs != "" {
		syscall.Umask(0o007)
	} else {
		syscall.Umask(0o077)
	}
	st, err := openStateDir(cfg.StateDir)
	if err != nil {
		return nil, err
	}
	s := &Supervisor{
		cfg:       cfg,
		log:       log,
		state:     st,
		workers:   make(map[int]*worker),
		clients:   make(map[string]*client),
		owners:    make(map[string]*client),
		bridgePID: make(map[int]*bridgeProc),
		accepted:  make(chan net.Conn),
		reconf:    make(chan options.Options),
		received:  make(chan []control.Received[*worker], 16),
		quit:      make(chan struct{}),
		sigchld:   make(chan os.Signal, 1),
		cleaned:   make(chan *client, 64),
		calls:     make(chan func(), 64),
		cleaners:  make(chan struct{}, 4),
		workerEnv: spawn.Env(os.Environ()),
		gate:      admission.NewGate(cfg.AcceptRate, cfg.AcceptBurst, cfg.MaxClients),
		refuser:   admission.NewRefuser(log),
	}
	s.pool.rate = 1
	s.pool.groups = groups
	if s.inbox, err = control.NewInbox[*worker](); err != nil {
		st.close()
		return nil, err
	}
	if err := s.init(); err != nil {
		s.inbox.Close()
		st.close()
		return nil, err
	}
	return s, nil
}

func (s *Supervisor) init() error {
	var err error
	reg := registryDir()
	if s.state.reg, err = register(reg, s.state.Instance, s.state.Root); err != nil {
		return err
	}
	done, err := reclaimOrphans(reg, s.state.Instance)
	logReclaimed(s.log, done, err)
	if s.topics, err = topicdir.Open(s.state.Topics()); err != nil {
		return fmt.Errorf("state dir: %w", err)
	}
	if s.spool, err = spool.Open(s.state.Spool()); err != nil {
		return fmt.Errorf("state dir: %w", err)
	}
	if err := s.sweep(false); err != nil {
		return err
	}
	s.raiseKernelLimits()
	if err := s.planQueues(); err != nil {
		return err
	}
	if g := s.pool.groups[0].creds; g != nil {
		// The retained store's folders too, before any worker makes them.
		rs, err := retain.Open(s.state.Retained())
		if err != nil {
			return fmt.Errorf("state dir: %w", err)
		}
		rs.Close()
		if err := shareStateDir(s.state.Root, g.Gid); err != nil {
			return err
		}
		s.log.Info().Str("worker_uids", s.cfg.WorkerUIDs).Int("uids", len(s.pool.groups)).Uint32("gid", g.Gid).
			Msg("workers run under a uid range; the supervisor stays root")
	}
	if err := s.openBoard(); err != nil {
		return err
	}
	if err := s.checkAccessFiles(); err != nil {
		return err
	}
	if s.devNull, err = os.Open(os.DevNull); err != nil {
		return fmt.Errorf("open %s: %w", os.DevNull, err)
	}
	if s.lns, err = listener.OpenSet(s.cfg.Endpoints(), s.cfg.ConnectWait, s.log); err != nil {
		return err
	}
	if s.cfg.User != "" {
		if err := admission.DropPrivileges(s.cfg.User, s.state.Root); err != nil {
			s.lns.Close()
			return err
		}
		s.log.Info().Str("user", s.cfg.User).Int("uid", os.Getuid()).Msg("privileges dropped")
	}
	return nil
}

// Queue messages are planned at least batchQueueMsgSize bytes when the
// budget allows it, else at least minQueueMsgSize. A router batches the
// small publications it routes to one subscriber into one queue message
// (envelope.KindBatch), and the deliverer wakes once per queue message: in
// one run (capacity scenario, broker pinned to one core, 250 clients
// planned) messages of 1.4 KiB rather than 300 bytes cut the CPU per
// delivery of 1→100 QoS 0 fan-out from 35.8 to 8.0 s per million and of
// 1→1 from 6.1 to 3.1, at a depth of 2 instead of 10. Depth matters less
// than size since a full queue is back-pressure, not loss.
const (
	batchQueueMsgSize = 1400
	minQueueMsgSize   = 256
)

// planQueues sizes every client queue so that MaxClients of them fit the
// RLIMIT_MSGQUEUE budget (or the part of it given by -queue-budget) together.
func (s *Supervisor) planQueues() error {
	lim, err := queue.ReadLimits()
	if err != nil {
		return fmt.Errorf("read mqueue limits: %w", err)
	}
	if s.cfg.QueueBudget > 0 && s.cfg.QueueBudget < lim.Budget {
		lim.Budget = s.cfg.QueueBudget
	}
	if int64(s.cfg.MaxClients) > lim.QueuesMax {
		// Serve anyway: the clients past the kernel's count are refused
		// one by one with CONNACK 3 and a log line naming the limit.
		s.log.Warn().Str("limit", queue.LimitQueuesMax).Int64("queues_max", lim.QueuesMax).Int("max_clients", s.cfg.MaxClients).
			Msg("-max-clients is above the kernel's queue count; raise it with: sysctl -w fs.mqueue.queues_max=N")
		lim.QueuesMax = int64(s.cfg.MaxClients)
	}
	// Each uid's workers make their clients' queues, from that uid's own
	// budget: a uid serves its share of -max-clients.
	attr, err := queue.Plan(lim, s.groupCap(), batchQueueMsgSize)
	if err != nil {
		attr, err = queue.Plan(lim, s.groupCap(), minQueueMsgSize)
	}
	if err != nil {
		return fmt.Errorf("-max-clients %d does not fit the message queue limits: %w", s.cfg.MaxClients, err)
	}
	s.attr = attr
	s.log.Debug().Int64("msg_max", attr.MaxMsg).Int64("msg_size", attr.MsgSize).Uint64("cost_bytes", queue.Cost(attr)).
		Uint64("budget_bytes", lim.Budget).Msg("client queues planned")
	return nil
}

// Addr is the address the broker's main listener is bound to.
func (s *Supervisor) Addr() net.Addr { return s.lns[0].Addr() }

// Instance is the namespace of this broker's queues.
func (s *Supervisor) Instance() string { return s.state.Instance }

// QueuePrefix starts the name of every queue of this broker.
func (s *Supervisor) QueuePrefix() string { return s.state.QueuePrefix() }

// Run serves until ctx is cancelled (the broker's signal handling cancels
// it), then stops every worker and removes everything the broker made.
func (s *Supervisor) Run(ctx context.Context) error {
	s.log.Info().
		Str("addr", s.Addr().String()).
		Strs("addrs", s.lns.Addrs()).
		Str("instance", s.state.Instance).
		Str("queue_prefix", s.QueuePrefix()).
		Str("state_dir", s.state.Root).
		Int("pid", os.Getpid()).
		Int("max_clients", s.cfg.MaxClients).
		Int64("queue_msg_max", s.attr.MaxMsg).
		Int64("queue_msg_size", s.attr.MsgSize).
		Int("pool_min_spare", s.cfg.PoolMinSpare).
		Msg("listening")
	signal.Notify(s.sigchld, syscall.SIGCHLD)
	defer signal.Stop(s.sigchld)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	s.startPool()
	s.startSys()
	s.startBridges()
	go s.acceptLoop()
	go s.readControl()
	defer close(s.quit)
	for !s.step(s.accepted, hup, ctx.Done(), nil) {
	}
	return s.shutdown()
}

// step waits for one of the loop's inputs and acts on it: an accepted
// connection, a SIGHUP, a control message, a reaped worker, a finished
// cleanup, a timer's work. A nil channel is not waited on (shutdown drains
// without accepting). It reports whether done or deadline came instead.
func (s *Supervisor) step(accepted <-chan net.Conn, hup <-chan os.Signal, done <-chan struct{}, deadline <-chan time.Time) (over bool) {
	select {
	case <-hup:
		s.lns.Reload(s.log)
		s.reload()
	case o := <-s.reconf:
		s.reconfigure(o)
	case conn := <-accepted:
		s.admit(conn)
	case got := <-s.received:
		for _, r := range got {
			s.controlEvent(controlEvent{w: r.From, m: r.Message, err: r.Err})
		}
	case <-s.sigchld:
		s.reap()
	case c := <-s.cleaned:
		s.cleanedUp(c)
	case f := <-s.calls:
		f()
	case <-done:
		return true
	case <-deadline:
		return true
	}
	return false
}

// later runs f in the loop after d.
func (s *Supervisor) later(d time.Duration, f func()) *time.Timer {
	return time.AfterFunc(d, func() { s.calls <- f })
}

// checkAccessFiles loads the password and ACL files once, so that a broken
// file stops the broker at start instead of refusing every client.
func (s *Supervisor) checkAccessFiles() error {
	return loadAccessFiles(s.cfg)
}

// loadAccessFiles loads the access files o names, to see that they load
// and that their paths fit a control.Reload.
func loadAccessFiles(o options.Options) error {
	for _, path := range []string{o.PasswordFile, o.ACLFile} {
		if len(path) > control.MaxString {
			return fmt.Errorf("access files: the path %.40q… is longer than %d bytes", path, control.MaxString)
		}
	}
	if o.PasswordFile == "" && o.ACLFile == "" {
		return nil
	}
	if _, err := auth.Load(auth.Config{PasswordFile: o.PasswordFile, ACLFile: o.ACLFile, AllowAnonymous: o.AllowAnon}); err != nil {
		return fmt.Errorf("access files: %w", err)
	}
	return nil
}

// reload tells every worker to re-read the password and ACL files, with
// the options the broker runs with now (control.Reload); connections stay
// up. A worker still starting is told when it says Ready.
func (s *Supervisor) reload() {
	s.gen++
	m := s.reloadMessage()
	n := 0
	for _, w := range s.workers {
		if s.sendIfAllowed(w, m) {
			n++
		}
	}
	s.log.Info().Int("workers", n).Uint64("generation", s.gen).Msg("SIGHUP: workers re-read the access files")
}

// reloadMessage is the Reload of the present generation and options.
func (s *Supervisor) reloadMessage() *control.Reload {
	return &control.Reload{Generation: s.gen, PasswordFile: s.cfg.PasswordFile, ACLFile: s.cfg.ACLFile,
		AllowAnon: s.cfg.AllowAnon, SysInterval: uint64(s.cfg.SysInterval)}
}
