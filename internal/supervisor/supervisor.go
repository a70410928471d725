package supervisor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/forkmq/forkmq/internal/admission"
	"github.com/forkmq/forkmq/internal/auth"
	"github.com/forkmq/forkmq/internal/options"
	"github.com/forkmq/forkmq/internal/queue"
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
	attr   queue.Attr // every client queue's attributes
	ln     net.Listener

	lifelineR, lifelineW *os.File // workers hold the read end; EOF = we died

	seq      uint64
	clients  map[string]*client // by queue name
	accepted chan net.Conn
	reconf   chan options.Options // a SIGHUP's re-read options (Reconfigure)
	exits    chan workerExit
	cleaned  chan *client  // a gone connection's files are removed
	cleaners chan struct{} // bounds the cleanups running at once
	cleaning int           // cleanups under way

	board *scoreboard.Board // every process's counters (board.go)
	sys   sysWorker         // the $SYS publisher (sys.go)

	workerEnv []string // the environment workers start with
	gate      *admission.Gate
	refuser   *admission.Refuser
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
	st, err := openStateDir(cfg.StateDir)
	if err != nil {
		return nil, err
	}
	s := &Supervisor{
		cfg:      cfg,
		log:      log,
		state:    st,
		clients:  make(map[string]*client),
		accepted: make(chan net.Conn),
		reconf:   make(chan options.Options),
		exits:    make(chan workerExit, 64),
		cleaned:  make(chan *client, 64),
		cleaners: make(chan struct{}, 4),

		// Tried: GOMAXPROCS=1 saves ~12% of a worker's memory, but a
		// deliverer's queue then stalled for seconds under a 100→1 QoS 1
		// load (its intake goroutine not woken while the queue was full),
		// so workers keep the default.
		workerEnv: os.Environ(),
		gate:      admission.NewGate(cfg.AcceptRate, cfg.AcceptBurst, cfg.MaxClients),
		refuser:   admission.NewRefuser(log),
	}
	if err := s.init(); err != nil {
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
	if err := s.planQueues(); err != nil {
		return err
	}
	if err := s.openBoard(); err != nil {
		return err
	}
	if err := s.checkAccessFiles(); err != nil {
		return err
	}
	if s.lifelineR, s.lifelineW, err = os.Pipe(); err != nil {
		return fmt.Errorf("lifeline pipe: %w", err)
	}
	if s.ln, err = net.Listen("tcp", s.cfg.Listen); err != nil {
		return fmt.Errorf("listen on %s: %w", s.cfg.Listen, err)
	}
	if s.cfg.User != "" {
		if err := admission.DropPrivileges(s.cfg.User, s.state.Root); err != nil {
			s.ln.Close()
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
	attr, err := queue.Plan(lim, s.cfg.MaxClients, batchQueueMsgSize)
	if err != nil {
		attr, err = queue.Plan(lim, s.cfg.MaxClients, minQueueMsgSize)
	}
	if err != nil {
		return fmt.Errorf("-max-clients %d does not fit the message queue limits: %w", s.cfg.MaxClients, err)
	}
	s.attr = attr
	s.log.Debug().Int64("msg_max", attr.MaxMsg).Int64("msg_size", attr.MsgSize).Uint64("cost_bytes", queue.Cost(attr)).
		Uint64("budget_bytes", lim.Budget).Msg("client queues planned")
	return nil
}

// Addr is the address the broker listens on.
func (s *Supervisor) Addr() net.Addr { return s.ln.Addr() }

// Instance is the namespace of this broker's queues.
func (s *Supervisor) Instance() string { return s.state.Instance }

// QueuePrefix starts the name of every queue of this broker.
func (s *Supervisor) QueuePrefix() string { return s.state.QueuePrefix() }

// Run serves until ctx is cancelled (the broker's signal handling cancels
// it), then stops every client and removes everything the broker made.
func (s *Supervisor) Run(ctx context.Context) error {
	s.log.Info().
		Str("addr", s.ln.Addr().String()).
		Str("instance", s.state.Instance).
		Str("queue_prefix", s.QueuePrefix()).
		Str("state_dir", s.state.Root).
		Int("pid", os.Getpid()).
		Int("max_clients", s.cfg.MaxClients).
		Int64("queue_msg_max", s.attr.MaxMsg).
		Int64("queue_msg_size", s.attr.MsgSize).
		Msg("listening")
	go s.acceptLoop()
	s.startSys()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-hup:
			s.reload()
		case o := <-s.reconf:
			s.reconfigure(o)
		case ev := <-s.sys.events:
			s.sysEvent(ev)
		case conn := <-s.accepted:
			s.admit(conn)
		case e := <-s.exits:
			s.workerExited(e)
		case c := <-s.cleaned:
			s.cleanedUp(c)
		case <-ctx.Done():
			return s.shutdown()
		}
	}
}

