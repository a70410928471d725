package supervisor

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/forkmq/forkmq/internal/admission"
	"github.com/forkmq/forkmq/internal/control"
	"github.com/forkmq/forkmq/internal/listener"
	"github.com/forkmq/forkmq/internal/nowait"
	"github.com/forkmq/forkmq/internal/queue"
	"github.com/forkmq/forkmq/internal/spawn"
)

// takeoverWait bounds how long a claim of a client identifier waits for
// the connection holding it to end, be cleaned up and have its will
// published; past it the claim is refused and the old pair killed.
const takeoverWait = 5 * time.Second

// client is one connection, the pair of workers serving it, and what the
// supervisor keeps for it: the client identifier it was granted, its will.
type client struct {
	conn      string // its queue's name, forkmq.<instance>.<seq>
	seq       uint64
	slot      int // its slot in the record of connections (stateDir.record); -1: none
	remote    string
	started   time.Time
	group     *group
	router    *worker
	deliverer *worker
	// delivery is the deliverer's Hand, kept from accept until the answer
	// to the router's claim (handDeliverer): nil once sent, or once the
	// deliverer was let go without it (releaseDeliverer).
	delivery *control.Hand
	// A worker is done with the client once it said CleanupDone, or died.
	routerDone, delivererDone bool
	partnerTimer              *time.Timer // stops a worker that does not follow its partner's end

	id         string  // the client identifier it claimed
	granted    bool    // it holds id (s.owners)
	claiming   *client // the connection whose identifier it waits for
	claimant   *client // the newer connection waiting for its identifier
	claimTimer *time.Timer

	will          *os.File // announced by its router, published if it ends abnormally
	willWorker    *worker
	willPublished bool
	session       string // the persistent session it adopted

	// pumped is the supervisor's own plain end of a TLS or WebSocket
	// session's socketpair, nil for TCP: closed by finish.
	pumped *listener.Conn

	reason        string // why it ended (see noteEnd)
	genericReason bool
}

// pendingConn is an accepted connection waiting for a pair of workers.
type pendingConn struct {
	conn  net.Conn
	timer *time.Timer
}

// admit decides on a new connection: it is refused at the accept rate's or
// -max-clients' limit, handed to an idle pair, or kept waiting for one.
func (s *Supervisor) admit(conn net.Conn) {
	if s.stopping {
		conn.Close()
		return
	}
	now := time.Now()
	s.pool.lastClient = now
	if err := s.gate.Admit(now, len(s.clients)+len(s.pending)); err != nil {
		s.refuser.Refuse(conn, err)
		return
	}
	if r, d := s.pool.takePair(s.groupCap()); r != nil {
		s.startClient(conn, r, d)
	} else {
		p := &pendingConn{conn: conn}
		p.timer = s.later(pendingWait, func() { s.pendingTimedOut(p) })
		s.pending = append(s.pending, p)
	}
	s.poolChanged()
}

// pendingTimedOut refuses a connection that waited too long for a pair.
func (s *Supervisor) pendingTimedOut(p *pendingConn) {
	for i, q := range s.pending {
		if q == p {
			s.pending = append(s.pending[:i], s.pending[i+1:]...)
			s.refuser.Refuse(p.conn, &admission.LimitError{Limit: "worker pool",
				Fix: "raise -pool-min-spare (or -pool-spawn-rate), or check the workers start (the log says why not)",
				Err: fmt.Errorf("no worker pair ready within %v", pendingWait)})
			return
		}
	}
}

