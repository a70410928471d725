package supervisor

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/forkmq/forkmq/internal/admin"
	"github.com/forkmq/forkmq/internal/procstat"
	"github.com/forkmq/forkmq/internal/queue"
	"github.com/forkmq/forkmq/internal/scoreboard"
	"github.com/forkmq/forkmq/internal/state"
	"github.com/forkmq/forkmq/internal/systopics"
	"github.com/forkmq/forkmq/internal/topicdir"
)

// Observer draws a running process-engine broker for the admin listener
// and the status command (package admin) from what the broker shares on
// disk and in the kernel: the scoreboard (who each process is, what it
// counted), /proc (CPU, memory), the queues' attributes (depth, capacity;
// mq_getattr, never a message) and the topic files. Like the supervisor,
// it parses no MQTT and reads no queue.
type Observer struct {
	board  *scoreboard.Board
	topics *topicdir.Dir
	listen []string
	budget uint64 // RLIMIT_MSGQUEUE bytes planned for the queues
	closer func()
}

// Snapshot implements admin.Source.
func (s *Supervisor) Snapshot(ctx context.Context) (*admin.Snapshot, error) {
	if s.board == nil {
		return nil, fmt.Errorf("counting is off (%s=off)", scoreboard.EnvSwitch)
	}
	snap, err := s.observer().Snapshot(ctx)
	if err != nil {
		return nil, err
	}
	// The pool: workers waiting for a client (on the board as role pool),
	// and how many the supervisor keeps ready.
	for _, p := range snap.Others {
		if p.Role == scoreboard.RolePool.String() {
			snap.Pool.Idle++
		}
	}
	snap.Pool.Size = s.cfg.PoolMinSpare
	// The bridges: each process is asked for its own figures (it holds
	// the remote connection; no scoreboard slot has them).
	deadline := time.Now().Add(500 * time.Millisecond)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	for _, b := range s.bridges {
		snap.Bridges = append(snap.Bridges, b.askStats(deadline))
	}
	return snap, nil
}

// observer is the supervisor's own Observer, on the board and topic files
// it holds open.
func (s *Supervisor) observer() *Observer {
	return &Observer{board: s.board, topics: s.topics, listen: s.lns.Addrs(),
		budget: queue.Cost(s.attr) * uint64(s.cfg.MaxClients)}
}

// Observe opens the state directory of a running process-engine broker
// for the status command, without the broker's help. Close it after use.
func Observe(stateDir string) (*Observer, error) {
	abs, err := filepath.Abs(stateDir)
	if err != nil {
		return nil, err
	}
	b, err := scoreboard.Open(filepath.Join(abs, scoreboard.FileName))
	if err != nil {
		return nil, fmt.Errorf("no process-engine broker's scoreboard in %s: %w", abs, err)
	}
	topics, err := topicdir.Open(state.Layout{Root: abs}.Topics())
	if err != nil {
		b.Close()
		return nil, err
	}
	var budget uint64
	if lim, err := queue.ReadLimits(); err == nil {
		budget = lim.Budget
	}
	return &Observer{board: b, topics: topics, budget: budget, closer: func() { topics.Close(); b.Close() }}, nil
}

// Close releases what Observe opened.
func (o *Observer) Close() {
	if o.closer != nil {
		o.closer()
	}
}

// Snapshot implements admin.Source.
func (o *Observer) Snapshot(ctx context.Context) (*admin.Snapshot, error) {
	rd := o.board.Read()
	s := &admin.Snapshot{Taken: time.Now(), Engine: admin.EngineProcess, Version: systopics.Version(),
		Started: rd.Created, Listen: o.listen}
	admin.FromReading(s, rd)
	measure(&s.Supervisor)
	for i := range s.Clients {
		c := &s.Clients[i]
		measure(&c.Router)
		measure(&c.Deliverer)
		if q, ok := queueOf(c.Queue, c.ID); ok {
			s.Queues = append(s.Queues, q.Queue)
			s.QueueBudget.Used += queue.Cost(queue.Attr{MaxMsg: int64(q.Capacity), MsgSize: q.msgSize})
		}
	}
	for i := range s.Others {
		measure(&s.Others[i])
	}
	s.QueueBudget.Total = max(o.budget, s.QueueBudget.Used)
	err := o.topics.Filters(func(file, filter string, subs []topicdir.Subscriber) error {
		t := admin.TopicFile{Filter: filter, File: filepath.Join("topics", "filters", file)}
		for _, sub := range subs {
			t.Entries = append(t.Entries, admin.TopicEntry{Queue: sub.Queue, QoS: sub.QoS})
		}
		s.Topics = append(s.Topics, t)
		return ctx.Err()
	})
	if errors.Is(err, ctx.Err()) && err != nil {
		return nil, err
	}
	s.CountSubscriptions()
	return s, nil
}

// measure fills a process's CPU time and memory (its proportional set
// size, or its resident size where the kernel gives no PSS) from /proc.
func measure(p *admin.Process) {
	if p.PID <= 0 {
		return
	}
	if st, err := procstat.Read(p.PID); err == nil {
		p.CPU, p.Memory = st.CPU, st.PSS
		if p.Memory == 0 {
			p.Memory = st.RSS
		}
	}
}

// queueOf reads a client queue's depth and capacity with mq_getattr. A
// queue that is gone (its client left, or it adopted a persistent
// session's queue) is not listed.
func queueOf(name, client string) (queueAttr, bool) {
	q, err := queue.OpenReader(name)
	if err != nil {
		return queueAttr{}, false
	}
	defer q.Close()
	a, err := q.Attr()
	if err != nil {
		return queueAttr{}, false
	}
	return queueAttr{Queue: admin.Queue{Name: name, Depth: int(a.CurMsgs), Capacity: int(a.MaxMsg), Client: client}, msgSize: a.MsgSize}, true
}

// queueAttr is a queue as listed, with its message size for the budget.
type queueAttr struct {
	admin.Queue
	msgSize int64
}
