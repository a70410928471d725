package control

import (
	"errors"
	"testing"
)

// A step of a simulated channel: one end sends a message (it travels until
// the other end's receive step), or one end receives the oldest message in
// flight towards it.
type step struct {
	from  Side    // the end acting
	send  Message // nil: receive (or apply)
	apply Message // applied to this end's track, never sent (see quiet)
	late  bool    // a receive step: the message is expected to be late
}

func supSends(m Message) step  { return step{from: FromSupervisor, send: m} }
func wrkSends(m Message) step  { return step{from: FromWorker, send: m} }
func supReceives() step        { return step{from: FromSupervisor} }
func wrkReceives() step        { return step{from: FromWorker} }
func supReceivesLate() step    { return step{from: FromSupervisor, late: true} }
func wrkReceivesLate() step    { return step{from: FromWorker, late: true} }
func both(m Message) []step    { return []step{sendBy(m), receiveBy(m)} }
func sendBy(m Message) step    { return step{from: m.Type().From(), send: m} }
func receiveBy(m Message) step { return step{from: other(m.Type().From())} }
func other(s Side) Side {
	if s == FromWorker {
		return FromSupervisor
	}
	return FromWorker
}

// wrkApplies and supApplies are one end applying to its track what the
// worker did not send on this channel (control.PartnerIdle): the worker as
// if it sent it, the supervisor as if it received it.
func wrkApplies(ms ...Message) []step {
	var out []step
	for _, m := range ms {
		out = append(out, step{from: FromWorker, apply: m})
	}
	return out
}

func supApplies(ms ...Message) []step {
	var out []step
	for _, m := range ms {
		out = append(out, step{from: FromSupervisor, apply: m})
	}
	return out
}

func supAppliesLate(m Message) step { return step{from: FromSupervisor, apply: m, late: true} }

// quiet is messages both ends apply without sending them.
func quiet(ms ...Message) []step {
	var out []step
	for _, m := range ms {
		out = append(out, wrkApplies(m)...)
		out = append(out, supApplies(m)...)
	}
	return out
}

// steps flattens steps and pairs of steps.
func steps(parts ...any) []step {
	var out []step
	for _, p := range parts {
		switch p := p.(type) {
		case step:
			out = append(out, p)
		case []step:
			out = append(out, p...)
		case Message:
			out = append(out, both(p)...)
		}
	}
	return out
}