// startClient sets a client up and hands it to an idle pair: a record,
// the pair channel, then the router's Hand (the deliverer's
// follows the answer to the router's claim, see handDeliverer).
// A failure before the Hands undoes what was done, puts the pair back and
// refuses the client with CONNACK 3, naming the limit.
func (s *Supervisor) startClient(conn net.Conn, r, d *worker) {
	s.seq++
	c := &client{conn: s.state.ConnQueue(strconv.FormatUint(s.seq, 10)), seq: s.seq, slot: -1, remote: conn.RemoteAddr().String(),
		started: time.Now(), group: r.group, router: r, deliverer: d}
	if err := s.handOver(c, conn); err != nil {
		s.state.forget(c.slot) // nothing else was made: no worker had the client
		r.idle, d.idle = time.Now(), time.Now()
		r.group.idle = append(r.group.idle, d, r)
		s.refuser.Refuse(conn, err)
		return
	}
	if lc, ok := conn.(*listener.Conn); ok && lc.Pumped() {
		c.pumped = lc // closed when the client ends: closing it ends the session
	} else {
		conn.Close() // the workers hold the socket now (an accepted descriptor was given away: nothing to close)
	}
	s.log.Debug().Str("queue", c.conn).Str("remote", c.remote).Int("router_pid", r.pid).Int("deliverer_pid", d.pid).
		Msg("client handed to a pair")
}

// handOver makes the pair channel and hands the router its end and the
// socket; the deliverer's Hand is kept in c.delivery. The supervisor's
// copies of the socket and of the pair channel's ends are plain
// descriptors, closed raw once sent (closeHand): it only passes them on,
// and as *os.Files each end cost an fcntl (os.NewFile asks the mode) and
// each close a call the scheduler is told of — the first after the
// supervisor was idle wakes sysmon (package nowait). 5 fcntl and 4 closes
// per connection were 1 and 3, raw, after (strace -c of the supervisor in
// bin/floor's connect scenario; docs/ARCHITECTURE.md, "The accept path, as
// descriptors").
func (s *Supervisor) handOver(c *client, conn net.Conn) (err error) {
	if c.slot, err = s.state.record(c.seq); err != nil {
		c.slot = -1
		return err
	}
	// The queue is the router's to create, under its uid, once the client
	// has claimed its identifier (see control.Hand), and so is its spool
	// folder, before its first subscription (spool.AddQueue); the record
	// above lets a sweep find them whatever happens.
	//
	// The pair channel: a socket pair, one end for each worker.
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return spawnLimit(os.NewSyscallError("socketpair", err))
	}
	delivererEnd, routerEnd := pair[0], pair[1]
	// Last: a connection the listener accepted gives its descriptor away
	// here, and nothing after may fail and refuse it (the refusal writes
	// CONNACK to it).
	sock, identity, err := handedSocket(conn)
	if err != nil {
		nowait.Close(delivererEnd)
		nowait.Close(routerEnd)
		return err
	}

	// From here on the client is its workers': a Hand that fails kills its
	// worker, and the client ends like one whose worker died.
	s.clients[c.conn] = c
	c.group.clients++
	c.router.client, c.deliverer.client = c, c
	hand := func(role control.Role, partner *worker, pair int) *control.Hand {
		return &control.Hand{Role: role, Conn: c.conn, Remote: c.remote, Identity: identity, Generation: s.gen,
			Partner: uint32(partner.pid), SocketFd: sock, PairFd: pair}
	}
	// The deliverer's Hand waits for the answer to the router's claim
	// (handDeliverer): until the client has sent CONNECT there is nothing
	// to write, and sent after the Grant it finds CONNACK on the pair
	// channel as it starts — one wake-up of it per connection fewer than
	// being handed the client now and woken again for CONNACK.
	c.delivery = hand(control.RoleDeliverer, c.router, delivererEnd)
	if err := s.send(c.router, hand(control.RoleRouter, c.deliverer, routerEnd)); err != nil {
		s.kill(c.router)
	}
	nowait.Close(routerEnd) // the socket stays open for the deliverer's Hand
	return nil
}

// closeHand closes the supervisor's copies of what a kept Hand carries
// (raw: closing a socket without SO_LINGER does not wait).
func closeHand(h *control.Hand) {
	nowait.Close(h.SocketFd)
	nowait.Close(h.PairFd)
}

