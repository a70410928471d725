package supervisor

import (
	"runtime"
	"slices"
	"syscall"
	"time"

	"github.com/forkmq/forkmq/internal/control"
)

// group is the workers that run under one set of ids: one worker uid of
// -worker-uids, or the supervisor's own ids. A client's two workers are of
// one group, and its queue is charged to that group's uid.
type group struct {
	creds    *syscall.Credential // nil: the supervisor's own ids
	idle     []*worker           // waiting in the pool, the longest idle first
	starting int                 // started, not Ready yet
	clients  int                 // clients its pairs serve
}

func (g *group) credential() *syscall.Credential { return g.creds }

// pool is the supervisor's idle workers, as Apache's prefork keeps idle
// children: -pool-min-spare pairs ready ahead of demand, refilled at a rate
// that doubles every second while the pool stays short (1, 2, 4 …
// -pool-spawn-rate pairs) and falls back to 1 once it is not; above
// -pool-max-spare, or once no client has come for -pool-linger, it stops
// one pair a second. A client that finds no pair waits for one, and its
// pair is started at once, whatever the ramp says.
type pool struct {
	groups     []*group
	rate       int         // pairs the next round may start
	timer      *time.Timer // the next round, while one is due
	due        time.Time   // when timer fires
	lastClient time.Time   // when the last client came
}

// maxStarting bounds the workers starting at once for clients that wait:
// an exec is mostly CPU (about 10 ms here), so more would only queue.
var maxStarting = max(4, 2*runtime.NumCPU())

// pendingWait is how long an accepted client may wait for a pair before it
// is refused.
const pendingWait = 30 * time.Second

func (p *pool) idleWorkers() int {
	n := 0
	for _, g := range p.groups {
		n += len(g.idle)
	}
	return n
}

func (p *pool) startingWorkers() int {
	n := 0
	for _, g := range p.groups {
		n += g.starting
	}
	return n
}

// idlePairs counts the pairs that could be handed a client now.
func (p *pool) idlePairs() int {
	n := 0
	for _, g := range p.groups {
		n += len(g.idle) / 2
	}
	return n
}

// takePair takes two idle workers of one group, the most recently used
// (their memory is warm; the longest idle are the ones trimmed), from the
// group with the most idle workers whose clients are below cap; nil, nil
// if no group has two.
func (p *pool) takePair(cap int) (router, deliverer *worker) {
	var best *group
	for _, g := range p.groups {
		if len(g.idle) >= 2 && g.clients < cap && (best == nil || len(g.idle) > len(best.idle)) {
			best = g
		}
	}
	if best == nil {
		return nil, nil
	}
	n := len(best.idle)
	router, deliverer = best.idle[n-1], best.idle[n-2]
	best.idle = best.idle[:n-2]
	return router, deliverer
}

// takeOne takes one idle worker, preferably one that breaks no pair.
func (p *pool) takeOne() *worker {
	var best *group
	for _, g := range p.groups {
		if len(g.idle) > 0 && (best == nil || len(g.idle)%2 == 1 && len(best.idle)%2 == 0) {
			best = g
		}
	}
	if best == nil {
		return nil
	}
	n := len(best.idle)
	w := best.idle[n-1]
	best.idle = best.idle[:n-1]
	return w
}

// oldestIdle returns the group whose pair has waited longest, nil if no
// group has two idle workers.
func (p *pool) oldestIdle() *group {
	var best *group
	for _, g := range p.groups {
		if len(g.idle) >= 2 && (best == nil || g.idle[0].idle.Before(best.idle[0].idle)) {
			best = g
		}
	}
	return best
}

// forget removes a gone worker from the pool; it reports whether it was
// idle there.
func (p *pool) forget(w *worker) bool {
	g := w.group
	if !w.readied {
		g.starting--
	}
	if i := slices.Index(g.idle, w); i >= 0 {
		g.idle = slices.Delete(g.idle, i, i+1)
		return true
	}
	return false
}