// lifecycles are whole lives of a worker, crossings included. Both ends'
// tracks must accept every step and agree at the end.
var lifecycles = []struct {
	name  string
	role  Role
	steps []step
	role2 Role  // the role both ends see at the end
	end   State // the state both ends see at the end
}{
	{"router serves a client and returns to the pool", RolePool, steps(
		&Ready{}, &Hand{Role: RoleRouter}, &Claim{ClientID: "c"}, &Grant{ClientID: "c"},
		&Will{}, &Adopt{Session: "s"}, &Reload{Generation: 2}, &WillCleared{}, &CleanupDone{}, &Idle{Served: 1},
	), RolePool, StateIdle},
	{"deliverer serves two clients, then is recycled", RolePool, steps(
		&Ready{}, &Hand{Role: RoleDeliverer}, &CleanupDone{}, &Idle{Served: 1},
		&Hand{Role: RoleDeliverer}, &CleanupDone{}, &Stop{Reason: StopRecycle}, &Exiting{},
	), RoleDeliverer, StateExited},
	{"refused claim", RolePool, steps(
		&Ready{}, &Hand{Role: RoleRouter}, &Claim{ClientID: "c"}, &Refuse{ClientID: "c", Reason: RefuseBusy},
		&CleanupDone{}, &Idle{},
	), RolePool, StateIdle},
	{"taken over: the will announced just before counts", RolePool, steps(
		&Ready{}, &Hand{Role: RoleRouter}, &Claim{ClientID: "c"}, &Grant{ClientID: "c"},
		supSends(&Takeover{}), wrkSends(&Will{}), supReceives(), wrkReceives(),
		&CleanupDone{}, &Idle{},
	), RolePool, StateIdle},
	{"takeover crosses cleanup and idle", RolePool, steps(
		&Ready{}, &Hand{Role: RoleRouter}, &Claim{ClientID: "c"}, &Grant{ClientID: "c"},
		supSends(&Takeover{}), wrkSends(&CleanupDone{}), wrkSends(&Idle{}),
		supReceives(), supReceives(), wrkReceivesLate(),
	), RolePool, StateIdle},
	{"stop crosses a claim", RolePool, steps(
		&Ready{}, &Hand{Role: RoleRouter},
		supSends(&Stop{Reason: StopShutdown}), wrkSends(&Claim{ClientID: "c"}),
		supReceivesLate(), wrkReceives(), &CleanupDone{}, &Exiting{},
	), RoleRouter, StateExited},
	{"stop crosses ready", RolePool, steps(
		supSends(&Stop{Reason: StopTrim}), wrkSends(&Ready{}), supReceivesLate(), wrkReceives(), &Exiting{},
	), RolePool, StateExited},
	{"stop crosses idle", RolePool, steps(
		&Ready{}, &Hand{Role: RoleDeliverer}, &CleanupDone{},
		supSends(&Stop{Reason: StopShutdown}), wrkSends(&Idle{}), supReceivesLate(), wrkReceives(), &Exiting{},
	), RolePool, StateExited},
	{"reload crosses cleanup", RolePool, steps(
		&Ready{}, &Hand{Role: RoleDeliverer},
		supSends(&Reload{}), wrkSends(&CleanupDone{}), wrkSends(&Idle{}), wrkReceives(), supReceives(), supReceives(),
	), RolePool, StateIdle},
	// The router's end said by its deliverer (PartnerIdle): the router
	// applies PartnerEnd to its track without sending it, the supervisor
	// on the deliverer's word; both views of the router end the same.
	{"router ended by its deliverer's word", RolePool, steps(
		&Ready{}, &Hand{Role: RoleRouter}, &Claim{ClientID: "c"}, &Grant{ClientID: "c"},
		quiet(PartnerEnd(1)...), &Hand{Role: RoleRouter},
	), RoleRouter, StateAssigned},
	{"refused router ended by its deliverer's word", RolePool, steps(
		&Ready{}, &Hand{Role: RoleRouter}, &Claim{ClientID: "c"}, &Refuse{ClientID: "c", Reason: RefuseBusy},
		quiet(PartnerEnd(1)...),
	), RolePool, StateIdle},
	{"takeover crosses the router's end said by its deliverer", RolePool, steps(
		&Ready{}, &Hand{Role: RoleRouter}, &Claim{ClientID: "c"}, &Grant{ClientID: "c"},
		supSends(&Takeover{}), quiet(PartnerEnd(1)...), wrkReceivesLate(),
	), RolePool, StateIdle},
	{"stop crosses the router's end said by its deliverer", RolePool, steps(
		&Ready{}, &Hand{Role: RoleRouter}, &Claim{ClientID: "c"}, &Grant{ClientID: "c"},
		supSends(&Stop{Reason: StopShutdown}), wrkApplies(PartnerEnd(1)...), wrkReceives(),
		supApplies(&CleanupDone{}), supAppliesLate(&Idle{}), &Exiting{},
	), RolePool, StateExited},
	{"deliverer says its router's end, then its own", RolePool, steps(
		&Ready{}, &Hand{Role: RoleDeliverer}, &PartnerIdle{}, &CleanupDone{}, &Idle{Served: 1},
	), RolePool, StateIdle},
	{"stopped deliverer says its router's end, then exits", RolePool, steps(
		&Ready{}, &Hand{Role: RoleDeliverer}, &Stop{Reason: StopShutdown}, &PartnerIdle{}, &CleanupDone{}, &Exiting{},
	), RoleDeliverer, StateExited},
	{"will publisher", RolePool, steps(
		&Ready{}, &PublishWill{Conn: "q"}, &CleanupDone{}, &Idle{},
	), RolePool, StateIdle},
	{"$SYS publisher", RolePool, steps(
		&Ready{}, &PublishSys{}, &Reload{}, &Stop{Reason: StopShutdown}, &Exiting{},
	), RoleSys, StateExited},
	{"a worker may exit anywhere", RolePool, steps(
		&Ready{}, &Hand{Role: RoleRouter}, &Claim{ClientID: "c"}, &Exiting{},
	), RoleRouter, StateExited},
}

