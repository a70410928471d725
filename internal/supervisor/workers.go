package supervisor

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/forkmq/forkmq/internal/admission"
	"github.com/forkmq/forkmq/internal/control"
	"github.com/forkmq/forkmq/internal/spawn"
)

// worker is one worker process as the supervisor tracks it.
type worker struct {
	slot    int    // spawn.Args.Slot
	slotGen uint64 // spawn.Args.SlotGen: its scoreboard slot's generation (0: none)
	pid     int
	group   *group
	ctl     *control.Conn
	track   control.Track // the supervisor's view of its role and state
	client  *client       // the client it serves, or whose will it publishes
	served  uint32
	idle    time.Time // since when it waits in the pool
	started time.Time

	readied  bool        // said Ready
	stopSent bool        // told to Stop (or killed): its exit is expected
	killer   *time.Timer // SIGKILL once the grace period is over
	reaped   bool

	received   uint32               // messages it sent that the loop took (control.PartnerIdle.RouterSent)
	partnerEnd *control.PartnerIdle // its deliverer's word for its end, waiting for the messages it sent before
}

func (w *worker) String() string { return fmt.Sprintf("%s %d", w.track.Role, w.pid) }

// controlEvent is what a worker's control reader hands the loop: a
// message, or why no more will come.
type controlEvent struct {
	w   *worker
	m   control.Message
	err error

	said bool // m is what a PartnerIdle says for w (control.PartnerEnd), not a message w sent
}

// spawnLimit names the limit behind a failed start, when there is one.
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

// spawn starts a pool worker of group g with its control channel at
// spawn.FdControl. The supervisor reaps its workers itself (wait4 on
// SIGCHLD), so no goroutine, thread or pidfd is held per worker.
func (s *Supervisor) spawn(g *group) (*worker, error) {
	mine, theirs, err := control.Pair()
	if err != nil {
		return nil, spawnLimit(err)
	}
	defer theirs.Close()
	slot, slotGen, err := s.slots.take()
	if err != nil {
		s.log.Warn().Err(err).Msg("no scoreboard slot: workers started now count nothing")
	}
	args := spawn.Args{
		Slot:         slot,
		SlotGen:      slotGen,
		Instance:     s.state.Instance,
		QueueMsgSize: int(s.attr.MsgSize),
		QueueMsgMax:  int(s.attr.MaxMsg),
		Generation:   s.gen,
		Options:      s.cfg,
	}
	args.StateDir = s.state.Root
	attr := &syscall.ProcAttr{
		Env:   s.workerEnv,
		Files: []uintptr{s.devNull.Fd(), s.devNull.Fd(), os.Stderr.Fd(), theirs.Fd()},
		Sys:   &syscall.SysProcAttr{Credential: g.credential()},
	}
	pid, err := syscall.ForkExec(s.cfg.WorkerPath, args.Argv(), attr)
	if err != nil {
		mine.Close()
		s.freeSlot(slot, slotGen)
		return nil, spawnLimit(err)
	}
	w := &worker{slot: slot, slotGen: slotGen, pid: pid, group: g, started: time.Now(),
		track: control.NewTrack(control.FromSupervisor, control.RolePool)}
	if w.ctl, err = s.inbox.Open(mine, w); err != nil { // cannot happen with a socket pair of ours
		_ = syscall.Kill(pid, syscall.SIGKILL)
		return nil, err
	}
	s.workers[pid] = w
	g.starting++
	return w, nil
}

// readControl hands the loop what every worker's control channel holds,
// a batch at a time (control.Inbox), until the loop is over: the messages
// a worker sends at once (a deliverer's end: CleanupDone, Idle and
// PartnerIdle) and those of several workers cost one wake-up of this
// goroutine and one of the loop, not one of each per message.
func (s *Supervisor) readControl() {
	for {
		got, err := s.inbox.Wait(nil)
		if len(got) > 0 {
			select {
			case s.received <- got:
			case <-s.quit:
				return
			}
		}
		if err != nil {
			return // the inbox is closed: the broker has stopped
		}
	}
}

