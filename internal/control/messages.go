package control

import (
	"os"

	"github.com/forkmq/forkmq/internal/spawn"
)

// Message is one of the message types of this package. Each type describes
// its fields once, in walk, which both encodes and decodes it: the two
// directions cannot disagree, and no reflection is involved.
type Message interface {
	Type() Type
	walk(f *fields)
}

// Ready says a worker has started and loaded the options of Generation; it
// is then idle, in the pool (or about to be the $SYS publisher).
type Ready struct {
	Generation uint64
}

// Hand gives an idle pool worker a client, making it the client's router or
// deliverer. The receiver owns the two descriptors. The client's queue is
// not among them: the router creates it, under its own uid (so it is
// charged to that uid's RLIMIT_MSGQUEUE), once the client has claimed its
// identifier, and the deliverer opens it when the router says which queue
// to read (see package worker).
type Hand struct {
	Role   Role   // RoleRouter or RoleDeliverer
	Conn   string // the connection's name (its queue's)
	Remote string // the client's address, for logs and the process title
	// Identity is the user name the client's TLS certificate vouches for
	// on a listener with use_identity_as_username, "" otherwise.
	Identity   string
	Generation uint64 // the options generation to serve the client with
	Partner    uint32 // the other worker's pid, for logs
	Socket     *os.File
	Pair       *os.File // this worker's end of the pair channel
	// SocketFd and PairFd are Socket's and Pair's descriptors as a Conn
	// set to RawHands receives them, unwrapped (Socket and Pair are nil
	// then; -1 otherwise). The receiver owns them. Sending, they are sent
	// where Socket or Pair is nil: the supervisor keeps its copies as
	// plain descriptors (no os.NewFile, a raw close; see
	// supervisor.handOver). A Hand needs one or the other of each: a nil
	// file with a negative number is ErrMissingFile.
	SocketFd, PairFd int
}

// PublishWill makes an idle pool worker a will publisher for one will.
type PublishWill struct {
	Conn string   // the connection that left the will, for logs
	File *os.File // the will, as announced by that connection's router
}

// PublishSys makes an idle worker the broker's $SYS publisher until it is
// stopped: the supervisor starts one worker for it, outside the pool, and
// starts another if that one dies. The interval is the options' (Reload).
type PublishSys struct{}

// Claim asks for the right to serve a client identifier (after CONNECT).
type Claim struct {
	ClientID string
}

// Grant answers a Claim: serve the client. Any older connection with the same
// identifier has been stopped, cleaned up and its will published.
type Grant struct {
	ClientID string
	Replaced bool // an older connection was taken over
}

// Refuse answers a Claim: refuse the client.
type Refuse struct {
	ClientID string
	Reason   RefuseReason
}

// Will announces the client's will. The descriptor holds it (a sealed memfd,
// say), so the supervisor never parses it and it survives the router.
type Will struct {
	Topic string // for logs
	File  *os.File
}

// WillCleared announces that the client disconnected normally: the will must
// not be published [MQTT-3.1.2-10].
type WillCleared struct{}

// Adopt announces that the connection now serves a persistent session,
// whose queue is Session.
type Adopt struct {
	Session string
}

// Takeover tells a router that a newer connection claimed its client
// identifier [MQTT-3.1.4-2]: close this one, the will included.
type Takeover struct {
	By string // the newer connection's remote address, for logs
}

// CleanupDone says the worker has dropped everything of its client:
// subscriptions, queue and socket descriptors, identity, limits. End says
// why the client ended, as this worker saw it (the exit code it would have
// exited with, had it served one client only).
type CleanupDone struct {
	End spawn.ExitCode
}

// Idle says a worker is back in the pool.
type Idle struct {
	Served uint32 // clients served since it started
}

// PartnerIdle is a deliverer's word for its router: the router ended the
// client in order (its last word on the pair channel was the close request,
// envelope.AppendClosePooled), has dropped everything of it, and is back in the
// pool. It stands for the router's own CleanupDone and Idle (PartnerEnd),
// which the router then does not send: it applies them to its own track as
// it sends the close request, and the supervisor applies them to its track
// of the router when the deliverer says PartnerIdle, where the table checks
// them as if the router had sent them. The end of a client is then one
// message to the supervisor instead of one from each worker, and the
// supervisor wakes once for it. Only a router that has claimed its client's
// identifier ends this way: before the claim, its deliverer has not been
// handed the client.
//
// The router's own messages and its deliverer's reach the supervisor on
// two channels, read apart: a WillCleared the router sent as its client
// said DISCONNECT, before its close request, can be read after the
// deliverer's PartnerIdle. RouterSent is how many messages the router had
// sent in its life when it asked to close; the supervisor applies
// PartnerEnd once it has received that many from the router.
type PartnerIdle struct {
	RouterSent uint32
}

