// Package spawn is the contract between the supervisor and the worker
// processes it starts: which descriptors a worker inherits and at which
// numbers, which arguments it receives, and what its exit code means.
//
// Both sides import this file, so the two can never disagree. A worker is the
// same binary in one of two roles:
//
//	router     reads the client's packets, answers them and routes PUBLISH
//	deliverer  drains the client's queue and is the only writer to the socket
//	will       publishes a will left by a connection that ended abnormally
//
// A router or deliverer inherits four descriptors after stdin, stdout and
// stderr (a will worker only the lifeline):
//
//	fd 3  the client's TCP socket
//	fd 4  the read end of the lifeline pipe; EOF there means the supervisor died
//	fd 5  the client's POSIX message queue (opened read-write by the supervisor)
//	fd 6  the pair channel: one end of a SOCK_SEQPACKET socket pair whose
//	      other end the partner holds; the router sends its deliverer what
//	      is for its own client alone (replies, acknowledgements) there
package spawn

import (
	"flag"
	"fmt"
	"strconv"
	"time"
)

// Inherited descriptor numbers, as seen by the worker.
const (
	FdSocket   = 3
	FdLifeline = 4
	FdQueue    = 5
	FdPair     = 6
)

// Role is what a worker process does for its client.
type Role string

// The two roles of a client's worker pair.
const (
	RoleRouter    Role = "router"
	RoleDeliverer Role = "deliverer"
	RoleWill      Role = "will"
)

// Args is everything a worker is told on its command line. The supervisor
// builds it with Argv; the worker reads it back with Parse.
type Args struct {
	Role          Role
	StateDir      string        // the broker's state directory (absolute)
	Queue         string        // the client's queue name
	Instance      string        // the broker instance, the namespace of its queues
	Remote        string        // the client's remote address, for logs
	MaxPacketSize int           // largest accepted packet, in bytes
	ConnectWait   time.Duration // how long the router waits for CONNECT
	QueueMsgSize  int           // the queue's message size, so envelopes fit
	QueueMsgMax   int           // the queue's message count, for session queues routers create
	MaxInflight   int           // unacknowledged QoS 1/2 messages to a client at once
	SessionMsgs   int           // most messages a persistent session's mailbox holds
	SessionBytes  int64         // most bytes a persistent session's mailbox holds
	BacklogMsgs   int           // most envelopes a deliverer holds for a slow client
	BacklogBytes  int64         // most bytes a deliverer holds for a slow client
	StallTimeout  time.Duration // how long a client with a full backlog may make no progress
	MaxSubs       int           // filters one connection may hold (0: no limit)
	MaxTopicLen   int           // bytes in a topic name or filter (0: no limit)
	MaxTopicLevel int           // levels in a topic name or filter (0: no limit)
	PasswordFile  string        // mosquitto_passwd file ("" for none)
	ACLFile       string        // mosquitto acl_file ("" for none)
	AllowAnon     bool          // clients without a user name may connect
	LogFormat     string        // console or json
	LogLevel      string        // zerolog level name
	Partner       int           // the other worker's pid, when known (for logs)
}

// ProcessTitle is argv[0] of a worker: `ps` shows the role and the queue.
func (a Args) ProcessTitle() string {
	return "forkmq-" + string(a.Role)
}