// send sends a worker a message its state allows, without waiting long on
// a worker that reads nothing: one that fails to take it is killed.
func (s *Supervisor) send(w *worker, m control.Message) error {
	if err := w.track.Send(m); err != nil {
		return err
	}
	w.ctl.SetWriteDeadline(time.Now().Add(time.Second))
	if err := w.ctl.Send(m); err != nil {
		s.log.Error().Err(err).Int("pid", w.pid).Str("control_message", m.Type().String()).Msg("control channel: the worker takes no orders; killing it")
		s.kill(w)
		return err
	}
	return nil
}

// sendIfAllowed sends m if the worker's state allows it, and reports
// whether it did.
func (s *Supervisor) sendIfAllowed(w *worker, m control.Message) bool {
	if w.reaped {
		return false
	}
	probe := w.track
	if probe.Send(m) != nil {
		return false
	}
	return s.send(w, m) == nil
}

// controlEvent acts on one message from a worker, after the table of
// package control has allowed it.
func (s *Supervisor) controlEvent(ev controlEvent) {
	w := ev.w
	if ev.err != nil {
		if !w.reaped && !errors.Is(ev.err, io.EOF) {
			s.log.Error().Err(ev.err).Int("pid", w.pid).Str("role", w.track.Role.String()).
				Msg("control channel: unreadable message; ending the worker")
			s.kill(w)
		} else if !w.reaped && !w.stopSent {
			// It closed the channel without being asked to: it is going.
			s.killLater(w)
		}
		return
	}
	if w.reaped {
		closeFiles(ev.m)
		return
	}
	if !ev.said {
		w.received++
		defer s.partnerEndDue(w)
	}
	late, err := w.track.Receive(ev.m)
	if err != nil {
		s.log.Error().Err(err).Int("pid", w.pid).Str("control_message", ev.m.Type().String()).
			Str("role", w.track.Role.String()).Str("state", w.track.State.String()).
			Msg("control channel: message out of state; ending the worker")
		closeFiles(ev.m)
		s.kill(w)
		return
	}
	if late {
		closeFiles(ev.m) // it crossed what we said; see control.Rule.Late
		return
	}
	switch m := ev.m.(type) {
	case *control.Ready:
		s.ready(w, m)
	case *control.Claim:
		s.claim(w, m)
	case *control.Will:
		s.keepWill(w, m)
	case *control.WillCleared:
		s.keepWill(w, nil)
	case *control.Adopt:
		if c := w.client; c != nil {
			c.session = m.Session
		}
	case *control.CleanupDone:
		s.cleanupDone(w, m)
	case *control.Idle:
		s.backInPool(w, m)
	case *control.PartnerIdle:
		s.partnerIdle(w, m)
	case *control.Exiting:
		s.exiting(w, m)
	}
}

// partnerIdle acts on a deliverer's word for its router (control.PartnerIdle):
// what it stands for is applied to the router as if the router had sent it,
// through the same table check — a router whose state does not allow it
// is ended, like one that sent it out of state. A router that is gone, or
// has said its end itself, needs nothing more.
//
// The router's own messages come on its own channel, read apart from its
// deliverer's: what it sent before its close request (a WillCleared as its
// client said DISCONNECT) may not have been taken yet. Its end then waits
// until they have (partnerEndDue).
func (s *Supervisor) partnerIdle(d *worker, m *control.PartnerIdle) {
	c := d.client
	if c == nil || c.deliverer != d || c.routerDone {
		return
	}
	r := c.router
	if r.reaped || r.track.State == control.StateExited {
		return
	}
	r.partnerEnd = m
	s.partnerEndDue(r)
}

// partnerEndDue applies a router's end that its deliverer said for it
// (control.PartnerEnd) once the loop has taken every message the router
// sent before it.
func (s *Supervisor) partnerEndDue(r *worker) {
	m := r.partnerEnd
	if m == nil || r.received < m.RouterSent {
		return
	}
	r.partnerEnd = nil
	if r.reaped || r.track.State == control.StateExited {
		return
	}
	for _, m := range control.PartnerEnd(r.served + 1) {
		s.controlEvent(controlEvent{w: r, m: m, said: true})
	}
}

