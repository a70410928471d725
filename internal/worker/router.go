package worker

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/google/renameio/v2"
	"github.com/rs/zerolog"

	"github.com/forkmq/forkmq/internal/envelope"
	"github.com/forkmq/forkmq/internal/packet"
	"github.com/forkmq/forkmq/internal/protocol"
	"github.com/forkmq/forkmq/internal/queue"
	"github.com/forkmq/forkmq/internal/spawn"
	"github.com/forkmq/forkmq/internal/spool"
	"github.com/forkmq/forkmq/internal/topicdir"
)

const (
	// replyWait bounds how long the router waits to put a reply on its own
	// client's queue; the deliverer drains it continuously, so waiting this
	// long means the deliverer is stuck or gone.
	replyWait = 10 * time.Second
	// publishWait bounds how long a publisher waits on one subscriber's
	// full queue before the QoS 0 message is dropped for that subscriber.
	publishWait = 200 * time.Millisecond
	// maxWriters bounds the cache of open subscriber queues.
	maxWriters = 256
)

// router reads one client's packets and acts on them; it implements
// protocol.Engine with the topic files and the subscribers' queues.
type router struct {
	args  spawn.Args
	log   zerolog.Logger
	conn  *net.TCPConn
	in    *bufio.Reader
	own   *queue.Queue
	spool *spool.Spool

	topics  *topicdir.Dir
	matcher *topicdir.Matcher
	writers map[string]*queue.Queue

	session *protocol.Session
	buf     []byte // envelope being built
	subs    []topicdir.Subscriber
	dropped uint64
}

func newRouter(args spawn.Args, log zerolog.Logger, conn *net.TCPConn, own *queue.Queue, sp *spool.Spool) (*router, error) {
	topics, err := topicdir.Open(filepath.Join(args.StateDir, "topics"))
	if err != nil {
		return nil, fmt.Errorf("router: %w", err)
	}
	r := &router{
		args:    args,
		log:     log,
		conn:    conn,
		in:      bufio.NewReaderSize(conn, 64<<10),
		own:     own,
		spool:   sp,
		topics:  topics,
		matcher: topics.NewMatcher(),
		writers: make(map[string]*queue.Queue),
	}
	r.session = protocol.NewSession(r)
	return r, nil
}

// run is the router's loop: one packet at a time, in the order received.
func (r *router) run() spawn.ExitCode {
	end, err := r.session.Serve(r.conn, r.in, protocol.ServeConfig{
		MaxPacketSize: r.args.MaxPacketSize,
		ConnectWait:   r.args.ConnectWait,
		OnConnect:     r.connected,
		OnPacket: func(p packet.Packet) {
			if r.log.Debug().Enabled() {
				r.log.Debug().Str("client_id", r.session.ClientID()).Str("packet", p.Type().String()).Msg("packet in")
			}
		},
	})
	return r.close(end, err)
}

// connected logs the accepted client and records its identifier where the
// supervisor finds it when the client goes.
func (r *router) connected() {
	id := r.session.ClientID()
	if err := renameio.WriteFile(filepath.Join(r.args.StateDir, "clients", r.args.Queue+".id"), []byte(id), 0o600); err != nil {
		r.log.Warn().Err(err).Msg("record client id")
	}
	r.log.Info().
		Str("client_id", id).
		Str("remote", r.args.Remote).
		Int("router_pid", os.Getpid()).
		Int("deliverer_pid", r.args.Partner).
		Dur("keep_alive", r.session.KeepAlive()).
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
	ev := r.log.Info()
	switch end {
	case protocol.EndClosed, protocol.EndDisconnect:
		ev = r.log.Debug()
	case protocol.EndEngine:
		ev = r.log.Error()
	}
	ev.Err(err).Str("client_id", r.session.ClientID()).Str("remote", r.args.Remote).Str("end", end.String()).Msg("session ended")
	if end.Orderly() {
		// The deliverer writes what is queued (a refusing CONNACK
		// [MQTT-3.2.2-5]), then closes the connection.
		if sendErr := r.own.Send(envelope.Close, envelope.PrioControl, time.Now().Add(replyWait)); sendErr == nil {
			return spawn.ExitOrderly
		}
		shutdown(r.conn, r.log)
		return spawn.ExitFailure
	}
	// [MQTT-4.8.0-1] anything else closes the connection at once.
	shutdown(r.conn, r.log)
	return exitFor[end]
}

