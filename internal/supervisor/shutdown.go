package supervisor

import (
	"errors"
	"fmt"
	"time"

	"github.com/forkmq/forkmq/internal/control"
)

// shutdown stops accepting, tells every worker to stop (SIGKILL after the
// grace period), cleans up after each client — publishing the wills of
// those that had one, with workers started for it if need be — and then
// sweeps the state.
func (s *Supervisor) shutdown() error {
	s.log.Info().Int("clients", len(s.clients)).Int("workers", len(s.workers)).Msg("shutting down")
	s.stopping = true
	s.lns.Close()
	s.stopBridges()
	go func() { // refuse whatever the accept loop still hands over
		for conn := range s.accepted {
			conn.Close()
		}
	}()
	for _, p := range s.pending {
		p.timer.Stop()
		p.conn.Close()
	}
	s.pending = nil
	if s.pool.timer != nil {
		s.pool.timer.Stop()
	}
	for _, w := range s.workers {
		s.stop(w, control.StopShutdown)
	}
	for _, g := range s.pool.groups {
		g.idle = nil
	}
	// Workers get the grace period to exit (then SIGKILL, see stop);
	// cleanups and wills get time in proportion to the clients.
	wait := s.cfg.StopGrace + 3*time.Second + time.Duration(len(s.clients))*20*time.Millisecond
	if !s.drain(wait) {
		s.log.Error().Int("clients", len(s.clients)).Int("workers", len(s.workers)).
			Msg("shutdown: workers not gone in time; killing them")
		for _, w := range s.workers {
			s.kill(w)
		}
		s.drain(5 * time.Second)
	}
	left := len(s.clients)
	s.inbox.Close() // the control reader stops (the channels left close with their workers' ends)
	s.devNull.Close()
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

// drain runs the loop's work but accepting until no client, worker or
// cleanup is left, or the wait is over; it reports whether none is left.
func (s *Supervisor) drain(wait time.Duration) bool {
	deadline := time.After(wait)
	for len(s.clients) > 0 || len(s.workers) > 0 || s.cleaning > 0 {
		if s.step(nil, nil, nil, deadline) {
			return false
		}
	}
	return true
}
