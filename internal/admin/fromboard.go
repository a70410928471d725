package admin

import (
	"github.com/forkmq/forkmq/internal/scoreboard"
)

// FromReading fills a snapshot's processes and counters from a scoreboard
// reading, for either engine's Source: slots of the supervisor role become
// the Supervisor; a router and a deliverer serving the same queue become a
// Client; every other slot (idle pool workers, wills, $SYS, bridges) is in
// Others. Process keys are the slots' references (INDEX:GEN), so a slot
// given to a new process starts its rates afresh. CPU and memory are the
// caller's to fill (from /proc, in the process engine).
func FromReading(s *Snapshot, r scoreboard.Reading) {
	s.Totals, s.Histograms = r.Total, r.Histograms
	s.Clients, s.Others = s.Clients[:0], s.Others[:0]
	pairs := make(map[string]int) // queue → index in s.Clients
	for _, sl := range r.Slots {
		p := Process{
			Key:      scoreboard.Ref{Index: sl.Index, Gen: sl.Gen}.String(),
			Role:     sl.Role.String(),
			PID:      sl.PID,
			State:    sl.State.String(),
			Counters: sl.Counters,
		}
		serving := sl.Queue != "" && sl.State != scoreboard.StateIdle
		switch {
		case sl.Role == scoreboard.RoleSupervisor:
			s.Supervisor = p
			continue
		case serving && (sl.Role == scoreboard.RoleRouter || sl.Role == scoreboard.RoleDeliverer):
		default:
			s.Others = append(s.Others, p)
			continue
		}
		i, ok := pairs[sl.Queue]
		if !ok {
			i = len(s.Clients)
			pairs[sl.Queue] = i
			s.Clients = append(s.Clients, Client{Queue: sl.Queue})
		}
		c := &s.Clients[i]
		// The router learns the client identifier at CONNECT; the
		// deliverer may be told too. Either will do.
		if c.ID == "" {
			c.ID = sl.ClientID
		}
		if c.Remote == "" {
			c.Remote = sl.Remote
		}
		if sl.Role == scoreboard.RoleRouter {
			c.Router = p
		} else {
			c.Deliverer = p
		}
	}
}