// PartnerEnd returns what a PartnerIdle stands for: the CleanupDone and
// Idle of a router that ended its client in order, having served served
// clients (that one included).
func PartnerEnd(served uint32) []Message {
	return []Message{&CleanupDone{End: spawn.ExitOrderly}, &Idle{Served: served}}
}

// Reload tells a worker that the options changed (SIGHUP): the ones that
// apply while the broker runs, which it takes, and it re-reads the access
// files. A worker started before it gets the same from the supervisor as
// soon as it is Ready.
type Reload struct {
	Generation   uint64
	PasswordFile string // the path of the password file ("": none)
	ACLFile      string // the path of the ACL file ("": none)
	AllowAnon    bool   // clients without a user name are let in
	SysInterval  uint64 // nanoseconds between $SYS refreshes (0: none)
}

// Stop tells a worker to finish its client, if any, and exit.
type Stop struct {
	Reason StopReason
}

// Exiting is a worker's last message.
type Exiting struct {
	Code   spawn.ExitCode
	Detail string
}

func (*Ready) Type() Type       { return TypeReady }
func (*Hand) Type() Type        { return TypeHand }
func (*PublishWill) Type() Type { return TypePublishWill }
func (*PublishSys) Type() Type  { return TypePublishSys }
func (*Claim) Type() Type       { return TypeClaim }
func (*Grant) Type() Type       { return TypeGrant }
func (*Refuse) Type() Type      { return TypeRefuse }
func (*Will) Type() Type        { return TypeWill }
func (*WillCleared) Type() Type { return TypeWillCleared }
func (*Adopt) Type() Type       { return TypeAdopt }
func (*Takeover) Type() Type    { return TypeTakeover }
func (*CleanupDone) Type() Type { return TypeCleanupDone }
func (*Idle) Type() Type        { return TypeIdle }
func (*Reload) Type() Type      { return TypeReload }
func (*Stop) Type() Type        { return TypeStop }
func (*Exiting) Type() Type     { return TypeExiting }
func (*PartnerIdle) Type() Type { return TypePartnerIdle }

func (m *Ready) walk(f *fields) { f.u64("generation", &m.Generation) }

func (m *Hand) walk(f *fields) {
	enum(f, "role", &m.Role, func(r Role) bool { return r == RoleRouter || r == RoleDeliverer })
	f.name("conn", &m.Conn)
	f.string("remote", &m.Remote)
	f.string("identity", &m.Identity)
	f.u64("generation", &m.Generation)
	f.u32("partner", &m.Partner)
	f.fileOrFd("socket", &m.Socket, &m.SocketFd)
	f.fileOrFd("pair", &m.Pair, &m.PairFd)
}

func (m *PublishWill) walk(f *fields) {
	f.name("conn", &m.Conn)
	f.file("will", &m.File)
}

func (*PublishSys) walk(*fields) {}

func (m *Claim) walk(f *fields) { f.name("client id", &m.ClientID) }

func (m *Grant) walk(f *fields) {
	f.name("client id", &m.ClientID)
	f.bool("replaced", &m.Replaced)
}

func (m *Refuse) walk(f *fields) {
	f.name("client id", &m.ClientID)
	enum(f, "reason", &m.Reason, RefuseReason.valid)
}

func (m *Will) walk(f *fields) {
	f.string("topic", &m.Topic)
	f.file("will", &m.File)
}

func (*WillCleared) walk(*fields) {}

func (m *PartnerIdle) walk(f *fields) { f.u32("router sent", &m.RouterSent) }

func (m *Adopt) walk(f *fields) { f.name("session", &m.Session) }

func (m *Takeover) walk(f *fields) { f.string("by", &m.By) }

func (m *CleanupDone) walk(f *fields) { f.exitCode("end", &m.End) }

func (m *Idle) walk(f *fields) { f.u32("served", &m.Served) }

func (m *Reload) walk(f *fields) {
	f.u64("generation", &m.Generation)
	f.string("password file", &m.PasswordFile)
	f.string("acl file", &m.ACLFile)
	f.bool("allow anonymous", &m.AllowAnon)
	f.u64("sys interval", &m.SysInterval)
}

func (m *Stop) walk(f *fields) { enum(f, "reason", &m.Reason, StopReason.valid) }

func (m *Exiting) walk(f *fields) {
	f.exitCode("code", &m.Code)
	f.string("detail", &m.Detail)
}