// handDeliverer sends the deliverer the client kept for it, right after
// the answer to the router's claim (the Grant, at once or after a
// takeover, or a Refuse), or when the router ended with something left
// for the deliverer to write (a refusing CONNACK). Handed after the
// answer, it usually finds CONNACK on the pair channel as it starts. The
// supervisor's copies of the socket and the pair channel's end are closed
// then.
func (s *Supervisor) handDeliverer(c *client) {
	h := c.delivery
	if h == nil {
		return
	}
	c.delivery = nil
	defer closeHand(h)
	if c.delivererDone {
		return // it died waiting
	}
	if err := s.send(c.deliverer, h); err != nil {
		s.kill(c.deliverer)
	}
}

// releaseDeliverer lets the deliverer of a client whose router ended
// before claiming an identifier, with nothing left to write (a malformed
// first packet, no CONNECT in time, a router that died), go back to the
// pool without ever being handed the client: it never saw it.
func (s *Supervisor) releaseDeliverer(c *client) {
	h := c.delivery
	if h == nil {
		return
	}
	c.delivery = nil
	closeHand(h)
	d := c.deliverer
	if c.delivererDone {
		return
	}
	c.delivererDone = true
	d.client = nil
	if d.reaped || d.stopSent {
		return
	}
	s.toPool(d)
}

// claim decides on a router's claim of a client identifier [MQTT-3.1.4-2]:
// granted at once when nobody holds it; otherwise the connection holding
// it is taken over, and the claim is granted once that connection is gone,
// cleaned up and its will published (finish). The newest claim wins.
func (s *Supervisor) claim(w *worker, m *control.Claim) {
	c := w.client
	if c == nil || c.router != w {
		s.kill(w)
		return
	}
	c.id = m.ClientID
	if s.stopping {
		s.refuse(c, control.RefuseShutdown)
		return
	}
	owner := s.owners[c.id]
	if owner == nil {
		s.grant(c, false)
		return
	}
	if prev := owner.claimant; prev != nil {
		prev.claimTimer.Stop()
		prev.claiming = nil
		s.refuse(prev, control.RefuseBusy)
	}
	owner.claimant, c.claiming = c, owner
	c.claimTimer = s.later(takeoverWait, func() { s.takeoverTimedOut(owner, c) })
	s.log.Info().Str("client_id", c.id).Str("previous", owner.conn).Int("previous_router_pid", owner.router.pid).
		Str("by", c.remote).Msg("client id already connected; ending the earlier connection")
	if !owner.routerDone {
		s.sendIfAllowed(owner.router, &control.Takeover{By: c.remote})
	}
}

// grant gives c its client identifier.
func (s *Supervisor) grant(c *client, replaced bool) {
	if s.sendIfAllowed(c.router, &control.Grant{ClientID: c.id, Replaced: replaced}) {
		s.owners[c.id], c.granted = c, true
	}
	s.handDeliverer(c)
}

// refuse refuses c's claim.
func (s *Supervisor) refuse(c *client, why control.RefuseReason) {
	s.sendIfAllowed(c.router, &control.Refuse{ClientID: c.id, Reason: why})
	s.handDeliverer(c)
}

// takeoverTimedOut refuses a claim whose old connection did not end in
// time, and kills that connection's workers.
func (s *Supervisor) takeoverTimedOut(owner, c *client) {
	if owner.claimant != c {
		return
	}
	owner.claimant, c.claiming = nil, nil
	s.log.Error().Str("client_id", c.id).Str("previous", owner.conn).Dur("waited", takeoverWait).
		Msg("the earlier connection did not end in time; refusing the new one and killing the old one's workers")
	s.refuse(c, control.RefuseTimeout)
	for _, w := range []*worker{owner.router, owner.deliverer, owner.willWorker} {
		if w != nil && w.client == owner {
			s.kill(w)
		}
	}
}

// keepWill keeps (or, nil, discards) the will a router announced.
func (s *Supervisor) keepWill(w *worker, m *control.Will) {
	c := w.client
	if c == nil || c.router != w {
		closeFiles(m)
		return
	}
	if c.will != nil {
		c.will.Close()
		c.will = nil
	}
	if m != nil {
		c.will = m.File
	}
}

