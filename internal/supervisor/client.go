package supervisor

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/forkmq/forkmq/internal/admission"
	"github.com/forkmq/forkmq/internal/queue"
	"github.com/forkmq/forkmq/internal/spawn"
	"github.com/forkmq/forkmq/internal/state"
)

// client is one connection and its pair of workers.
type client struct {
	queue     string
	remote    string
	started   time.Time
	router    *workerProc
	deliverer *workerProc
	will      *workerProc // publishing the will, after both are gone
	reason    string      // why it ended (see workerExited)
	// genericReason: reason is only "socket closed" or "stopped", which a
	// later, more telling exit replaces.
	genericReason bool
}

// workerProc is one worker process as the supervisor tracks it.
type workerProc struct {
	role     spawn.Role
	cmd      *exec.Cmd
	pid      int
	exited   bool
	stopSent bool
	slot     string // its scoreboard slot (spawn.Args.Slot)
}

func (c *client) worker(r spawn.Role) *workerProc {
	switch r {
	case spawn.RoleRouter:
		return c.router
	case spawn.RoleWill:
		return c.will
	}
	return c.deliverer
}

// done reports whether every started worker has exited.
func (c *client) done() bool {
	return (c.router == nil || c.router.exited) && (c.deliverer == nil || c.deliverer.exited)
}

// spawnLimit names the limit behind a failed exec, when there is one.
func spawnLimit(err error) error {
	switch {
	case errors.Is(err, syscall.EAGAIN):
		return &admission.LimitError{Limit: "processes (RLIMIT_NPROC, kernel.pid_max or the cgroup's pids.max)",
			Fix: "raise `ulimit -u`, kernel.pid_max or pids.max, or lower -max-clients", Err: err}
	case errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE):
		return &admission.LimitError{Limit: "open files (RLIMIT_NOFILE or fs.file-max)",
			Fix: "raise `ulimit -n` or fs.file-max, or lower -max-clients", Err: err}
	case errors.Is(err, syscall.ENOMEM):
		return &admission.LimitError{Limit: "memory", Fix: "free memory or lower -max-clients", Err: err}
	}
	return fmt.Errorf("start worker: %w", err)
}

// admit sets up a new client: record, queue, spool folder, then the two
// workers. Any failure undoes what was done and refuses the client with
// CONNACK 3, so no half-set-up client is ever left behind.
func (s *Supervisor) admit(conn net.Conn) {
	remote := conn.RemoteAddr().String()
	if err := s.gate.Admit(time.Now(), len(s.clients)); err != nil {
		s.refuser.Refuse(conn, err)
		return
	}
	s.seq++
	c := &client{queue: s.state.ConnQueue(strconv.FormatUint(s.seq, 10)), remote: remote, started: time.Now()}
	if err := s.startClient(c, conn); err != nil {
		s.undo(c)
		s.refuser.Refuse(conn, err)
		return
	}
	conn.Close() // the workers hold the socket now
	s.clients[c.queue] = c
	s.log.Debug().Str("queue", c.queue).Str("remote", remote).Int("router_pid", pidOf(c.router)).
		Int("deliverer_pid", pidOf(c.deliverer)).Msg("workers started")
}

func (s *Supervisor) startClient(c *client, conn net.Conn) error {
	if err := s.state.addClient(c.queue, c.remote); err != nil {
		return err
	}
	q, err := queue.Create(c.queue, s.attr)
	if err != nil {
		var le *queue.LimitError
		if errors.As(err, &le) {
			return &admission.LimitError{Limit: le.Limit, Fix: le.Fix, Err: err}
		}
		return fmt.Errorf("create queue: %w", err)
	}
	defer q.Close() // the workers inherit their own descriptors
	if err := s.spool.AddQueue(c.queue); err != nil {
		return err
	}
	tcp, ok := conn.(*net.TCPConn)
	if !ok {
		return fmt.Errorf("connection is %T, not TCP", conn)
	}
	sock, err := tcp.File() // a blocking duplicate for the children
	if err != nil {
		return spawnLimit(err)
	}
	defer sock.Close()
	// The pair channel: a socket pair, one end for each worker.
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return spawnLimit(os.NewSyscallError("socketpair", err))
	}
	delivererEnd, routerEnd := os.NewFile(uintptr(fds[0]), "pair"), os.NewFile(uintptr(fds[1]), "pair")
	defer delivererEnd.Close()
	defer routerEnd.Close()
	if c.deliverer, err = s.startWorker(c, spawn.RoleDeliverer, []*os.File{sock, s.lifelineR, q.File(), delivererEnd}, 0); err != nil {
		return err
	}
	if c.router, err = s.startWorker(c, spawn.RoleRouter, []*os.File{sock, s.lifelineR, q.File(), routerEnd}, c.deliverer.pid); err != nil {
		return err
	}
	return nil
}

