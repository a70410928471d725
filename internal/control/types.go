package control

import "strconv"

// Type is the first byte of every message. This is the one list of message
// types: the table below says who sends each, how many descriptors it
// carries and how to make an empty one to decode into.
type Type byte

// Message types, in the order of a worker's life.
const (
	TypeReady       Type = 1 + iota // worker: started, options loaded; may be handed a client
	TypeHand                        // supervisor: serve this client (socket, pair channel)
	TypePublishWill                 // supervisor: publish this will (a descriptor holding it)
	TypePublishSys                  // supervisor: publish $SYS from now on (the broker's one $SYS worker)
	TypeClaim                       // router: may I serve this client identifier?
	TypeGrant                       // supervisor: yes; any older owner has been stopped and cleaned up
	TypeRefuse                      // supervisor: no (why); refuse the client
	TypeWill                        // router: the client's will, in a descriptor, to publish if it ends abnormally
	TypeWillCleared                 // router: DISCONNECT arrived, the will is discarded [MQTT-3.1.2-10]
	TypeAdopt                       // router: the connection adopted this persistent session queue
	TypeTakeover                    // supervisor: a newer connection claimed your client id; end this one
	TypeCleanupDone                 // worker: per-client state, subscriptions and descriptors are gone
	TypeIdle                        // worker: back to the pool, ready for another client
	TypeReload                      // supervisor: options changed (SIGHUP); take these, re-read the access files
	TypeStop                        // supervisor: finish and exit (why)
	TypeExiting                     // worker: exiting now (exit code and detail)
	TypePartnerIdle                 // deliverer: my router ended in order and is back in the pool (its CleanupDone and Idle)
	typeEnd
)

// Side is the end of the channel that sends a message type.
type Side byte

// The two ends of a control channel.
const (
	FromWorker Side = 1 + iota
	FromSupervisor
)

func (s Side) String() string {
	if s == FromSupervisor {
		return "supervisor"
	}
	return "worker"
}

type typeInfo struct {
	name  string
	from  Side
	files int            // descriptors the message carries, in field order
	new   func() Message // an empty message to decode into
}

var types = [typeEnd]typeInfo{
	TypeReady:       {"Ready", FromWorker, 0, func() Message { return new(Ready) }},
	TypeHand:        {"Hand", FromSupervisor, 2, func() Message { return new(Hand) }},
	TypePublishWill: {"PublishWill", FromSupervisor, 1, func() Message { return new(PublishWill) }},
	TypePublishSys:  {"PublishSys", FromSupervisor, 0, func() Message { return new(PublishSys) }},
	TypeClaim:       {"Claim", FromWorker, 0, func() Message { return new(Claim) }},
	TypeGrant:       {"Grant", FromSupervisor, 0, func() Message { return new(Grant) }},
	TypeRefuse:      {"Refuse", FromSupervisor, 0, func() Message { return new(Refuse) }},
	TypeWill:        {"Will", FromWorker, 1, func() Message { return new(Will) }},
	TypeWillCleared: {"WillCleared", FromWorker, 0, func() Message { return new(WillCleared) }},
	TypeAdopt:       {"Adopt", FromWorker, 0, func() Message { return new(Adopt) }},
	TypeTakeover:    {"Takeover", FromSupervisor, 0, func() Message { return new(Takeover) }},
	TypeCleanupDone: {"CleanupDone", FromWorker, 0, func() Message { return new(CleanupDone) }},
	TypeIdle:        {"Idle", FromWorker, 0, func() Message { return new(Idle) }},
	TypeReload:      {"Reload", FromSupervisor, 0, func() Message { return new(Reload) }},
	TypeStop:        {"Stop", FromSupervisor, 0, func() Message { return new(Stop) }},
	TypeExiting:     {"Exiting", FromWorker, 0, func() Message { return new(Exiting) }},
	TypePartnerIdle: {"PartnerIdle", FromWorker, 0, func() Message { return new(PartnerIdle) }},
}

// known reports whether t is in the list.
func (t Type) known() bool { return t > 0 && t < typeEnd }

func (t Type) String() string {
	if t.known() {
		return types[t].name
	}
	return "type " + strconv.Itoa(int(t))
}

// From returns the end that sends messages of type t.
func (t Type) From() Side {
	if t.known() {
		return types[t].from
	}
	return 0
}