// Send implements protocol.Engine: a reply travels through the client's own
// queue, ahead of queued publications, to the deliverer.
func (r *router) Send(p packet.Packet) error {
	b, err := packet.Append(append(r.buf[:0], byte(envelope.KindPacket)), p)
	if err != nil {
		return fmt.Errorf("encode %s: %w", p.Type(), err)
	}
	r.buf = b
	if r.log.Debug().Enabled() {
		r.log.Debug().Str("client_id", r.session.ClientID()).Str("packet", p.Type().String()).Msg("packet out")
	}
	return r.sendEnvelope(r.own, r.args.Queue, b, envelope.PrioControl, replyWait)
}

// Subscribe implements protocol.Engine. This engine grants QoS 0.
func (r *router) Subscribe(filter string, _ packet.QoS) (packet.QoS, error) {
	if _, err := r.topics.Subscribe(r.args.Queue, filter, byte(packet.AtMostOnce)); err != nil {
		r.log.Warn().Err(err).Str("filter", filter).Msg("subscribe failed")
		return 0, err
	}
	return packet.AtMostOnce, nil
}

// Unsubscribe implements protocol.Engine.
func (r *router) Unsubscribe(filter string) error {
	_, err := r.topics.Unsubscribe(r.args.Queue, filter)
	return err
}

// Publish implements protocol.Engine: find the matching subscribers in the
// topic files and put the message on each one's queue, once per queue.
func (r *router) Publish(p *packet.Publish) error {
	subs, err := r.matcher.Match(p.Topic, r.subs[:0])
	if err != nil {
		return fmt.Errorf("match %q: %w", p.Topic, err)
	}
	r.subs = subs
	if len(subs) == 0 {
		return nil
	}
	// Forwarded copies carry RETAIN 0 [MQTT-3.3.1-9] and DUP 0 [MQTT-3.3.1-3];
	// the QoS is min(published, granted) [MQTT-3.3.5-1]; granted is 0 here.
	const flags = 0
	env := envelope.AppendPublish(r.buf[:0], flags, p.Topic, p.Payload)
	r.buf = env
	if len(env) <= r.args.QueueMsgSize {
		for _, s := range subs {
			r.deliver(s.Queue, env)
		}
		return nil
	}
	// Too large for a queue message: one spool file, a hard link per subscriber.
	item, err := r.spool.Write(env)
	if err != nil {
		return err
	}
	defer item.Release()
	ref := envelope.AppendSpooled(nil, item.Name())
	for _, s := range subs {
		if err := item.LinkTo(s.Queue); err != nil {
			r.log.Warn().Err(err).Str("to", s.Queue).Msg("spool link failed; message dropped for this subscriber")
			continue
		}
		if !r.deliver(s.Queue, ref) {
			item.Unlink(s.Queue)
		}
	}
	return nil
}

// deliver puts one envelope on a subscriber's queue and reports whether it
// got there. A subscriber whose queue stays full loses this QoS 0 message
// rather than slowing the publisher.
func (r *router) deliver(name string, env []byte) bool {
	q, err := r.writer(name)
	if err != nil {
		if !errors.Is(err, queue.ErrNotExist) {
			r.log.Warn().Err(err).Str("to", name).Msg("open subscriber queue")
		}
		return false
	}
	if err := r.sendEnvelope(q, name, env, envelope.PrioPublish, publishWait); err != nil {
		r.dropped++
		r.log.Warn().Err(err).Str("to", name).Uint64("dropped_total", r.dropped).Msg("QoS 0 message dropped for a subscriber")
		return false
	}
	return true
}

func (r *router) sendEnvelope(q *queue.Queue, name string, env []byte, prio uint32, wait time.Duration) error {
	if err := q.Send(env, prio, time.Now().Add(wait)); err != nil {
		return fmt.Errorf("send to queue %s: %w", name, err)
	}
	return nil
}

// writer returns an open descriptor for a subscriber's queue, from a small
// cache so that routing does not open and close a queue per message.
func (r *router) writer(name string) (*queue.Queue, error) {
	if name == r.args.Queue {
		return r.own, nil
	}
	if q, ok := r.writers[name]; ok {
		return q, nil
	}
	if len(r.writers) >= maxWriters {
		for n, q := range r.writers { // evict an arbitrary one
			q.Close()
			delete(r.writers, n)
			break
		}
	}
	q, err := queue.OpenWriter(name)
	if err != nil {
		return nil, err
	}
	r.writers[name] = q
	return q, nil
}
