package admin

import (
	"context"
	"time"

	"github.com/forkmq/forkmq/internal/scoreboard"
)

// Source is a running broker as the admin listener sees it. Both engines
// implement it: the process engine from its scoreboard, queues and topic
// files; the goroutine engine from its goroutines, channels and trie.
// Snapshot is called once per scrape or page update (about once a second
// per viewer, fewer thanks to the server's cache), never on a hot path.
type Source interface {
	Snapshot(ctx context.Context) (*Snapshot, error)
}

// SourceFunc adapts a function to Source.
type SourceFunc func(ctx context.Context) (*Snapshot, error)

// Snapshot implements Source.
func (f SourceFunc) Snapshot(ctx context.Context) (*Snapshot, error) { return f(ctx) }

// Engine names, as Snapshot.Engine gives them.
const (
	EngineProcess   = "process"
	EngineGoroutine = "goroutine"
)

// Snapshot is the broker at one moment: its processes (goroutines, in the
// goroutine engine), queues (channels), topic files (trie entries) and
// counters.
type Snapshot struct {
	Taken   time.Time
	Engine  string // EngineProcess or EngineGoroutine
	Version string
	Started time.Time
	Listen  []string // the addresses clients connect to

	// Supervisor is the parent process (the process engine), or the
	// broker's one process (the goroutine engine).
	Supervisor Process
	// Clients are the clients being served, each with its pair.
	Clients []Client
	// Others are the workers serving no client: idle pool workers, will
	// publishers, the $SYS publisher, bridges.
	Others []Process

	Queues []Queue
	Topics []TopicFile // the caller sets Totals' Subscriptions gauge from them (CountSubscriptions)

	// Bridges are the broker's bridges to other brokers (connection blocks).
	Bridges []Bridge

	Pool        Pool
	QueueBudget Budget

	// Totals are every process's counters, those that have exited
	// included; Histograms likewise.
	Totals     scoreboard.Counts
	Histograms [scoreboard.NumHistograms]scoreboard.HistogramCounts
}

// Bridge is one bridge's state.
type Bridge struct {
	Name      string
	Connected bool
	In, Out   uint64 // messages carried from the remote, and to it
	Backlog   int64  // messages for the remote it has not taken yet
}

// Process is a worker process, or a goroutine in the goroutine engine.
type Process struct {
	// Key identifies the process for as long as it lives (the process
	// engine: its scoreboard slot and generation): rates are computed
	// between two snapshots' processes of the same Key.
	Key    string
	Role   string // scoreboard.Role's names: supervisor, router, deliverer, will, sys, bridge
	PID    int    // 0 for a goroutine
	State  string // scoreboard.State's names
	CPU    time.Duration
	Memory uint64 // bytes: proportional set size for a process
	// Counters are what the process has counted since it started.
	Counters [scoreboard.NumCounters]uint64
}

// Client is one client being served and its two processes.
type Client struct {
	ID        string // the client identifier ("" before CONNECT)
	Remote    string
	Queue     string // the queue (channel) its deliverer reads
	Router    Process
	Deliverer Process
}

// Queue is a POSIX message queue (a channel in the goroutine engine).
type Queue struct {
	Name     string
	Depth    int // messages waiting
	Capacity int // messages it holds at most
	Client   string
}

// TopicFile is one topic filter's file (trie entry) and the queues it
// lists.
type TopicFile struct {
	Filter  string
	File    string // its file name in the state directory ("" in the goroutine engine)
	Entries []TopicEntry
}

// TopicEntry is one subscribing queue of a topic file.
type TopicEntry struct {
	Queue string
	QoS   byte
}

// Pool is the process engine's pool of ready worker pairs.
type Pool struct {
	Idle int // pairs waiting for a client
	Size int // pairs the supervisor keeps ready
}

// Budget is the RLIMIT_MSGQUEUE bytes the queues may use.
type Budget struct {
	Used, Total uint64
}

// CountSubscriptions sets the Subscriptions gauge of the totals to the
// entries of the topic files: the filters held over every session, online
// or not (the workers do not keep that gauge themselves).
func (s *Snapshot) CountSubscriptions() {
	n := 0
	for _, t := range s.Topics {
		n += len(t.Entries)
	}
	s.Totals.Gauges[scoreboard.Subscriptions] = int64(n)
}