// cleanupDone notes that a worker has dropped its client.
func (s *Supervisor) cleanupDone(w *worker, m *control.CleanupDone) {
	c := w.client
	switch {
	case c == nil:
	case c.willWorker == w:
		if m.End != spawn.ExitOrderly {
			s.log.Error().Str("queue", c.conn).Int("pid", w.pid).Str("exit", m.End.String()).Msg("will not published")
			c.willPublished = false
		}
		s.finish(c)
	default:
		if w == c.router {
			// A router that ended before claiming an identifier left the
			// deliverer something to write only with an orderly end (a
			// refusing CONNACK); otherwise it shut the socket down.
			if m.End == spawn.ExitOrderly {
				s.handDeliverer(c)
			} else {
				s.releaseDeliverer(c)
			}
		}
		role := w.track.Role.String()
		s.workerDone(c, w, role+": "+m.End.String(), genericEnd(m.End),
			w == c.deliverer && m.End == spawn.ExitOrderly)
	}
}

// workerLost handles a worker that died while it served c.
func (s *Supervisor) workerLost(c *client, w *worker, reason string) {
	if c.willWorker == w {
		s.log.Error().Str("queue", c.conn).Int("pid", w.pid).Str("exit", reason).Msg("will worker failed")
		c.willPublished = false
		s.finish(c)
		return
	}
	if w == c.router {
		s.releaseDeliverer(c) // nothing left that it could write
	}
	s.workerDone(c, w, reason, false, false)
}

// workerDone notes that one worker of c is done with it. The other follows
// by itself (the socket is shut down, or the pair channel closed); one that
// does not within the grace period is stopped. Once both are done the
// client's state is removed.
func (s *Supervisor) workerDone(c *client, w *worker, reason string, generic, quiet bool) {
	done, partner, partnerDone := &c.routerDone, c.deliverer, c.delivererDone
	if w == c.deliverer {
		done, partner, partnerDone = &c.delivererDone, c.router, c.routerDone
	}
	if *done {
		return
	}
	*done = true
	// The first end usually tells why the connection ended, but a telling
	// one (a slow consumer, a protocol error, a signal) beats a generic one
	// (the socket closed, a stop), whichever came first; the deliverer's
	// orderly end after a close request says nothing new.
	if !quiet && (c.reason == "" || c.genericReason && !generic) {
		c.reason, c.genericReason = reason, generic
	}
	if !partnerDone {
		if w.reaped {
			s.stop(partner, control.StopPartner)
		} else {
			c.partnerTimer = s.later(s.cfg.StopGrace, func() {
				if !c.routerDone || !c.delivererDone {
					s.stop(partner, control.StopPartner)
				}
			})
		}
		return
	}
	if c.partnerTimer != nil {
		c.partnerTimer.Stop()
	}
	s.cleanup(c)
}

// genericEnd reports an end that says little about why the connection
// ended: the socket closed under the worker, its partner ended it, or the
// supervisor stopped it.
func genericEnd(e spawn.ExitCode) bool {
	return e == spawn.ExitSocketClosed || e == spawn.ExitStopped || e == spawn.ExitPartnerEnded
}