// closeFiles closes the descriptors a message brought.
func closeFiles(m control.Message) {
	if m, ok := m.(*control.Will); ok && m.File != nil {
		m.File.Close()
	}
}

// exiting notes a worker's last word; its reaping follows.
func (s *Supervisor) exiting(w *worker, m *control.Exiting) {
	if m.Code == spawn.ExitFailure || m.Code == spawn.ExitUsage {
		s.log.Error().Int("pid", w.pid).Str("exit", m.Code.String()).Str("detail", m.Detail).Msg("worker failed")
	}
	w.stopSent = true // its exit is expected now
	s.killLater(w)
}

// stop tells a worker to finish what it does and exit, and kills it if it
// has not after the grace period.
func (s *Supervisor) stop(w *worker, why control.StopReason) {
	if w.reaped || w.stopSent {
		return
	}
	w.stopSent = true
	if s.sendIfAllowed(w, &control.Stop{Reason: why}) {
		s.killLater(w)
		return
	}
	s.kill(w)
}

// killLater sends SIGKILL after the grace period unless the worker is
// reaped by then. A worker is never signalled after it is reaped, so the
// signal cannot reach a process that reused its pid.
func (s *Supervisor) killLater(w *worker) {
	if w.killer != nil || w.reaped {
		return
	}
	w.killer = s.later(s.cfg.StopGrace+time.Second, func() { s.kill(w) })
}

// kill ends a worker at once.
func (s *Supervisor) kill(w *worker) {
	if w.reaped {
		return
	}
	w.stopSent = true
	_ = syscall.Kill(w.pid, syscall.SIGKILL)
}

// reap collects every worker that has exited.
func (s *Supervisor) reap() {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if pid <= 0 || err != nil {
			return
		}
		if w := s.workers[pid]; w != nil {
			s.reaped(w, ws)
		} else if b := s.bridgePID[pid]; b != nil {
			s.bridgeReaped(b, ws)
		}
	}
}

// reaped forgets a worker that exited; the client it served, if any, has
// lost it.
func (s *Supervisor) reaped(w *worker, ws unix.WaitStatus) {
	w.reaped = true
	delete(s.workers, w.pid)
	w.ctl.Close()
	if w.killer != nil {
		w.killer.Stop()
	}
	if err := s.spool.RemoveTemp(w.slot); err != nil {
		s.log.Warn().Err(err).Int("pid", w.pid).Msg("remove a worker's temporary spool files")
	}
	s.freeSlot(w.slot, w.slotGen)
	wasIdle := s.pool.forget(w)
	switch {
	case ws.Signaled() && !w.stopSent:
		s.log.Error().Int("pid", w.pid).Str("role", w.track.Role.String()).Str("state", w.track.State.String()).
			Str("signal", ws.Signal().String()).Bool("idle", wasIdle).Msg("worker killed by a signal")
	case ws.Exited() && (spawn.ExitCode(ws.ExitStatus()) == spawn.ExitFailure || spawn.ExitCode(ws.ExitStatus()) == spawn.ExitUsage):
		s.log.Error().Int("pid", w.pid).Str("role", w.track.Role.String()).
			Str("exit", spawn.ExitCode(ws.ExitStatus()).String()).Msg("worker failed")
	default:
		s.log.Debug().Int("pid", w.pid).Str("role", w.track.Role.String()).Uint32("served", w.served).Msg("worker exited")
	}
	if c := w.client; c != nil {
		s.workerLost(c, w, deathReason(w, ws))
	}
	if w == s.sys.w {
		s.sysReaped(w, deathReason(w, ws))
	}
	s.poolChanged()
}

// deathReason says how a worker that served a client ended.
func deathReason(w *worker, ws unix.WaitStatus) string {
	if ws.Signaled() {
		return w.track.Role.String() + " killed by " + ws.Signal().String()
	}
	return w.track.Role.String() + ": " + spawn.ExitCode(ws.ExitStatus()).String()
}

// freeSlot gives back a gone worker's slot.
func (s *Supervisor) freeSlot(slot int, gen uint64) {
	if err := s.slots.free(slot, gen); err != nil {
		s.log.Warn().Err(err).Int("slot", slot).Msg("scoreboard slot not released")
	}
}
