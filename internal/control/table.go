package control

// Rule allows one message type for workers of some roles in some states and
// says what follows. The state is the worker's, as the end holding the Track
// sees it when the message is sent or received.
type Rule struct {
	Type    Type
	Roles   Set[Role]
	States  Set[State]
	Next    State // the state after the message; 0: unchanged
	Becomes Role  // the role after the message; 0: unchanged (after Hand: the role it names)
	Late    bool  // only a crossing brings it here: accepted on receipt, the state kept, ignored; never sent
}

// Set is a set of roles or of states, one bit each.
type Set[E ~uint8] uint16

// SetOf returns the set of the given roles or states.
func SetOf[E ~uint8](es ...E) Set[E] {
	var s Set[E]
	for _, e := range es {
		s |= 1 << e
	}
	return s
}

// Has reports whether e is in s.
func (s Set[E]) Has(e E) bool { return e < 16 && s&(1<<e) != 0 }

var (
	anyRole    = SetOf(RolePool, RoleRouter, RoleDeliverer, RoleWill, RoleSys)
	clientRole = SetOf(RoleRouter, RoleDeliverer, RoleWill) // roles that serve one client
	router     = SetOf(RoleRouter)
	alive      = SetOf(StateStarting, StateIdle, StateAssigned, StateClaiming, StateConnected,
		StateClosing, StateStopping, StateCleaned)
	// A router's announcements count until it has cleaned up: one sent
	// before a Takeover or Stop arrived is still acted on (a will announced
	// just before a takeover is published).
	announcing = SetOf(StateConnected, StateClosing, StateStopping)
)

// rules is the table: every message any end may send, in the state it may
// send it. Anything else is out of state.
var rules = []Rule{
	// A worker starts, and waits for work.
	{Type: TypeReady, Roles: SetOf(RolePool), States: SetOf(StateStarting), Next: StateIdle},

	// The supervisor gives an idle pool worker work.
	{Type: TypeHand, Roles: SetOf(RolePool), States: SetOf(StateIdle), Next: StateAssigned},
	{Type: TypePublishWill, Roles: SetOf(RolePool), States: SetOf(StateIdle), Next: StateAssigned, Becomes: RoleWill},
	{Type: TypePublishSys, Roles: SetOf(RolePool), States: SetOf(StateIdle), Next: StateAssigned, Becomes: RoleSys},

	// A router claims its client's identifier; the supervisor decides.
	{Type: TypeClaim, Roles: router, States: SetOf(StateAssigned), Next: StateClaiming},
	{Type: TypeGrant, Roles: router, States: SetOf(StateClaiming), Next: StateConnected},
	{Type: TypeRefuse, Roles: router, States: SetOf(StateClaiming), Next: StateClosing},

	// A connected router announces; the supervisor may take its id over.
	{Type: TypeWill, Roles: router, States: announcing},
	{Type: TypeWillCleared, Roles: router, States: announcing},
	{Type: TypeAdopt, Roles: router, States: announcing},
	{Type: TypeTakeover, Roles: router, States: SetOf(StateConnected), Next: StateClosing},

	// A client ends: clean up, then back to the pool (unless stopping).
	{Type: TypeCleanupDone, Roles: clientRole, States: SetOf(StateAssigned, StateConnected, StateClosing), Next: StateCleaned},
	{Type: TypeCleanupDone, Roles: clientRole, States: SetOf(StateStopping)},
	{Type: TypeIdle, Roles: clientRole, States: SetOf(StateCleaned), Next: StateIdle, Becomes: RolePool},
	// A deliverer says its router's end for it (see PartnerIdle), before its
	// own CleanupDone; the router's track is then checked for what it
	// stands for.
	{Type: TypePartnerIdle, Roles: SetOf(RoleDeliverer), States: SetOf(StateAssigned, StateStopping)},

	// Any live worker may be reloaded, stopped, or exit.
	{Type: TypeReload, Roles: anyRole, States: SetOf(StateIdle, StateAssigned, StateClaiming, StateConnected, StateCleaned)},
	{Type: TypeStop, Roles: anyRole, States: alive, Next: StateStopping},
	{Type: TypeExiting, Roles: anyRole, States: alive, Next: StateExited},

	// Crossings. The supervisor's Stop crosses what a worker said before it
	// arrived: a Ready, a Claim (never granted now), an Idle (the worker is
	// not handed anything more).
	{Type: TypeReady, Roles: SetOf(RolePool), States: SetOf(StateStopping), Late: true},
	{Type: TypeClaim, Roles: router, States: SetOf(StateStopping), Late: true},
	{Type: TypeIdle, Roles: clientRole, States: SetOf(StateStopping), Becomes: RolePool, Late: true},
	// A Takeover crosses the router's CleanupDone, and its Idle.
	{Type: TypeTakeover, Roles: router, States: SetOf(StateCleaned), Late: true},
	{Type: TypeTakeover, Roles: SetOf(RolePool), States: SetOf(StateIdle), Late: true},
}

// Lookup returns the rule that allows a message of type t for a worker of
// role r in state s.
func Lookup(r Role, s State, t Type) (Rule, bool) {
	for _, rule := range rules {
		if rule.Type == t && rule.Roles.Has(r) && rule.States.Has(s) {
			return rule, true
		}
	}
	return Rule{}, false
}

// Track is one end's view of a worker's role and state. Each end applies
// every message it sends (Send) and receives (Receive) to its Track.
type Track struct {
	End   Side // the end that holds this track
	Role  Role
	State State
}

// NewTrack returns the track of a worker just started in role r (RolePool),
// as held by end.
func NewTrack(end Side, r Role) Track {
	return Track{End: end, Role: r, State: StateStarting}
}

// Send checks that this end may send m now and applies it.
func (t *Track) Send(m Message) error {
	rule, err := t.check(m, t.End)
	if err == nil && rule.Late {
		err = t.refuse(m)
	}
	if err != nil {
		return err
	}
	t.apply(rule, m)
	return nil
}

// Receive checks that the other end may have sent m and applies it. A late
// message changes nothing and the caller ignores it; an error means the
// other end broke the protocol.
func (t *Track) Receive(m Message) (late bool, err error) {
	other := FromWorker
	if t.End == FromWorker {
		other = FromSupervisor
	}
	rule, err := t.check(m, other)
	if err != nil {
		return false, err
	}
	t.apply(rule, m)
	return rule.Late, nil
}

func (t *Track) check(m Message, from Side) (Rule, error) {
	if m.Type().From() != from {
		return Rule{}, t.refuse(m)
	}
	rule, ok := Lookup(t.Role, t.State, m.Type())
	if !ok {
		return Rule{}, t.refuse(m)
	}
	return rule, nil
}

func (t *Track) refuse(m Message) error {
	return &StateError{Role: t.Role, State: t.State, Type: m.Type()}
}

// apply moves the track. A late message keeps the state, but may still say
// the worker dropped its client's role (a late Idle), so that both ends agree
// on what the worker is.
func (t *Track) apply(rule Rule, m Message) {
	if rule.Next != 0 && !rule.Late {
		t.State = rule.Next
	}
	if h, ok := m.(*Hand); ok {
		t.Role = h.Role
	} else if rule.Becomes != 0 {
		t.Role = rule.Becomes
	}
}
