package worker

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/rs/zerolog"

	"github.com/forkmq/forkmq/internal/control"
	"github.com/forkmq/forkmq/internal/core"
	"github.com/forkmq/forkmq/internal/envelope"
	"github.com/forkmq/forkmq/internal/nowait"
	"github.com/forkmq/forkmq/internal/packet"
	"github.com/forkmq/forkmq/internal/proctitle"
	"github.com/forkmq/forkmq/internal/protocol"
	"github.com/forkmq/forkmq/internal/spawn"
	"github.com/forkmq/forkmq/internal/state"
)

// clientState is what a router knows of its client, shared by its parts.
type clientState struct {
	queue      string // the connection's own queue
	id         string // the client identifier, once claimed
	identity   string // the key its subscriptions are under: queue, or the persistent session's queue
	persistent bool
}

// router is a worker in the router role, for one client: it reads the
// client's packets and runs its protocol.Connection, whose engine is a
// core.Router on the process engine's transport — the topic files, the
// subscribers' queues, the pair channel to its own deliverer, the state
// directory's session files, and the control channel for what the
// supervisor decides (the client identifier) and must know (the will, the
// session adopted).
type router struct {
	w      *worker
	hand   *control.Hand
	log    zerolog.Logger
	conn   *clientSocket
	client *clientState
	files  *files
	outlet *queues
	own    *pair

	closeOutlet func() // closes outlet, and hands the topic files back
	core        *core.Router[string]
	proto       *protocol.Connection

	takenOver atomic.Bool
	quit      chan struct{} // closed on Takeover or Stop: a claim waits no more
	quitOnce  sync.Once
	stopWatch func() // ends watch (see close); more calls do nothing
}

// serveRouter serves the client of h as its router and returns why the
// client ended. The socket and the pair channel are closed when it returns,
// and every queue descriptor it opened.
func (w *worker) serveRouter(h *control.Hand, log zerolog.Logger) spawn.ExitCode {
	// Both descriptors come raw (control.Conn.RawHands) and stay so, and
	// are closed raw: the socket waits in the worker's epoll set
	// (clientSocket), the pair channel is written raw (pair.write). Both
	// are read and written with MSG_DONTWAIT, whatever their status flags,
	// so neither costs an fcntl per client.
	conn, err := newClientSocket(h.SocketFd, w.dset)
	if err != nil {
		shutdownFd(h.SocketFd, log)
		nowait.Close(h.SocketFd)
		nowait.Close(h.PairFd)
		log.Error().Err(err).Msg("router start")
		return spawn.ExitUsage
	}
	defer conn.Close()
	defer nowait.Close(h.PairFd)
	pair := h.PairFd
	r, err := w.newRouter(h, log, conn, pair)
	if err != nil {
		conn.shutdown(log)
		log.Error().Err(err).Msg("router start")
		return spawn.ExitFailure
	}
	defer r.closeOutlet()
	r.stopWatch = r.watch()
	defer r.stopWatch()
	return r.run()
}

func (w *worker) newRouter(h *control.Hand, log zerolog.Logger, conn *clientSocket, pairFd int) (*router, error) {
	rt, err := w.openRouting()
	if err != nil {
		return nil, err
	}
	ac, err := w.loadAccess()
	if err != nil {
		return nil, fmt.Errorf("router: %w", err)
	}
	client := &clientState{queue: h.Conn, identity: h.Conn}
	r := &router{w: w, hand: h, log: log, conn: conn, client: client, quit: make(chan struct{})}
	r.outlet, r.closeOutlet = rt.outlet(w.args, log, w.spool, w.pid)
	r.files = &files{args: w.args, log: log, layout: state.Layout{Root: w.args.StateDir, Instance: w.args.Instance},
		topics: rt.index.dir, spool: w.spool, client: client, link: w.link, quit: r.quit}
	own := &pair{fd: pairFd, holdMax: w.args.MaxInflight / 2, client: client, queues: r.outlet, spool: w.spool, wait: max(minReplyWait, 2*w.args.StallTimeout)}
	r.own = own
	r.core = core.NewRouter[string](log, &clientIndex{topicFiles: rt.index, spool: w.spool}, r.outlet, own, r.files, rt.retained)
	r.core.Counts = w.slot
	r.proto = protocol.NewConnection(r.core)
	r.proto.SetLimits(protocol.Limits{MaxSubscriptions: w.args.MaxSubs, MaxTopicLength: w.args.MaxTopicLen, MaxTopicLevels: w.args.MaxTopicLevel})
	if ac != nil {
		r.proto.SetAuthorizer(ac.current)
	}
	if h.Identity != "" {
		r.proto.SetIdentity(h.Identity)
	}
	r.proto.OnRefused(func(what string, err error) {
		r.log.Warn().Err(err).Str("client_id", r.proto.ClientID()).Str("request", what).Msg("request refused")
	})
	return r, nil
}

