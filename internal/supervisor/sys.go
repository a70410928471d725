package supervisor

import (
	"errors"
	"time"

	"github.com/forkmq/forkmq/internal/control"
	"github.com/forkmq/forkmq/internal/retain"
	"github.com/forkmq/forkmq/internal/systopics"
)

// sysWorker is the worker that publishes $SYS (worker/sys.go): a worker
// started for it alone, outside the pool, made the $SYS publisher by
// control.PublishSys once it is Ready; started with the broker when
// -sys-interval is not 0 (or when a SIGHUP turns $SYS on), started again a
// second after it dies, stopped with the broker. A SIGHUP's new interval
// reaches it in control.Reload, like every worker's options. The
// supervisor reads nothing of what it publishes.
type sysWorker struct {
	w       *worker     // from its start to its reaping
	restart *time.Timer // a start due after one died
}

// sysRestartDelay is the wait before a $SYS worker that died is started
// again: a worker that fails at once does not spin.
const sysRestartDelay = time.Second

// startSys starts the $SYS worker, unless $SYS is off, one runs or is due,
// or the broker is stopping.
func (s *Supervisor) startSys() {
	if s.cfg.SysInterval <= 0 || s.stopping || s.sys.w != nil || s.sys.restart != nil || s.board == nil {
		return
	}
	w, err := s.spawn(s.pool.groups[0])
	if err != nil {
		s.log.Error().Err(err).Msg("$SYS worker not started; trying again")
		s.restartSysLater()
		return
	}
	s.sys.w = w
}

// publishSys makes the worker started for $SYS its publisher.
func (s *Supervisor) publishSys(w *worker) {
	if err := s.send(w, &control.PublishSys{}); err != nil {
		s.log.Error().Err(err).Int("pid", w.pid).Msg("$SYS worker took no orders")
	}
}

// sysReaped notes that the $SYS worker is gone, and starts another unless
// it was stopped.
func (s *Supervisor) sysReaped(w *worker, reason string) {
	s.sys.w = nil
	if s.stopping {
		return
	}
	if !w.stopSent {
		s.log.Error().Int("pid", w.pid).Str("exit", reason).Msg("$SYS worker ended; starting another")
	}
	s.restartSysLater()
}

func (s *Supervisor) restartSysLater() {
	if s.sys.restart != nil {
		return
	}
	s.sys.restart = s.later(sysRestartDelay, func() {
		s.sys.restart = nil
		s.startSys()
	})
}

// forgetSys removes, at the end of the shutdown (every worker is gone),
// the retained $SYS messages: they describe this run, as mosquitto's do
// not outlive it.
func (s *Supervisor) forgetSys() {
	if s.sys.restart != nil {
		s.sys.restart.Stop()
	}
	store, err := retain.Open(s.state.Retained())
	if err == nil {
		err = errors.Join(systopics.Forget(store), store.Close())
	}
	if err != nil {
		s.log.Warn().Err(err).Msg("retained $SYS messages not removed")
	}
}
