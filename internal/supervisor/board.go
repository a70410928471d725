package supervisor

import (
	"os"
	"path/filepath"

	"github.com/forkmq/forkmq/internal/scoreboard"
	"github.com/forkmq/forkmq/internal/spawn"
)

// openBoard creates the scoreboard in the state directory (replacing a
// predecessor's) with a slot for every process the broker may run at once:
// the supervisor, a pair per client, a will per client, the $SYS
// publisher, and a few to spare for pairs still being reaped. The
// supervisor alone allocates slots; each worker counts into its own.
func (s *Supervisor) openBoard() error {
	if scoreboard.Off() {
		s.log.Warn().Str(scoreboard.EnvSwitch, "off").Msg("counting is off: no scoreboard, no $SYS, nothing for the admin listener")
		return nil
	}
	b, err := scoreboard.Create(filepath.Join(s.state.Root, scoreboard.FileName), 3*s.cfg.MaxClients+16)
	if err != nil {
		return err
	}
	s.board = b
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

// slotRoles are the scoreboard roles of the workers' roles.
var slotRoles = map[spawn.Role]scoreboard.Role{
	spawn.RoleRouter:    scoreboard.RoleRouter,
	spawn.RoleDeliverer: scoreboard.RoleDeliverer,
	spawn.RoleWill:      scoreboard.RoleWill,
	spawn.RoleSys:       scoreboard.RoleSys,
}

// allocSlot gives a worker about to start a slot, returned as the spawn
// argument that names it; "" when the board is full (the worker then
// counts nothing, which is logged: the broker serves all the same).
func (s *Supervisor) allocSlot(role spawn.Role, queue, remote string) string {
	if s.board == nil {
		return "" // counting is off
	}
	ref, err := s.board.Allocate(scoreboard.Identity{Role: slotRoles[role], Queue: queue, Remote: remote})
	if err != nil {
		s.log.Warn().Err(err).Str("role", string(role)).Str("queue", queue).Msg("no scoreboard slot: the worker counts nothing")
		return ""
	}
	return ref.String()
}

// releaseSlot frees the slot of a worker that has exited (or never
// started). Its counters stay in the board's totals.
func (s *Supervisor) releaseSlot(slot string) {
	if slot == "" {
		return
	}
	ref, err := scoreboard.ParseRef(slot)
	if err == nil {
		err = s.board.Release(ref)
	}
	if err != nil {
		s.log.Warn().Err(err).Str("slot", slot).Msg("scoreboard slot not released")
	}
}