// checkAccessFiles loads the password and ACL files once, so that a broken
// file stops the broker at start instead of refusing every client.
func (s *Supervisor) checkAccessFiles() error {
	if s.cfg.PasswordFile == "" && s.cfg.ACLFile == "" {
		return nil
	}
	a, err := auth.Load(auth.Config{PasswordFile: s.cfg.PasswordFile, ACLFile: s.cfg.ACLFile, AllowAnonymous: s.cfg.AllowAnon})
	if err != nil {
		return fmt.Errorf("access files: %w", err)
	}
	_ = a
	return nil
}

// reload passes SIGHUP on to every router, which re-reads the password and
// ACL files; connections stay up.
func (s *Supervisor) reload() {
	n := 0
	for _, c := range s.clients {
		if c.router != nil && !c.router.exited {
			_ = c.router.cmd.Process.Signal(syscall.SIGHUP)
			n++
		}
	}
	s.log.Info().Int("routers", n).Msg("SIGHUP: routers re-read the access files")
}

// acceptLoop feeds accepted connections to the main loop.
func (s *Supervisor) acceptLoop() {
	admission.AcceptLoop(s.ln, s.log, func(conn net.Conn) { s.accepted <- conn })
	close(s.accepted)
}

// shutdown stops accepting, stops every worker (SIGTERM, then SIGKILL after
// the grace period), cleans up after each client and then sweeps the state.
func (s *Supervisor) shutdown() error {
	s.log.Info().Int("clients", len(s.clients)).Msg("shutting down")
	s.ln.Close()
	s.stopSys()
	go func() { // refuse whatever the accept loop still hands over
		for conn := range s.accepted {
			conn.Close()
		}
	}()
	for _, c := range s.clients {
		s.stopWorker(c.router)
		s.stopWorker(c.deliverer)
	}
	// Workers get the grace period to exit (then SIGKILL, see stopWorker);
	// cleanups and wills get time in proportion to the clients.
	wait := s.cfg.StopGrace + 3*time.Second + time.Duration(len(s.clients))*20*time.Millisecond
	if !s.drain(wait) {
		s.log.Error().Int("clients", len(s.clients)).Msg("shutdown: clients not cleaned up in time; killing their workers")
		for _, c := range s.clients {
			for _, w := range []*workerProc{c.router, c.deliverer, c.will} {
				if w != nil && !w.exited {
					_ = w.cmd.Process.Signal(syscall.SIGKILL)
				}
			}
		}
		s.drain(5 * time.Second)
	}
	left := len(s.clients)
	s.lifelineW.Close() // any worker still alive exits now
	s.lifelineR.Close()
	// The sweep works from the records on disk, so it removes the queues
	// and files of clients not cleaned up above too.
	err := s.sweep(true)
	s.closeBoard()
	s.state.close()
	if left > 0 {
		err = errors.Join(err, fmt.Errorf("shutdown: %d clients' workers did not exit in time (their state was swept)", left))
	}
	s.log.Info().Msg("stopped")
	return err
}

// drain handles worker exits and finished cleanups until no client is left
// or the wait is over; it reports whether none is left.
func (s *Supervisor) drain(wait time.Duration) bool {
	deadline := time.After(wait)
	for len(s.clients) > 0 {
		select {
		case e := <-s.exits:
			s.workerExited(e)
		case c := <-s.cleaned:
			s.cleanedUp(c)
		case <-deadline:
			return false
		}
	}
	return true
}

// workerExit is a reaped worker, as reported by its wait goroutine.
type workerExit struct {
	client *client
	role   spawn.Role
	state  *os.ProcessState
}

