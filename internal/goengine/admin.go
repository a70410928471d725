package goengine

import (
	"context"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/forkmq/forkmq/internal/admin"
	"github.com/forkmq/forkmq/internal/procstat"
	"github.com/forkmq/forkmq/internal/systopics"
)

// Snapshot implements admin.Source: the engine drawn as the process
// engine is, goroutines for processes and channels for queues — the
// scoreboard in memory (who each goroutine is, what it counted), each
// client's publication channel (depth, capacity) and the index's filters.
// Goroutines have no pid, CPU time or memory of their own: the engine's
// one process has them.
func (e *Engine) Snapshot(ctx context.Context) (*admin.Snapshot, error) {
	rd := e.board.Read()
	s := &admin.Snapshot{Taken: time.Now(), Engine: admin.EngineGoroutine, Version: systopics.Version(),
		Started: e.started}
	for _, ln := range e.lns {
		s.Listen = append(s.Listen, ln.Name())
	}
	for name, st := range e.BridgeStats() {
		s.Bridges = append(s.Bridges, admin.Bridge{Name: name, Connected: st.Connected, In: st.In, Out: st.Out, Backlog: st.Backlog})
	}
	admin.FromReading(s, rd)
	if st, err := procstat.Read(os.Getpid()); err == nil {
		s.Supervisor.CPU, s.Supervisor.Memory = st.CPU, st.PSS
	}
	ids := make(map[string]string, len(s.Clients))
	for i := range s.Clients {
		c := &s.Clients[i]
		c.Router.PID, c.Deliverer.PID = 0, 0
		ids[c.Queue] = c.ID
	}
	for i := range s.Others {
		s.Others[i].PID = 0
	}
	e.mu.Lock()
	for c := range e.clients {
		s.Queues = append(s.Queues, admin.Queue{Name: c.name, Depth: len(c.pubs), Capacity: cap(c.pubs), Client: ids[c.name]})
	}
	e.mu.Unlock()
	slices.SortFunc(s.Queues, func(a, b admin.Queue) int { return strings.Compare(a.Name, b.Name) })
	e.index.root.Each(func(filter string, subs []Sub[*session]) {
		t := admin.TopicFile{Filter: filter}
		for _, sub := range subs {
			t.Entries = append(t.Entries, admin.TopicEntry{Queue: sub.Key.name, QoS: byte(sub.QoS)})
		}
		s.Topics = append(s.Topics, t)
	})
	s.CountSubscriptions()
	return s, ctx.Err()
}
