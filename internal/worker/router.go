package worker

import (
	"bufio"
	"fmt"
	"net"
	"os"

	"github.com/rs/zerolog"

	"github.com/forkmq/forkmq/internal/core"
	"github.com/forkmq/forkmq/internal/packet"
	"github.com/forkmq/forkmq/internal/protocol"
	"github.com/forkmq/forkmq/internal/retain"
	"github.com/forkmq/forkmq/internal/spawn"
	"github.com/forkmq/forkmq/internal/spool"
	"github.com/forkmq/forkmq/internal/state"
	"github.com/forkmq/forkmq/internal/topicdir"
)

// clientState is what a router knows of its client, shared by its parts.
type clientState struct {
	queue      string // the connection's own queue
	identity   string // the key its subscriptions are under: queue, or the persistent session's queue
	persistent bool
}

// router is the router process of one client: it reads the client's
// packets, runs its protocol.Connection, whose engine is a core.Router on
// the process engine's transport — the topic files, the subscribers'
// queues, the pair channel to its own deliverer, and the state directory's
// files.
type router struct {
	args   spawn.Args
	log    zerolog.Logger
	conn   *net.TCPConn
	client *clientState
	files  *files
	own    *pair
	core   *core.Router[string]
	proto  *protocol.Connection
}

// openRouting opens what routing needs: the topic files, the retained store
// and the subscribers' queues. A will publisher needs only this.
func openRouting(args spawn.Args, log zerolog.Logger, sp *spool.Spool) (*topicFiles, *queues, *retain.Store, error) {
	layout := state.Layout{Root: args.StateDir, Instance: args.Instance}
	topics, err := topicdir.Open(layout.Topics())
	if err != nil {
		return nil, nil, nil, fmt.Errorf("router: %w", err)
	}
	retained, err := retain.Open(layout.Retained())
	if err != nil {
		return nil, nil, nil, fmt.Errorf("router: %w", err)
	}
	out := newQueues(args, log, sp)
	return newTopicFiles(topics, out.writers.forgetSessions), out, retained, nil
}

func newRouter(args spawn.Args, log zerolog.Logger, conn *net.TCPConn, pairConn *net.UnixConn, sp *spool.Spool) (*router, error) {
	index, outlet, retained, err := openRouting(args, log, sp)
	if err != nil {
		return nil, err
	}
	client := &clientState{queue: args.Queue, identity: args.Queue}
	r := &router{args: args, log: log, conn: conn, client: client}
	r.files = &files{args: args, log: log, layout: state.Layout{Root: args.StateDir, Instance: args.Instance},
		topics: index.dir, spool: sp, client: client}
	own := &pair{conn: pairConn, client: client, queues: outlet, spool: sp, wait: max(minReplyWait, 2*args.StallTimeout)}
	r.own = own
	r.core = core.NewRouter[string](log, index, outlet, own, r.files, retained)
	r.core.Counts = attachSlot(args, log)
	r.proto = protocol.NewConnection(r.core)
	r.proto.SetLimits(protocol.Limits{MaxSubscriptions: args.MaxSubs, MaxTopicLength: args.MaxTopicLen, MaxTopicLevels: args.MaxTopicLevel})
	if ac, err := newAccess(args, log); err != nil {
		return nil, fmt.Errorf("router: %w", err)
	} else if ac != nil {
		r.proto.SetAuthorizer(ac.current)
	}
	r.proto.OnRefused(func(what string, err error) {
		r.log.Warn().Err(err).Str("client_id", r.proto.ClientID()).Str("request", what).Msg("request refused")
	})
	return r, nil
}

// run is the router's loop: one packet at a time, in the order received.
func (r *router) run() spawn.ExitCode {
	end, err := r.proto.Serve(r.conn, bufio.NewReaderSize(r.core.Counts.Reader(r.conn), 64<<10), protocol.ServeConfig{
		MaxPacketSize: r.args.MaxPacketSize,
		ConnectWait:   r.args.ConnectWait,
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

// connected logs the connection once CONNACK is on its way.
func (r *router) connected() {
	r.core.Counts.Connected(r.proto.ClientID(), r.args.Remote)
	r.log.Info().
		Str("client_id", r.proto.ClientID()).
		Str("remote", r.args.Remote).
		Int("router_pid", os.Getpid()).
		Int("deliverer_pid", r.args.Partner).
		Dur("keep_alive", r.proto.KeepAlive()).
		Bool("persistent", r.client.persistent).
		Str("session", r.client.identity).
		Msg("client connected")
}

// exitFor maps why the session ended to the router's exit code.
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
// and returns the exit code that tells the supervisor.
func (r *router) close(end protocol.End, err error) spawn.ExitCode {
	defer r.files.releaseClientID()
	core.LogEnd(r.log, end, err, r.proto.ClientID(), r.args.Remote)
	if end.Orderly() {
		// The deliverer writes what is queued (a refusing CONNACK
		// [MQTT-3.2.2-5]), then closes the connection.
		if sendErr := r.core.Close(); sendErr == nil {
			return spawn.ExitOrderly
		}
		shutdown(r.conn, r.log)
		return spawn.ExitFailure
	}
	// [MQTT-4.8.0-1] anything else closes the connection at once — after
	// what it published is routed.
	r.own.queues.Flush()
	shutdown(r.conn, r.log)
	return exitFor[end]
}