// startWorker execs one worker of a client with the socket, the lifeline and
// the queue as descriptors 3, 4 and 5 (see package spawn).
// startWorker starts a worker in a role with the descriptors files (fd 3
// onwards, as spawn declares them).
func (s *Supervisor) startWorker(c *client, role spawn.Role, files []*os.File, partner int) (*workerProc, error) {
	args := spawn.Args{
		Role:         role,
		Queue:        c.queue,
		Instance:     s.state.Instance,
		Remote:       c.remote,
		QueueMsgSize: int(s.attr.MsgSize),
		QueueMsgMax:  int(s.attr.MaxMsg),
		Partner:      partner,
		Slot:         s.allocSlot(role, c.queue, c.remote),
		Options:      s.cfg,
	}
	args.StateDir = s.state.Root
	cmd := &exec.Cmd{
		Path:       s.cfg.WorkerPath,
		Args:       args.Argv(),
		Env:        s.workerEnv,
		Stderr:     os.Stderr,
		ExtraFiles: files,
	}
	if err := cmd.Start(); err != nil {
		s.releaseSlot(args.Slot)
		return nil, spawnLimit(err)
	}
	w := &workerProc{role: role, cmd: cmd, pid: cmd.Process.Pid, slot: args.Slot}
	go func() {
		_ = cmd.Wait()
		s.exits <- workerExit{client: c, role: role, state: cmd.ProcessState}
	}()
	return w, nil
}

// stopWorker asks a worker to exit and kills it if it has not after the
// grace period.
func (s *Supervisor) stopWorker(w *workerProc) {
	if w == nil || w.exited || w.stopSent {
		return
	}
	w.stopSent = true
	_ = w.cmd.Process.Signal(syscall.SIGTERM)
	s.killLater(w)
}

// killLater sends SIGKILL after the grace period unless the worker is gone.
func (s *Supervisor) killLater(w *workerProc) {
	p := w.cmd.Process
	time.AfterFunc(s.cfg.StopGrace, func() {
		// Signal on a reaped process is refused (Go holds a pidfd), so
		// this cannot hit a recycled pid.
		_ = p.Signal(syscall.SIGKILL)
	})
}

// workerExited records a reaped worker, stops its partner and cleans up once
// both are gone.
func (s *Supervisor) workerExited(e workerExit) {
	c := e.client
	w := c.worker(e.role)
	w.exited = true
	s.releaseSlot(w.slot)
	code := spawn.ExitCode(e.state.ExitCode())
	if e.role == spawn.RoleWill {
		if code != spawn.ExitOrderly {
			s.log.Error().Str("queue", c.queue).Int("pid", w.pid).Str("exit", exitReason(e.role, e.state)).Msg("will worker failed")
		}
		s.finish(c)
		return
	}
	if ws, ok := e.state.Sys().(syscall.WaitStatus); ok && ws.Signaled() && !w.stopSent {
		s.log.Error().Str("queue", c.queue).Str("role", string(e.role)).Int("pid", w.pid).
			Str("signal", ws.Signal().String()).Msg("worker killed by a signal")
	} else if code == spawn.ExitFailure || code == spawn.ExitUsage {
		s.log.Error().Str("queue", c.queue).Str("role", string(e.role)).Int("pid", w.pid).
			Str("exit", code.String()).Msg("worker failed")
	}
	// The first exit usually tells why the connection ended, but a telling
	// exit (a slow consumer, a protocol error, a signal) beats a generic one
	// (the socket closed, stopped by us), whichever worker was reaped first;
	// the deliverer's orderly exit after a close request says nothing new.
	if !(e.role == spawn.RoleDeliverer && code == spawn.ExitOrderly) && (c.reason == "" || c.genericReason && !genericExit(e.state)) {
		c.reason = exitReason(e.role, e.state)
		c.genericReason = genericExit(e.state)
	}
	partner := c.worker(other(e.role))
	if partner != nil && !partner.exited && !partner.stopSent {
		if code == spawn.ExitOrderly {
			// An orderly end: the router asked the deliverer to flush and
			// close, and the partner is finishing its part; let it.
			partner.stopSent = true
			s.killLater(partner)
		} else {
			s.stopWorker(partner)
		}
	}
	if c.done() && c.will == nil {
		s.cleanup(c)
	}
}

func exitReason(role spawn.Role, st *os.ProcessState) string {
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return string(role) + " killed by " + ws.Signal().String()
	}
	return string(role) + ": " + spawn.ExitCode(st.ExitCode()).String()
}

// genericExit reports an exit that says little about why the connection
// ended: the socket closed under the worker, or the supervisor stopped it.
func genericExit(st *os.ProcessState) bool {
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return false
	}
	c := spawn.ExitCode(st.ExitCode())
	return c == spawn.ExitSocketClosed || c == spawn.ExitStopped
}

func other(r spawn.Role) spawn.Role {
	if r == spawn.RoleRouter {
		return spawn.RoleDeliverer
	}
	return spawn.RoleRouter
}

func pidOf(w *workerProc) int {
	if w == nil {
		return 0
	}
	return w.pid
}