// run is the router's loop: one packet at a time, in the order received.
func (r *router) run() spawn.ExitCode {
	defer r.w.bufs.routerDone()
	end, err := r.proto.Serve(r.conn, r.w.bufs.routerIn(r.core.Counts.Reader(r.conn)), protocol.ServeConfig{
		MaxPacketSize: r.w.args.MaxPacketSize,
		ConnectWait:   r.w.args.ConnectWait,
		OnConnect:     r.connected,
		Idle:          r.own.Flush,
		OnPacket: func(p packet.Packet) {
			if r.log.Debug().Enabled() {
				r.log.Debug().Str("client_id", r.proto.ClientID()).Str("packet", p.Type().String()).Msg("packet in")
			}
		},
	})
	return r.close(end, err)
}

// connected logs the connection once CONNACK is on its way, and shows the
// client in the process title.
func (r *router) connected() {
	r.w.title.Set(proctitle.Format("forkmq:", "router", r.proto.ClientID(), r.hand.Remote), "forkmq-router")
	r.core.Counts.Connected(r.proto.ClientID(), r.hand.Remote)
	r.log.Info().
		Str("client_id", r.proto.ClientID()).
		Str("remote", r.hand.Remote).
		Int("router_pid", r.w.pid).
		Int("deliverer_pid", int(r.hand.Partner)).
		Dur("keep_alive", r.proto.KeepAlive()).
		Bool("persistent", r.client.persistent).
		Str("session", r.client.identity).
		Msg("client connected")
}

// watch takes the supervisor's orders while the client is served: a
// takeover or a stop ends the connection (its will stays the supervisor's
// to publish), a reload re-reads the access files. The returned function
// ends the watch; after it no order is taken from the inbox here.
func (r *router) watch() (stop func()) {
	done, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		for {
			select {
			case <-done:
				return
			case m := <-r.w.link.inbox:
				switch m := m.(type) {
				case *control.Takeover:
					r.log.Info().Str("by", m.By).Msg("client id claimed by a newer connection; ending this one")
					r.takenOver.Store(true)
					r.end()
				case *control.Stop:
					r.w.stopping.Store(true)
					r.end()
				case *control.Reload:
					r.w.reload(m)
				default:
					r.log.Error().Str("control_message", m.Type().String()).Msg("control channel: unexpected order while serving")
					r.end()
				}
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(done)
			<-exited
		})
	}
}

// end closes the connection from outside the read loop, which then ends.
func (r *router) end() {
	r.quitOnce.Do(func() { close(r.quit) })
	r.conn.shutdown(r.log)
}

// closeInOrder has the deliverer write what is queued (a refusing CONNACK
// [MQTT-3.2.2-5]) and close the connection. A router that has claimed its
// client goes back to the pool as it asks (link.endInPool): the close
// request says so (envelope.AppendClosePooled), and the deliverer tells the
// supervisor for both (control.PartnerIdle), which then wakes once for the
// pair's end instead of once for each worker. The watch ends first, so
// that no order meant for the pool worker this one is now is taken as one
// for the client; the client's descriptors are closed after the request,
// before the worker takes its next order from inbox.
func (r *router) closeInOrder() spawn.ExitCode {
	r.stopWatch()
	env := envelope.Close
	pooled := r.w.link.endInPool(r.w.served + 1)
	if pooled {
		env = envelope.AppendClosePooled(nil, r.w.link.sentCount())
	}
	// What waits goes first, then the request (core.Router.Close's
	// order; the item has nothing else to say).
	err := r.own.now(env)
	if err == nil {
		return spawn.ExitOrderly
	}
	r.log.Debug().Err(err).Msg("close request not sent")
	r.conn.shutdown(r.log)
	if pooled {
		// The deliverer will not say it: say it here, what the track
		// already has (served1 sends nothing for a worker back in the
		// pool).
		if err := r.w.link.conn.SendAll(&control.CleanupDone{End: spawn.ExitFailure}, &control.Idle{Served: r.w.served + 1}); err != nil {
			r.log.Error().Err(err).Msg("control channel: end not said")
		}
	}
	return spawn.ExitFailure
}

// exitFor maps why the session ended to the code the supervisor is told.
var exitFor = map[protocol.End]spawn.ExitCode{
	protocol.EndDisconnect:     spawn.ExitOrderly,
	protocol.EndRefused:        spawn.ExitOrderly,
	protocol.EndProtocol:       spawn.ExitProtocol,
	protocol.EndKeepAlive:      spawn.ExitKeepAlive,
	protocol.EndConnectTimeout: spawn.ExitConnectWait,
	protocol.EndClosed:         spawn.ExitSocketClosed,
	protocol.EndEngine:         spawn.ExitFailure,
}

// close ends the connection the way the session's end calls for, logs why,
// and returns the code that tells the supervisor.
func (r *router) close(end protocol.End, err error) spawn.ExitCode {
	if r.takenOver.Load() || r.w.stopping.Load() {
		core.LogEnd(r.log, end, err, r.proto.ClientID(), r.hand.Remote)
		r.outlet.Flush() // what it published before is routed
		r.conn.shutdown(r.log)
		if r.takenOver.Load() {
			return spawn.ExitTakenOver
		}
		return spawn.ExitStopped
	}
	core.LogEnd(r.log, end, err, r.proto.ClientID(), r.hand.Remote)
	if end.Orderly() {
		return r.closeInOrder()
	}
	// [MQTT-4.8.0-1] anything else closes the connection at once — after
	// what it published is routed.
	r.own.queues.Flush()
	r.conn.shutdown(r.log)
	return exitFor[end]
}
