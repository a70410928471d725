package supervisor

import (
	"os"
	"path/filepath"

	"github.com/forkmq/forkmq/internal/scoreboard"
)

// openBoard creates the scoreboard in the state directory (replacing a
// predecessor's) with a slot for every process the broker may run at once:
// the supervisor, a pair per client, a will per client, the pool's spares,
// the $SYS publisher, and a few to spare for workers still being reaped.
// The supervisor alone allocates slots (slots.take, when it starts a
// worker); each worker counts into its own for its whole life.
func (s *Supervisor) openBoard() error {
	if scoreboard.Off() {
		s.log.Warn().Str(scoreboard.EnvSwitch, "off").Msg("counting is off: no scoreboard, no $SYS, nothing for the admin listener")
		return nil
	}
	b, err := scoreboard.Create(filepath.Join(s.state.Root, scoreboard.FileName), 3*s.cfg.MaxClients+2*s.cfg.PoolMaxSpare+16)
	if err != nil {
		return err
	}
	s.board = b
	s.slots.board = b
	ref, err := b.Allocate(scoreboard.Identity{Role: scoreboard.RoleSupervisor, PID: os.Getpid()})
	if err != nil {
		return err
	}
	w, err := b.Writer(ref)
	w.SetState(scoreboard.StateConnected) // serving
	return err
}

// closeBoard removes the retained $SYS messages, unmaps the scoreboard
// and removes its file: the broker is done.
func (s *Supervisor) closeBoard() {
	if s.board == nil {
		return
	}
	s.forgetSys()
	s.board.Close()
	os.Remove(filepath.Join(s.state.Root, scoreboard.FileName))
}

// slots hands out worker slots (spawn.Args.Slot): numbers unique among
// live workers, reused once their worker is reaped. With a scoreboard a
// worker's slot is its scoreboard slot, for its whole life: the index,
// and the generation that proves it is this worker's (spawn.Args.SlotGen).
// A worker the board has no room for gets a number past the board's
// slots and counts nothing, which is logged: the broker serves all the
// same.
type slots struct {
	board  *scoreboard.Board // nil: counting is off
	unused []int             // freed numbers past the board, reused first
	next   int               // the lowest never used, past the board
	full   bool              // the board's lack of room was logged
}

// take gives a worker about to start its slot; gen is 0 when it is none
// of the board's. err says, the first time since the board last freed a
// slot, why the board had none.
func (sl *slots) take() (slot int, gen uint64, err error) {
	if sl.board != nil {
		ref, allocErr := sl.board.Allocate(scoreboard.Identity{Role: scoreboard.RolePool})
		if allocErr == nil {
			return ref.Index, ref.Gen, nil
		}
		if !sl.full {
			err = allocErr
		}
		sl.full = true
	}
	return sl.past(), 0, err
}

// past takes a number past the board's slots.
func (sl *slots) past() int {
	if n := len(sl.unused); n > 0 {
		s := sl.unused[n-1]
		sl.unused = sl.unused[:n-1]
		return s
	}
	base := 0
	if sl.board != nil {
		base = sl.board.Slots()
	}
	sl.next++
	return base + sl.next - 1
}

// free gives back the slot of a worker that has exited (or never
// started). A scoreboard slot keeps its counters in the board's totals.
func (sl *slots) free(slot int, gen uint64) error {
	if gen == 0 {
		sl.unused = append(sl.unused, slot)
		return nil
	}
	sl.full = false
	return sl.board.Release(scoreboard.Ref{Index: slot, Gen: gen})
}
