package admin

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/forkmq/forkmq/internal/scoreboard"
)

// fakeBroker is a Source whose snapshot a test sets: the admin surface is
// tested against it, before any engine implements Source.
type fakeBroker struct {
	mu   sync.Mutex
	snap Snapshot
	err  error
}

func (f *fakeBroker) set(s Snapshot) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.snap = s
}

// Snapshot implements Source, stamping each copy with the time of asking.
func (f *fakeBroker) Snapshot(context.Context) (*Snapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	s := f.snap
	s.Taken = time.Now()
	return &s, nil
}

// fakeClient is client i of a fake process-engine broker: a router and a
// deliverer with pids 4000+2i and 4001+2i, and queue forkmq.5f3a.<i>.
func fakeClient(i int, received, sent uint64) Client {
	queue := fmt.Sprintf("forkmq.5f3a.%d", i)
	proc := func(role scoreboard.Role, pid int) Process {
		p := Process{Key: fmt.Sprintf("%d:2", pid), Role: role.String(), PID: pid,
			State: scoreboard.StateConnected.String(), CPU: time.Duration(received) * time.Microsecond, Memory: 2 << 20}
		return p
	}
	c := Client{
		ID:        fmt.Sprintf("sensor-%d", i),
		Remote:    fmt.Sprintf("127.0.0.1:%d", 50000+i),
		Queue:     queue,
		Router:    proc(scoreboard.RoleRouter, 4000+2*i),
		Deliverer: proc(scoreboard.RoleDeliverer, 4001+2*i),
	}
	c.Router.Counters[scoreboard.MessagesReceived] = received
	c.Deliverer.Counters[scoreboard.MessagesSent] = sent
	return c
}

// fakeSnapshot is a process-engine broker with n clients, each subscribed
// to sensors/# (client 0 also to $SYS/#), counters scaled by tick so that
// successive snapshots show traffic.
func fakeSnapshot(n int, tick uint64) Snapshot {
	s := Snapshot{
		Engine:     EngineProcess,
		Version:    "test",
		Started:    time.Now().Add(-90 * time.Minute),
		Listen:     []string{":1883"},
		Supervisor: Process{Key: "supervisor", Role: "supervisor", PID: 3999, State: "connected", Memory: 8 << 20},
		Others: []Process{
			{Key: "9000:2", Role: "router", PID: 9000, State: scoreboard.StateIdle.String()},
			{Key: "9001:2", Role: "deliverer", PID: 9001, State: scoreboard.StateIdle.String()},
		},
		Pool:        Pool{Idle: 1, Size: 2},
		Bridges:     []Bridge{{Name: "cluster", Connected: false, In: 7, Out: 11, Backlog: 3}},
		QueueBudget: Budget{Used: 7168 * uint64(n), Total: 819200},
	}
	sensors := TopicFile{Filter: "sensors/#", File: "f_sensors,%23"}
	for i := 0; i < n; i++ {
		c := fakeClient(i, 100*tick, 90*tick)
		s.Clients = append(s.Clients, c)
		s.Queues = append(s.Queues, Queue{Name: c.Queue, Depth: i % 11, Capacity: 10, Client: c.ID})
		sensors.Entries = append(sensors.Entries, TopicEntry{Queue: c.Queue, QoS: 1})
		s.Totals.Counters[scoreboard.MessagesReceived] += 100 * tick
		s.Totals.Counters[scoreboard.MessagesSent] += 90 * tick
	}
	if n > 0 {
		s.Topics = append(s.Topics, sensors,
			TopicFile{Filter: "$SYS/#", File: "f_%24SYS,%23", Entries: []TopicEntry{{Queue: s.Clients[0].Queue}}})
	}
	s.Totals.Gauges[scoreboard.Subscriptions] = int64(n)
	s.Histograms[scoreboard.DeliveryLatency].Buckets[2] = 5 // 5 observations in (100µs, 200µs]
	s.Histograms[scoreboard.DeliveryLatency].Buckets[13] = 1
	s.Histograms[scoreboard.DeliveryLatency].Count = 6
	s.Histograms[scoreboard.DeliveryLatency].Sum = 3 * time.Second
	return s
}
