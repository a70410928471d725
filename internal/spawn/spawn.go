package spawn

import (
	"flag"
	"fmt"
	"io"
	"strconv"

	"github.com/forkmq/forkmq/internal/options"
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
	RoleSys       Role = "sys" // publishes $SYS (no client of its own)
)

// Args is everything a worker is told on its command line: which client it
// serves, in which role, and the broker's options (package options, the
// same flags the broker takes).
type Args struct {
	Role         Role
	Queue        string // the client's queue name
	Instance     string // the broker instance, the namespace of its queues
	Remote       string // the client's remote address, for logs
	QueueMsgSize int    // the queue's message size, so envelopes fit
	QueueMsgMax  int    // the queue's message count, for session queues routers create
	Partner      int    // the other worker's pid, when known (for logs)
	Slot         string // its scoreboard slot, INDEX:GEN ("": it counts nothing)
	options.Options
}

// ProcessTitle is argv[0] of a worker: `ps` shows the role and the queue.
func (a Args) ProcessTitle() string {
	return "forkmq-" + string(a.Role)
}

// Argv returns the worker's full argument vector, argv[0] included.
func (a Args) Argv() []string {
	return append([]string{
		a.ProcessTitle(),
		"-role", string(a.Role),
		"-queue", a.Queue,
		"-remote", a.Remote,
		"-instance", a.Instance,
		"-queue-msg-size", strconv.Itoa(a.QueueMsgSize),
		"-queue-msg-max", strconv.Itoa(a.QueueMsgMax),
		"-partner", strconv.Itoa(a.Partner),
		"-slot", a.Slot,
	}, a.Options.Args()...)
}

// Parse reads a worker's arguments (without argv[0]).
func Parse(argv []string) (Args, error) {
	var a Args
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	role := fs.String("role", "", "router, deliverer or will")
	fs.StringVar(&a.Queue, "queue", "", "the client's queue name")
	fs.StringVar(&a.Remote, "remote", "", "the client's address")
	fs.StringVar(&a.Instance, "instance", "", "the broker instance")
	fs.IntVar(&a.QueueMsgSize, "queue-msg-size", 0, "the queue's message size")
	fs.IntVar(&a.QueueMsgMax, "queue-msg-max", 1, "the queue's message count")
	fs.IntVar(&a.Partner, "partner", 0, "the other worker's pid")
	fs.StringVar(&a.Slot, "slot", "", "the worker's scoreboard slot")
	o, err := options.Parse(fs, argv)
	if err != nil {
		return Args{}, fmt.Errorf("worker arguments: %w", err)
	}
	a.Options = o
	a.Role = Role(*role)
	switch {
	case a.Role != RoleRouter && a.Role != RoleDeliverer && a.Role != RoleWill && a.Role != RoleSys:
		return Args{}, fmt.Errorf("worker arguments: unknown role %q", *role)
	case a.Queue == "" || a.StateDir == "":
		return Args{}, fmt.Errorf("worker arguments: -queue and -state-dir are required")
	case a.QueueMsgSize <= 0:
		return Args{}, fmt.Errorf("worker arguments: -queue-msg-size must be positive")
	}
	return a, nil
}
