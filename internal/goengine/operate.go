package goengine

import (
	"context"
	"time"

	"github.com/forkmq/forkmq/internal/core"
	"github.com/forkmq/forkmq/internal/packet"
	"github.com/forkmq/forkmq/internal/scoreboard"
	"github.com/forkmq/forkmq/internal/systopics"
)

// Operating the engine (issue 13): its counters and $SYS, the counterparts
// of the process engine's scoreboard file and sys worker. The engine keeps
// a scoreboard in memory (scoreboard.New) with a slot per goroutine of a
// client's pair, so that the same counting calls of package core count in
// both engines, and the same readers (systopics, admin) sum them.

// pairCounts are the slots of a client's router and deliverer goroutines.
type pairCounts struct {
	router, deliverer *scoreboard.Writer
	refs              [2]scoreboard.Ref
}

// newBoard makes the engine's scoreboard: a slot for the engine itself
// (the supervisor's role), its $SYS publisher, and two per client.
func newBoard(maxClients, pid int) *scoreboard.Board {
	b := scoreboard.New(2*maxClients + 4)
	if ref, err := b.Allocate(scoreboard.Identity{Role: scoreboard.RoleSupervisor, PID: pid}); err == nil {
		w, _ := b.Writer(ref)
		w.SetState(scoreboard.StateConnected) // serving
	}
	return b
}

// allocCounts gives a new client's goroutines their slots; a full board
// (more clients than -max-clients, which admission refuses) counts nothing.
func (e *Engine) allocCounts(name, remote string) pairCounts {
	var pc pairCounts
	if scoreboard.Off() {
		return pc
	}
	for i, role := range [2]scoreboard.Role{scoreboard.RoleRouter, scoreboard.RoleDeliverer} {
		ref, err := e.board.Allocate(scoreboard.Identity{Role: role, PID: e.pid, Queue: name, Remote: remote})
		if err != nil {
			e.log.Warn().Err(err).Str("queue", name).Msg("no scoreboard slot: the client is not counted")
			e.releaseCounts(pc)
			return pairCounts{}
		}
		w, _ := e.board.Writer(ref)
		pc.refs[i] = ref
		if role == scoreboard.RoleRouter {
			pc.router = w
		} else {
			pc.deliverer = w
		}
	}
	return pc
}

// releaseCounts frees a gone client's slots; what they counted stays in
// the totals.
func (e *Engine) releaseCounts(pc pairCounts) {
	for _, ref := range pc.refs {
		if ref.Gen != 0 {
			_ = e.board.Release(ref)
		}
	}
}

// setSysInterval changes how often $SYS is refreshed, from the next
// refresh on (a SIGHUP); 0 stops it until the engine restarts.
func (e *Engine) setSysInterval(d time.Duration) { e.sysInterval.Store(int64(d)) }

// publishSys publishes $SYS every -sys-interval until ctx ends (package
// systopics), through the engine's normal routing path: a core.Router of
// its own, without a client, retaining each value.
func (e *Engine) publishSys(ctx context.Context) {
	defer close(e.sysDone)
	e.setSysInterval(e.cfg.SysInterval)
	if e.cfg.SysInterval <= 0 {
		return
	}
	r := &router{e: e, log: e.log.With().Str("role", "sys").Logger()}
	r.core = core.NewRouter[*session](r.log, &memIndex{x: e.index, m: e.index.NewMatcher()}, r, nil, nil, e.retained)
	if ref, err := e.board.Allocate(scoreboard.Identity{Role: scoreboard.RoleSys, PID: e.pid}); err == nil {
		w, _ := e.board.Writer(ref)
		w.SetState(scoreboard.StateConnected) // serving
		defer e.board.Release(ref)
	}
	publish := func(m systopics.Message) error {
		p := &packet.Publish{Topic: m.Topic, Retain: true, Payload: []byte(m.Payload)}
		if err := r.core.Retain(p); err != nil {
			return err
		}
		return r.core.Publish(p)
	}
	pub := systopics.NewPublisher(e.started)
	r.log.Info().Dur("interval", e.cfg.SysInterval).Msg("publishing $SYS")
	pub.Run(ctx, func() time.Duration { return time.Duration(e.sysInterval.Load()) }, e.sysCounts, publish,
		func(err error) { r.log.Warn().Err(err).Msg("$SYS not refreshed") })
}

// forgetSys waits for the $SYS publisher to return (the engine is
// stopping) and removes its retained messages: they describe this run.
func (e *Engine) forgetSys() {
	<-e.sysDone
	if err := systopics.Forget(e.retained); err != nil {
		e.log.Warn().Err(err).Msg("retained $SYS messages not removed")
	}
}

// sysCounts are the engine's $SYS counts: the scoreboard's (package
// systopics), the persistent sessions offline, the index's subscriptions
// and the retained store.
func (e *Engine) sysCounts(context.Context) (systopics.Counts, error) {
	c := systopics.FromBoard(e.board.Read())
	e.mu.Lock()
	for _, s := range e.sessions {
		if s.online.Load() == nil {
			c.ClientsDisconnected++
		}
	}
	e.mu.Unlock()
	e.index.root.Each(func(_ string, subs []Sub[*session]) { c.Subscriptions += len(subs) })
	if n, err := e.retained.Count(); err == nil {
		c.RetainedMessages = n
	}
	return c, nil
}
