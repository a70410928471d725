package spawn

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/forkmq/forkmq/internal/options"
)

// FdControl is the worker's end of its control channel.
const FdControl = 3

// Title is argv[0] of a worker until it sets its process title (package
// proctitle): "forkmq: ROLE [CLIENT ID] [REMOTE ADDRESS]".
const Title = "forkmq: starting"

// Args is everything a worker is told on its command line: its slot (its
// scoreboard slot too, for its whole life), the broker instance it serves,
// the size of the queues it is handed, and the broker's options (package
// options, the same flags the broker takes).
type Args struct {
	Slot         int    // unique among live workers, reused once the worker is gone (logs, spool files; its scoreboard slot's index)
	Instance     string // the broker instance, the namespace of its queues
	QueueMsgSize int    // the queues' message size, so envelopes fit
	QueueMsgMax  int    // the queues' message count, for session queues routers create
	Generation   uint64 // the options' generation the worker starts with (control.Reload)
	SlotGen      uint64 // the scoreboard slot's generation (0: the worker counts nothing; see package scoreboard)
	options.Options
}

// Argv returns the worker's full argument vector, argv[0] included: the
// worker's own flags, then every option (options.Options.Args), each as
// "-name=value".
func (a Args) Argv() []string {
	return append([]string{
		Title,
		"-slot=" + strconv.Itoa(a.Slot),
		"-instance=" + a.Instance,
		"-queue-msg-size=" + strconv.Itoa(a.QueueMsgSize),
		"-queue-msg-max=" + strconv.Itoa(a.QueueMsgMax),
		"-generation=" + strconv.FormatUint(a.Generation, 10),
		"-slot-gen=" + strconv.FormatUint(a.SlotGen, 10),
	}, a.Options.Args()...)
}

// Parse reads a worker's arguments (without argv[0]), as Argv writes them.
// It reads them by hand, not with package flag, and does not validate the
// options again (the supervisor wrote them from options it validated): a
// FlagSet of every option and Validate cost each of thousands of workers
// about 35 KiB of memory (docs/ARCHITECTURE.md, "Lean, quiet workers").
func Parse(argv []string) (Args, error) {
	a := Args{Slot: -1, QueueMsgMax: 1}
	opts := make([]string, 0, len(argv))
	for _, arg := range argv {
		name, value, _ := strings.Cut(arg, "=")
		var err error
		switch name {
		case "-slot":
			a.Slot, err = strconv.Atoi(value)
		case "-instance":
			a.Instance = value
		case "-queue-msg-size":
			a.QueueMsgSize, err = strconv.Atoi(value)
		case "-queue-msg-max":
			a.QueueMsgMax, err = strconv.Atoi(value)
		case "-generation":
			a.Generation, err = strconv.ParseUint(value, 10, 64)
		case "-slot-gen":
			a.SlotGen, err = strconv.ParseUint(value, 10, 64)
		default:
			opts = append(opts, arg)
		}
		if err != nil {
			return Args{}, fmt.Errorf("worker arguments: %s: %w", name, err)
		}
	}
	a.Options = options.Default()
	if err := a.Options.SetArgs(opts); err != nil {
		return Args{}, fmt.Errorf("worker arguments: %w", err)
	}
	switch {
	case a.Slot < 0:
		return Args{}, fmt.Errorf("worker arguments: -slot is required")
	case a.Instance == "" || a.StateDir == "":
		return Args{}, fmt.Errorf("worker arguments: -instance and -state-dir are required")
	case a.QueueMsgSize <= 0:
		return Args{}, fmt.Errorf("worker arguments: -queue-msg-size must be positive")
	}
	return a, nil
}

// Env returns the environment a worker starts with: base (the
// supervisor's), with GOMAXPROCS=1. A worker serves one client at a time
// on one loop; a single P saves about 120 KiB and a thread per process and
// turns off the runtime's periodic re-reading of the CPU quota (see
// docs/ARCHITECTURE.md, "Lean workers").
func Env(base []string) []string {
	env := make([]string, 0, len(base)+1)
	for _, kv := range base {
		if !strings.HasPrefix(kv, "GOMAXPROCS=") {
			env = append(env, kv)
		}
	}
	return append(env, "GOMAXPROCS=1")
}