// Argv returns the worker's full argument vector, argv[0] included.
func (a Args) Argv() []string {
	return []string{
		a.ProcessTitle(),
		"-role", string(a.Role),
		"-queue", a.Queue,
		"-remote", a.Remote,
		"-instance", a.Instance,
		"-state-dir", a.StateDir,
		"-max-packet-size", strconv.Itoa(a.MaxPacketSize),
		"-connect-wait", a.ConnectWait.String(),
		"-queue-msg-size", strconv.Itoa(a.QueueMsgSize),
		"-queue-msg-max", strconv.Itoa(a.QueueMsgMax),
		"-max-inflight", strconv.Itoa(a.MaxInflight),
		"-session-msgs", strconv.Itoa(a.SessionMsgs),
		"-session-bytes", strconv.FormatInt(a.SessionBytes, 10),
		"-backlog-msgs", strconv.Itoa(a.BacklogMsgs),
		"-backlog-bytes", strconv.FormatInt(a.BacklogBytes, 10),
		"-stall-timeout", a.StallTimeout.String(),
		"-max-subscriptions", strconv.Itoa(a.MaxSubs),
		"-max-topic-length", strconv.Itoa(a.MaxTopicLen),
		"-max-topic-levels", strconv.Itoa(a.MaxTopicLevel),
		"-password-file", a.PasswordFile,
		"-acl-file", a.ACLFile,
		"-allow-anonymous=" + strconv.FormatBool(a.AllowAnon),
		"-log-format", a.LogFormat,
		"-log-level", a.LogLevel,
		"-partner", strconv.Itoa(a.Partner),
	}
}

// Parse reads a worker's arguments (without argv[0]).
func Parse(argv []string) (Args, error) {
	var a Args
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	role := fs.String("role", "", "router or deliverer")
	fs.StringVar(&a.Queue, "queue", "", "the client's queue name")
	fs.StringVar(&a.Remote, "remote", "", "the client's address")
	fs.StringVar(&a.Instance, "instance", "", "the broker instance")
	fs.StringVar(&a.StateDir, "state-dir", "", "the broker's state directory")
	fs.IntVar(&a.MaxPacketSize, "max-packet-size", 0, "largest accepted packet")
	fs.DurationVar(&a.ConnectWait, "connect-wait", 10*time.Second, "time allowed for CONNECT")
	fs.IntVar(&a.QueueMsgSize, "queue-msg-size", 0, "the queue's message size")
	fs.IntVar(&a.QueueMsgMax, "queue-msg-max", 1, "the queue's message count")
	fs.IntVar(&a.MaxInflight, "max-inflight", 20, "unacknowledged QoS 1/2 messages at once")
	fs.IntVar(&a.SessionMsgs, "session-msgs", 1000, "most messages in a session mailbox")
	fs.Int64Var(&a.SessionBytes, "session-bytes", 64<<20, "most bytes in a session mailbox")
	fs.IntVar(&a.BacklogMsgs, "backlog-msgs", 1000, "most envelopes held for a slow client")
	fs.Int64Var(&a.BacklogBytes, "backlog-bytes", 16<<20, "most bytes held for a slow client")
	fs.DurationVar(&a.StallTimeout, "stall-timeout", 2*time.Second, "how long a client with a full backlog may make no progress")
	fs.IntVar(&a.MaxSubs, "max-subscriptions", 0, "filters one connection may hold")
	fs.IntVar(&a.MaxTopicLen, "max-topic-length", 0, "bytes in a topic")
	fs.IntVar(&a.MaxTopicLevel, "max-topic-levels", 0, "levels in a topic")
	fs.StringVar(&a.PasswordFile, "password-file", "", "mosquitto_passwd file")
	fs.StringVar(&a.ACLFile, "acl-file", "", "mosquitto acl_file")
	fs.BoolVar(&a.AllowAnon, "allow-anonymous", true, "clients without a user name may connect")
	fs.StringVar(&a.LogFormat, "log-format", "json", "console or json")
	fs.StringVar(&a.LogLevel, "log-level", "info", "log level")
	fs.IntVar(&a.Partner, "partner", 0, "the other worker's pid")
	if err := fs.Parse(argv); err != nil {
		return Args{}, fmt.Errorf("worker arguments: %w", err)
	}
	a.Role = Role(*role)
	switch {
	case a.Role != RoleRouter && a.Role != RoleDeliverer && a.Role != RoleWill:
		return Args{}, fmt.Errorf("worker arguments: unknown role %q", *role)
	case a.Queue == "" || a.StateDir == "":
		return Args{}, fmt.Errorf("worker arguments: -queue and -state-dir are required")
	case a.QueueMsgSize <= 0:
		return Args{}, fmt.Errorf("worker arguments: -queue-msg-size must be positive")
	}
	return a, nil
}