// Files returns how many descriptors a message of type t carries.
func (t Type) Files() int {
	if t.known() {
		return types[t].files
	}
	return 0
}

// Role is what a worker does. Every worker starts as RolePool; Hand and
// PublishWill give it a client's role, Idle gives it back; PublishSys makes
// it the $SYS publisher for the rest of its life.
type Role byte

// Worker roles.
const (
	RolePool      Role = 1 + iota // idle pool worker: no client
	RoleRouter                    // reads the client's packets, routes PUBLISH
	RoleDeliverer                 // drains the client's queue, only writer of its socket
	RoleWill                      // publishes one will, then returns to the pool
	RoleSys                       // the $SYS publisher (never back in the pool)
	roleEnd
)

var roleNames = [roleEnd]string{
	RolePool:      "pool",
	RoleRouter:    "router",
	RoleDeliverer: "deliverer",
	RoleWill:      "will",
	RoleSys:       "sys",
}

func (r Role) valid() bool    { return named(roleNames[:], r) }
func (r Role) String() string { return enumName(roleNames[:], r, "role") }

// State is where a worker is in its life, as both ends of its channel see it.
type State byte

// Worker states. See the package documentation for the diagram.
const (
	StateStarting  State = 1 + iota // started, not Ready yet
	StateIdle                       // in the pool, waiting for Hand or PublishWill
	StateAssigned                   // serving a client (a router: before CONNECT is granted)
	StateClaiming                   // a router waiting for Grant or Refuse
	StateConnected                  // a router whose client id is granted
	StateClosing                    // ending this client (taken over, refused), then back to the pool
	StateStopping                   // told to Stop: ending this client, then exiting
	StateCleaned                    // the client's state is gone; Idle or Exiting next
	StateExited                     // said Exiting (or reaped); nothing more is read
	stateEnd
)

var stateNames = [stateEnd]string{
	StateStarting:  "starting",
	StateIdle:      "idle",
	StateAssigned:  "assigned",
	StateClaiming:  "claiming",
	StateConnected: "connected",
	StateClosing:   "closing",
	StateStopping:  "stopping",
	StateCleaned:   "cleaned",
	StateExited:    "exited",
}

func (s State) valid() bool    { return named(stateNames[:], s) }
func (s State) String() string { return enumName(stateNames[:], s, "state") }

// StopReason says why the supervisor stops a worker.
type StopReason byte

// Stop reasons.
const (
	StopShutdown StopReason = 1 + iota // the broker is stopping
	StopPartner                        // the other worker of the pair ended
	StopTrim                           // the pool has more idle workers than it keeps
	StopRecycle                        // the worker served its most clients (MaxConnectionsPerChild)
	stopEnd
)

var stopNames = [stopEnd]string{
	StopShutdown: "shutdown",
	StopPartner:  "partner ended",
	StopTrim:     "pool trimmed",
	StopRecycle:  "recycled",
}

func (r StopReason) valid() bool    { return named(stopNames[:], r) }
func (r StopReason) String() string { return enumName(stopNames[:], r, "stop reason") }

// RefuseReason says why the supervisor refuses a claim; the router answers
// CONNACK 3 (server unavailable) for each.
type RefuseReason byte

// Refusal reasons.
const (
	RefuseBusy     RefuseReason = 1 + iota // another claim of the same id is being resolved
	RefuseTimeout                          // the old owner did not clean up in time
	RefuseShutdown                         // the broker is stopping
	refuseEnd
)

var refuseNames = [refuseEnd]string{
	RefuseBusy:     "claim pending",
	RefuseTimeout:  "old owner did not clean up in time",
	RefuseShutdown: "shutting down",
}

func (r RefuseReason) valid() bool    { return named(refuseNames[:], r) }
func (r RefuseReason) String() string { return enumName(refuseNames[:], r, "refuse reason") }

// named reports whether e has a name in names.
func named[E ~uint8](names []string, e E) bool { return int(e) < len(names) && names[e] != "" }

// enumName returns e's name, or its kind and number if it has none.
func enumName[E ~uint8](names []string, e E, kind string) string {
	if named(names, e) {
		return names[e]
	}
	return kind + " " + strconv.Itoa(int(e))
}