// startPool starts -pool-min-spare pairs at once, like prefork's
// StartServers.
func (s *Supervisor) startPool() {
	s.pool.lastClient = time.Now()
	s.spawnPairs(s.cfg.PoolMinSpare)
	s.armPool()
}

// spawnPairs starts n pairs, each in the group with the fewest workers
// (so that the groups' uids share the load and the queue budgets).
func (s *Supervisor) spawnPairs(n int) {
	for range n {
		g := s.leastLoaded()
		for range 2 {
			if _, err := s.spawn(g); err != nil {
				s.spawnFailed(err)
				return
			}
		}
	}
}

func (s *Supervisor) leastLoaded() *group {
	best := s.pool.groups[0]
	for _, g := range s.pool.groups[1:] {
		if 2*g.clients+len(g.idle)+g.starting < 2*best.clients+len(best.idle)+best.starting {
			best = g
		}
	}
	return best
}

// spawnFailed logs a worker that could not start, and refuses the client
// that waited longest for one, with the limit that was hit.
func (s *Supervisor) spawnFailed(err error) {
	if len(s.pending) > 0 {
		p := s.pending[0]
		s.pending = s.pending[1:]
		p.timer.Stop()
		s.refuser.Refuse(p.conn, err)
		return
	}
	s.log.Error().Err(err).Msg("pool: cannot start a worker")
}

// ready puts a worker that has started in the pool, or makes it the $SYS
// publisher if it was started for that.
func (s *Supervisor) ready(w *worker, m *control.Ready) {
	w.readied = true
	w.group.starting--
	if m.Generation < s.gen {
		s.sendIfAllowed(w, s.reloadMessage())
	}
	if w == s.sys.w {
		s.publishSys(w)
		return
	}
	s.toPool(w)
}

// backInPool puts a worker that has dropped its client back in the pool,
// unless it has served -clients-per-worker clients: then a fresh one will
// take its place.
func (s *Supervisor) backInPool(w *worker, m *control.Idle) {
	w.served = m.Served
	w.client = nil
	if s.cfg.ClientsPerWorker > 0 && int(w.served) >= s.cfg.ClientsPerWorker {
		s.log.Debug().Int("pid", w.pid).Uint32("served", w.served).Msg("pool: worker recycled")
		s.stop(w, control.StopRecycle)
		s.poolChanged()
		return
	}
	if s.pool.idleWorkers() >= 2*s.cfg.PoolMaxSpare {
		// Clients leave faster than the pool trims: this one is a spare
		// too many (prefork would stop it within seconds; now is cheaper).
		s.log.Debug().Int("pid", w.pid).Uint32("served", w.served).Msg("pool: full; worker stopped")
		s.stop(w, control.StopTrim)
		s.poolChanged()
		return
	}
	s.log.Debug().Int("pid", w.pid).Uint32("served", w.served).Msg("pool: worker idle")
	s.toPool(w)
}

func (s *Supervisor) toPool(w *worker) {
	w.idle = time.Now()
	w.group.idle = append(w.group.idle, w)
	s.poolChanged()
}

// poolChanged gives idle workers work — wills first (a takeover waits for
// them), then clients waiting for a pair —, starts workers for what still
// waits, and schedules the pool's next round.
func (s *Supervisor) poolChanged() {
	for len(s.wills) > 0 {
		w := s.pool.takeOne()
		if w == nil {
			break
		}
		c := s.wills[0]
		s.wills = s.wills[1:]
		s.publishWill(w, c)
	}
	for len(s.pending) > 0 {
		r, d := s.pool.takePair(s.groupCap())
		if r == nil {
			break
		}
		p := s.pending[0]
		s.pending = s.pending[1:]
		p.timer.Stop()
		s.startClient(p.conn, r, d)
	}
	if s.stopping {
		for _, g := range s.pool.groups {
			for len(g.idle) > 0 {
				w := g.idle[0]
				g.idle = g.idle[1:]
				s.stop(w, control.StopShutdown)
			}
		}
	}
	s.demand()
	s.armPool()
}