func TestLifecycles(t *testing.T) {
	for _, lc := range lifecycles {
		t.Run(lc.name, func(t *testing.T) {
			tracks := map[Side]*Track{
				FromSupervisor: ptr(NewTrack(FromSupervisor, lc.role)),
				FromWorker:     ptr(NewTrack(FromWorker, lc.role)),
			}
			inFlight := map[Side][]Message{} // towards that end
			for i, s := range lc.steps {
				tr := tracks[s.from]
				if s.apply != nil {
					var late bool
					var err error
					if s.from == FromWorker {
						err = tr.Send(s.apply)
					} else {
						late, err = tr.Receive(s.apply)
					}
					if err != nil || late != s.late {
						t.Fatalf("step %d: %s applies %s: late %v, %v; want late %v", i, s.from, s.apply.Type(), late, err, s.late)
					}
					continue
				}
				if s.send != nil {
					if err := tr.Send(s.send); err != nil {
						t.Fatalf("step %d: %s sends %s: %v", i, s.from, s.send.Type(), err)
					}
					to := other(s.from)
					inFlight[to] = append(inFlight[to], s.send)
					continue
				}
				if len(inFlight[s.from]) == 0 {
					t.Fatalf("step %d: nothing in flight to the %s", i, s.from)
				}
				m := inFlight[s.from][0]
				inFlight[s.from] = inFlight[s.from][1:]
				late, err := tr.Receive(m)
				if err != nil || late != s.late {
					t.Fatalf("step %d: %s receives %s: late %v, %v; want late %v", i, s.from, m.Type(), late, err, s.late)
				}
			}
			for side, tr := range tracks {
				if tr.Role != lc.role2 || tr.State != lc.end {
					t.Errorf("the %s ends with %s %s, want %s %s", side, tr.Role, tr.State, lc.role2, lc.end)
				}
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// TestOutOfState: messages the table does not allow are refused on receipt,
// naming the role, state and type, and change nothing.
func TestOutOfState(t *testing.T) {
	cases := []struct {
		name  string
		end   Side // the receiving end
		role  Role
		state State
		m     Message
	}{
		{"claim from an idle pool worker", FromSupervisor, RolePool, StateIdle, &Claim{ClientID: "c"}},
		{"claim before being ready", FromSupervisor, RolePool, StateStarting, &Claim{ClientID: "c"}},
		{"second claim", FromSupervisor, RoleRouter, StateClaiming, &Claim{ClientID: "c"}},
		{"claim from a connected router", FromSupervisor, RoleRouter, StateConnected, &Claim{ClientID: "c"}},
		{"claim from a deliverer", FromSupervisor, RoleDeliverer, StateAssigned, &Claim{ClientID: "c"}},
		{"will before the claim is granted", FromSupervisor, RoleRouter, StateAssigned, &Will{}},
		{"adopt from a deliverer", FromSupervisor, RoleDeliverer, StateAssigned, &Adopt{Session: "s"}},
		{"idle without cleanup", FromSupervisor, RoleRouter, StateConnected, &Idle{}},
		{"cleanup while claiming", FromSupervisor, RoleRouter, StateClaiming, &CleanupDone{}},
		{"ready twice", FromSupervisor, RolePool, StateIdle, &Ready{}},
		{"anything after exiting", FromSupervisor, RoleRouter, StateExited, &Exiting{}},
		{"a worker sends a supervisor's message", FromSupervisor, RoleRouter, StateConnected, &Grant{ClientID: "c"}},
		{"hand to a busy router", FromWorker, RoleRouter, StateConnected, &Hand{Role: RoleRouter}},
		{"hand before ready", FromWorker, RolePool, StateStarting, &Hand{Role: RoleRouter}},
		{"grant without a claim", FromWorker, RoleRouter, StateAssigned, &Grant{ClientID: "c"}},
		{"takeover of a deliverer", FromWorker, RoleDeliverer, StateAssigned, &Takeover{}},
		{"publish will to a router", FromWorker, RoleRouter, StateAssigned, &PublishWill{Conn: "q"}},
		{"the supervisor sends a worker's message", FromWorker, RoleRouter, StateConnected, &Claim{ClientID: "c"}},
		{"a router says its own end as its partner", FromSupervisor, RoleRouter, StateConnected, &PartnerIdle{}},
		{"partner's end from an idle deliverer", FromSupervisor, RolePool, StateIdle, &PartnerIdle{}},
		{"partner's end after the deliverer's own cleanup", FromSupervisor, RoleDeliverer, StateCleaned, &PartnerIdle{}},
		{"partner's end from a will publisher", FromSupervisor, RoleWill, StateAssigned, &PartnerIdle{}},
		// What a PartnerIdle stands for, checked against the router's track.
		{"a router's end said for it while it claims", FromSupervisor, RoleRouter, StateClaiming, PartnerEnd(1)[0]},
		{"a router's end said for it twice", FromSupervisor, RolePool, StateIdle, PartnerEnd(1)[1]},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tr := Track{End: c.end, Role: c.role, State: c.state}
			late, err := tr.Receive(c.m)
			var se *StateError
			if !errors.Is(err, ErrOutOfState) || !errors.As(err, &se) || late {
				t.Fatalf("Receive = late %v, %v; want ErrOutOfState", late, err)
			}
			if se.Role != c.role || se.State != c.state || se.Type != c.m.Type() {
				t.Errorf("error names %s %s %s", se.Role, se.State, se.Type)
			}
			if tr.Role != c.role || tr.State != c.state {
				t.Errorf("track moved to %s %s", tr.Role, tr.State)
			}
		})
	}
}

// TestNeverSendLate: an end never sends what its own view makes late.
func TestNeverSendLate(t *testing.T) {
	tr := Track{End: FromWorker, Role: RoleRouter, State: StateStopping}
	if err := tr.Send(&Claim{ClientID: "c"}); !errors.Is(err, ErrOutOfState) {
		t.Errorf("a stopping router sent a Claim: %v", err)
	}
	tr = Track{End: FromSupervisor, Role: RoleRouter, State: StateCleaned}
	if err := tr.Send(&Takeover{}); !errors.Is(err, ErrOutOfState) {
		t.Errorf("the supervisor sent Takeover to a cleaned router: %v", err)
	}
}

// TestTableIsSound checks the table as a whole: at most one rule per role,
// state and type; each rule names live states and valid roles; every type
// has a rule; and from every state a worker can reach, it can still reach
// Exited (no state is a trap).
func TestTableIsSound(t *testing.T) {
	for r := Role(1); r < roleEnd; r++ {
		for s := State(1); s < stateEnd; s++ {
			for ty := Type(1); ty < typeEnd; ty++ {
				n := 0
				for _, rule := range rules {
					if rule.Type == ty && rule.Roles.Has(r) && rule.States.Has(s) {
						n++
					}
				}
				if n > 1 {
					t.Errorf("%d rules for %s %s %s", n, r, s, ty)
				}
			}
		}
	}
	typed := map[Type]bool{}
	for _, rule := range rules {
		typed[rule.Type] = true
		if rule.States.Has(StateExited) {
			t.Errorf("a rule for %s allows it after Exited", rule.Type)
		}
		if rule.Late && rule.Next != 0 {
			t.Errorf("a late %s changes the state", rule.Type)
		}
	}
	for ty := Type(1); ty < typeEnd; ty++ {
		if !typed[ty] {
			t.Errorf("no rule allows %s", ty)
		}
	}

	type node struct {
		r Role
		s State
	}
	next := func(n node) []node {
		var out []node
		for _, rule := range rules {
			if rule.Late || !rule.Roles.Has(n.r) || !rule.States.Has(n.s) {
				continue
			}
			m := node{n.r, n.s}
			if rule.Next != 0 {
				m.s = rule.Next
			}
			if rule.Becomes != 0 {
				m.r = rule.Becomes
			}
			if rule.Type == TypeHand {
				out = append(out, node{RoleRouter, m.s}, node{RoleDeliverer, m.s})
				continue
			}
			out = append(out, m)
		}
		return out
	}
	reached := map[node]bool{}
	todo := []node{{RolePool, StateStarting}}
	for len(todo) > 0 {
		n := todo[0]
		todo = todo[1:]
		if reached[n] {
			continue
		}
		reached[n] = true
		todo = append(todo, next(n)...)
	}
	for n := range reached {
		if n.s == StateExited {
			continue
		}
		if _, ok := Lookup(n.r, n.s, TypeExiting); !ok {
			t.Errorf("a %s in %s cannot exit", n.r, n.s)
		}
	}
	for _, want := range []node{{RoleRouter, StateConnected}, {RoleWill, StateAssigned}, {RolePool, StateIdle}, {RoleRouter, StateClosing}} {
		if !reached[want] {
			t.Errorf("%s %s is never reached", want.r, want.s)
		}
	}
}