// undo removes a client whose set-up failed half-way. A worker that did
// start is killed; its wait goroutine reports the exit, and cleanup runs then.
func (s *Supervisor) undo(c *client) {
	if c.deliverer != nil {
		s.clients[c.queue] = c
		s.stopWorker(c.deliverer)
		return
	}
	s.removeConnState(c.queue)
	s.state.removeClient(c.queue)
}

// cleanup removes what a gone connection leaves: topic entries first (so no
// publisher routes to it any more), then the queue and spool. A persistent
// session the connection adopted keeps its subscriptions and mailbox. The
// file work runs off the main loop (it may wait on the disk), and the loop
// hears back through s.cleaned.
func (s *Supervisor) cleanup(c *client) {
	s.cleaning++
	go func() {
		s.cleaners <- struct{}{}
		s.removeConnState(c.queue)
		s.removeLeftovers(c)
		<-s.cleaners
		s.cleaned <- c
	}()
}

// cleanedUp continues after a connection's state is gone: if it left a will
// (it ended without DISCONNECT), a will worker publishes it before the
// records go [MQTT-3.1.2-8].
func (s *Supervisor) cleanedUp(c *client) {
	s.cleaning--
	if c.router != nil && fileExists(s.state.Will(c.queue)) {
		w, err := s.startWorker(c, spawn.RoleWill, []*os.File{nil, s.lifelineR}, 0)
		if err == nil {
			c.will = w
			return
		}
		s.log.Error().Err(err).Str("queue", c.queue).Msg("will not published: cannot start a will worker")
	}
	s.finish(c)
}

// finish removes the connection's records and logs its end.
func (s *Supervisor) finish(c *client) {
	delete(s.clients, c.queue)
	id := s.state.clientID(c.queue)
	s.state.removeClient(c.queue)
	if c.router == nil {
		return // refused during set-up; already logged
	}
	s.log.Info().
		Str("client_id", id).
		Str("remote", c.remote).
		Int("router_pid", pidOf(c.router)).
		Int("deliverer_pid", pidOf(c.deliverer)).
		Str("conn", c.queue).
		Str("queue", c.queue).
		Str("reason", cmp.Or(c.reason, "deliverer: orderly")).
		Bool("will_published", c.will != nil).
		Dur("connected_for", time.Since(c.started)).
		Msg("client disconnected")
}

// removeConnState removes a connection's topic entries, queue and spool.
func (s *Supervisor) removeConnState(name string) {
	if err := s.topics.RemoveQueue(name); err != nil {
		s.log.Error().Err(err).Str("queue", name).Msg("remove topic entries")
	}
	if err := queue.Unlink(name); err != nil && !errors.Is(err, queue.ErrNotExist) {
		s.log.Error().Err(err).Str("queue", name).Msg("unlink queue")
	}
	if err := s.spool.RemoveQueue(name); err != nil {
		s.log.Error().Err(err).Str("queue", name).Msg("remove spool")
	}
}

// removeLeftovers removes what a router may leave when it dies without
// tidying up: its claim on the client identifier, and spool files it was
// writing. It runs once both workers are reaped.
func (s *Supervisor) removeLeftovers(c *client) {
	if id := s.state.clientID(c.queue); id != "" {
		releaseIDLock(s.state.IDLock(state.HashClientID(id)), c.queue)
	}
	if c.router != nil {
		matches, _ := filepath.Glob(filepath.Join(s.spool.Dir(), "tmp", "*-"+strconv.Itoa(c.router.pid)+"-*"))
		for _, m := range matches {
			os.Remove(m)
		}
	}
}

// releaseIDLock removes a client-id lock file that still names conn,
// holding the lock while it does so that no other router owns it then.
func releaseIDLock(path, conn string) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return
	}
	defer f.Close()
	if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) != nil {
		return // a live router holds it
	}
	b, _ := os.ReadFile(path)
	if owner, _, _ := strings.Cut(string(b), " "); owner == conn {
		os.Remove(path)
	}
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