// demand starts workers for the clients and wills that wait, beyond what
// is starting, at most maxStarting at once.
func (s *Supervisor) demand() {
	need := 2*len(s.pending) + len(s.wills) - s.pool.idleWorkers() - s.pool.startingWorkers()
	room := maxStarting - s.pool.startingWorkers()
	if n := min(need, room); n > 0 {
		s.spawnPairs((n + 1) / 2)
	}
}

// armPool schedules the pool's next round if it is short of spares, has
// too many, or has spares to let go of once -pool-linger passes. A round
// already due sooner stands; one due later (the linger's) is moved up.
func (s *Supervisor) armPool() {
	if s.stopping {
		return
	}
	idle := s.pool.idlePairs()
	short := idle+(s.pool.startingWorkers()+1)/2 < s.wantSpare()
	long := idle > s.cfg.PoolMaxSpare || idle > 0 && s.lingering()
	var wait time.Duration
	switch {
	case short || long:
		wait = time.Second
	case idle > 0 && s.cfg.PoolLinger > 0:
		// Let go of the spares once no client has come for the linger.
		wait = max(time.Second, time.Until(s.pool.lastClient.Add(s.cfg.PoolLinger)))
	default:
		if s.pool.timer == nil {
			s.pool.rate = 1
		}
		return
	}
	due := time.Now().Add(wait)
	if s.pool.timer != nil {
		if !s.pool.due.After(due) {
			return
		}
		s.pool.timer.Stop()
	}
	s.pool.due = due
	var t *time.Timer
	t = s.later(wait, func() {
		if s.pool.timer == t { // not a round replaced after it fired
			s.poolRound()
		}
	})
	s.pool.timer = t
}

// wantSpare is how many idle pairs the pool keeps now.
func (s *Supervisor) wantSpare() int {
	if s.lingering() {
		return 0
	}
	return s.cfg.PoolMinSpare
}

// lingering reports that no client has come for -pool-linger.
func (s *Supervisor) lingering() bool {
	return s.cfg.PoolLinger > 0 && time.Since(s.pool.lastClient) >= s.cfg.PoolLinger
}

// poolRound is one round of prefork's idle maintenance, once a second
// while the pool is not where it should be.
func (s *Supervisor) poolRound() {
	s.pool.timer = nil
	if s.stopping {
		return
	}
	idle := s.pool.idlePairs()
	starting := (s.pool.startingWorkers() + 1) / 2
	switch want := s.wantSpare(); {
	case idle+starting < want:
		n := min(s.pool.rate, want-idle-starting)
		s.log.Debug().Int("idle_pairs", idle).Int("starting_pairs", starting).Int("spawning", n).Int("rate", s.pool.rate).
			Msg("pool: refilling")
		s.spawnPairs(n)
		s.pool.rate = min(2*s.pool.rate, s.cfg.PoolSpawnRate)
	case s.lingering():
		// No client for -pool-linger: the broker goes back to one process.
		s.pool.rate = 1
		n := 0
		for _, g := range s.pool.groups {
			for _, w := range g.idle {
				s.stop(w, control.StopTrim)
				n++
			}
			g.idle = nil
		}
		if n > 0 {
			s.log.Debug().Int("stopped", n).Msg("pool: no client for -pool-linger; emptied")
		}
	case idle > max(s.cfg.PoolMaxSpare, want):
		s.pool.rate = 1
		if g := s.pool.oldestIdle(); g != nil {
			a, b := g.idle[0], g.idle[1]
			g.idle = g.idle[2:]
			s.log.Debug().Int("idle_pairs", idle-1).Bool("lingering", s.lingering()).Msg("pool: shrinking")
			s.stop(a, control.StopTrim)
			s.stop(b, control.StopTrim)
		}
	default:
		s.pool.rate = 1
	}
	s.armPool()
}

// groupCap is how many clients one group's pairs may serve: its share of
// -max-clients, which its uid's queue budget was planned for.
func (s *Supervisor) groupCap() int {
	n := len(s.pool.groups)
	return (s.cfg.MaxClients + n - 1) / n
}