// cleanup removes what a gone connection leaves: topic entries first (so no
// publisher routes to it any more), then the queue and spool. A persistent
// session the connection adopted keeps its subscriptions and mailbox.
//
// Most connections leave nothing but their queue: no topic record (they
// never subscribed, or unsubscribed everything), no spool folder (made
// before the first subscription) or an empty one. Their cleanup is three
// system calls that find nothing or unlink — a lookup of the topic record,
// mq_unlink, rmdir —, none of which waits on the disk or a lock, so the
// loop makes them itself and goes on at once. The rest — entries removed
// under the topic directory's lock, which any router may hold, and copies
// still in the spool folder (a RemoveAll that may retry) — runs off the
// loop, which hears back through s.cleaned: a goroutine and two channel
// hand-offs per connection that only such connections pay.
//
// The supervisor looks at the files rather than being told what the
// client made (a field in CleanupDone or PartnerIdle): the look is as
// right after a worker was killed mid-SUBSCRIBE as after an orderly end,
// and costs two lookups that find nothing.
func (s *Supervisor) cleanup(c *client) {
	if !s.topics.HasRecord(c.conn) {
		s.unlinkQueue(c.conn)
		if s.spool.RemoveEmptyQueue(c.conn) {
			s.cleared(c)
			return
		}
	}
	s.cleaning++
	go func() {
		s.cleaners <- struct{}{}
		s.removeConnState(c.conn)
		<-s.cleaners
		s.cleaned <- c
	}()
}

// cleanedUp continues after the loop heard that a connection's state is
// gone (cleanup).
func (s *Supervisor) cleanedUp(c *client) {
	s.cleaning--
	s.cleared(c)
}

// cleared continues after a connection's state is gone: if it left a will
// (it ended without DISCONNECT), a pool worker publishes it before the
// records go [MQTT-3.1.2-8].
func (s *Supervisor) cleared(c *client) {
	if c.will != nil {
		s.wills = append(s.wills, c)
		s.poolChanged()
		return
	}
	s.finish(c)
}

// publishWill hands c's will to an idle worker.
func (s *Supervisor) publishWill(w *worker, c *client) {
	c.willWorker, w.client = w, c
	err := s.send(w, &control.PublishWill{Conn: c.conn, File: c.will})
	c.will.Close()
	c.will = nil
	if err != nil {
		s.log.Error().Err(err).Str("queue", c.conn).Msg("will not published: the worker took no orders")
		s.kill(w)
		s.finish(c)
		return
	}
	c.willPublished = true
}

// finish removes the connection's records, logs its end, and grants its
// client identifier to the connection that waits for it.
func (s *Supervisor) finish(c *client) {
	if _, ok := s.clients[c.conn]; !ok {
		return
	}
	delete(s.clients, c.conn)
	c.group.clients--
	s.releaseDeliverer(c) // both workers are gone or done: nobody to hand it to
	if c.pumped != nil {
		c.pumped.Close()
	}
	s.state.forget(c.slot)
	if o := c.claiming; o != nil && o.claimant == c {
		o.claimant = nil
		c.claimTimer.Stop()
	}
	if c.granted && s.owners[c.id] == c {
		delete(s.owners, c.id)
	}
	s.log.Info().
		Str("client_id", c.id).
		Str("remote", c.remote).
		Int("router_pid", c.router.pid).
		Int("deliverer_pid", c.deliverer.pid).
		Str("conn", c.conn).
		Str("queue", c.conn).
		Str("reason", cmp.Or(c.reason, "deliverer: orderly")).
		Bool("will_published", c.willPublished).
		Dur("connected_for", time.Since(c.started)).
		Msg("client disconnected")
	if n := c.claimant; n != nil {
		c.claimant, n.claiming = nil, nil
		n.claimTimer.Stop()
		s.grant(n, true)
	}
}

// removeConnState removes a connection's topic entries, queue and spool.
func (s *Supervisor) removeConnState(name string) {
	if err := s.topics.RemoveQueue(name); err != nil {
		s.log.Error().Err(err).Str("queue", name).Msg("remove topic entries")
	}
	s.unlinkQueue(name)
	if err := s.spool.RemoveQueue(name); err != nil {
		s.log.Error().Err(err).Str("queue", name).Msg("remove spool")
	}
}

// unlinkQueue unlinks a connection's queue, if its router made it.
func (s *Supervisor) unlinkQueue(name string) {
	if err := queue.Unlink(name); err != nil && !errors.Is(err, queue.ErrNotExist) {
		s.log.Error().Err(err).Str("queue", name).Msg("unlink queue")
	}
}
