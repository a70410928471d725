package supervisor

import (
	"errors"
	"os"
	"os/exec"
	"time"

	"github.com/forkmq/forkmq/internal/retain"
	"github.com/forkmq/forkmq/internal/spawn"
	"github.com/forkmq/forkmq/internal/systopics"
)

// sysWorker is the worker that publishes $SYS (role sys, worker/sys.go):
// started with the broker when -sys-interval is not 0, restarted if it
// dies, restarted with new options when a SIGHUP changes the interval,
// stopped with the broker. The supervisor starts it like any worker and
// reads nothing of what it publishes.
type sysWorker struct {
	w        *workerProc
	events   chan sysEvent
	stopping bool // the broker is shutting down: no restart
}

// sysEvent is the $SYS worker's exit (w set), or the time to restart it.
type sysEvent struct {
	w     *workerProc
	state *os.ProcessState
}

// sysRestartDelay is the wait before a $SYS worker that died is started
// again: a worker that fails at once does not spin.
const sysRestartDelay = time.Second

// startSys starts the $SYS worker, unless $SYS is off or the broker is
// stopping.
func (s *Supervisor) startSys() {
	if s.sys.events == nil {
		s.sys.events = make(chan sysEvent, 4)
	}
	if s.cfg.SysInterval <= 0 || s.sys.stopping || s.sys.w != nil || s.board == nil {
		return
	}
	args := spawn.Args{
		Role:         spawn.RoleSys,
		Queue:        s.state.QueuePrefix() + "sys", // no queue has this name: it reads none
		Instance:     s.state.Instance,
		QueueMsgSize: int(s.attr.MsgSize),
		QueueMsgMax:  int(s.attr.MaxMsg),
		Slot:         s.allocSlot(spawn.RoleSys, "", ""),
		Options:      s.cfg,
	}
	args.StateDir = s.state.Root
	cmd := &exec.Cmd{Path: s.cfg.WorkerPath, Args: args.Argv(), Env: s.workerEnv, Stderr: os.Stderr,
		ExtraFiles: []*os.File{nil, s.lifelineR}}
	if err := cmd.Start(); err != nil {
		s.releaseSlot(args.Slot)
		s.log.Error().Err(spawnLimit(err)).Msg("$SYS worker not started; trying again")
		s.restartSysLater()
		return
	}
	w := &workerProc{role: spawn.RoleSys, cmd: cmd, pid: cmd.Process.Pid, slot: args.Slot}
	s.sys.w = w
	go func() {
		_ = cmd.Wait()
		s.sys.events <- sysEvent{w: w, state: cmd.ProcessState}
	}()
}

// sysEvent handles the $SYS worker's exit, or the time to restart it.
func (s *Supervisor) sysEvent(ev sysEvent) {
	if ev.w == nil {
		s.startSys()
		return
	}
	s.releaseSlot(ev.w.slot)
	if s.sys.w == ev.w {
		s.sys.w = nil
	}
	switch {
	case s.sys.stopping:
	case ev.w.stopSent: // stopped to take new options (restartSys)
		s.startSys()
	default:
		s.log.Error().Int("pid", ev.w.pid).Str("exit", exitReason(spawn.RoleSys, ev.state)).Msg("$SYS worker ended; starting another")
		s.restartSysLater()
	}
}

func (s *Supervisor) restartSysLater() {
	time.AfterFunc(sysRestartDelay, func() {
		select {
		case s.sys.events <- sysEvent{}:
		default: // events are waiting to be handled; a restart will follow them
		}
	})
}

// restartSys replaces the $SYS worker with one that has the current
// options (a SIGHUP changed -sys-interval).
func (s *Supervisor) restartSys() {
	if s.sys.w != nil {
		s.stopWorker(s.sys.w) // its exit starts the next (sysEvent)
		return
	}
	s.startSys()
}

// forgetSys waits, at the end of the shutdown, for the $SYS worker stopped
// at its start (SIGTERM, then SIGKILL after the grace period, and the
// lifeline closed), then removes its retained messages: they describe
// this run, and a $SYS worker still writing would bring them back.
func (s *Supervisor) forgetSys() {
	if w := s.sys.w; w != nil {
		deadline := time.After(s.cfg.StopGrace + 2*time.Second)
	wait:
		for {
			select {
			case ev := <-s.sys.events:
				if ev.w == w {
					break wait
				}
			case <-deadline:
				s.log.Warn().Int("pid", w.pid).Msg("$SYS worker still running; its retained messages stay")
				return
			}
		}
	}
	store, err := retain.Open(s.state.Retained())
	if err == nil {
		err = errors.Join(systopics.Forget(store), store.Close())
	}
	if err != nil {
		s.log.Warn().Err(err).Msg("retained $SYS messages not removed")
	}
}

// stopSys stops the $SYS worker for good: the broker is shutting down.
func (s *Supervisor) stopSys() {
	s.sys.stopping = true
	s.stopWorker(s.sys.w)
}
