package worker

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"syscall"
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
	r.conn.SetReadDeadline(time.Now().Add(r.args.ConnectWait))
	for {
		p, err := packet.Read(r.in, r.args.MaxPacketSize)
		if err != nil {
			return r.readFailed(err)
		}
		if r.log.Debug().Enabled() {
			r.log.Debug().Str("client_id", r.session.ClientID()).Str("packet", p.Type().String()).Msg("packet in")
		}
		wasConnected := r.session.Connected()
		err = r.session.Handle(p)
		if !wasConnected && r.session.Connected() {
			r.connected()
		}
		if err != nil {
			return r.closeFor(err)
		}
		if d := r.session.ReadDeadline(); d > 0 {
			r.conn.SetReadDeadline(time.Now().Add(d))
		} else {
			r.conn.SetReadDeadline(time.Time{})
		}
	}
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

// readFailed turns a failed read into the right goodbye and exit code.
func (r *router) readFailed(err error) spawn.ExitCode {
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		shutdown(r.conn, r.log)
		if !r.session.Connected() {
			r.log.Info().Str("remote", r.args.Remote).Dur("wait", r.args.ConnectWait).Msg("no CONNECT in time; closing")
			return spawn.ExitConnectWait
		}
		// [MQTT-3.1.2-24] silent for 1.5 × keep-alive: disconnect.
		r.log.Info().Str("client_id", r.session.ClientID()).Dur("keep_alive", r.session.KeepAlive()).Msg("keep-alive expired; closing")
		return spawn.ExitKeepAlive
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET), errors.Is(err, net.ErrClosed):
		shutdown(r.conn, r.log)
		return spawn.ExitSocketClosed
	}
	// A decoding error: the session decides between a CONNACK and a close.
	r.log.Info().Err(err).Str("client_id", r.session.ClientID()).Str("remote", r.args.Remote).Msg("bad packet; closing")
	return r.closeFor(r.session.DecodeError(err))
}

// closeFor ends the connection for a session error.
func (r *router) closeFor(err error) spawn.ExitCode {
	switch {
	case errors.Is(err, protocol.ErrDisconnect), errors.Is(err, protocol.ErrRefused):
		// The deliverer writes what is queued (a refusing CONNACK), then
		// closes the connection [MQTT-3.2.2-5].
		if errors.Is(err, protocol.ErrRefused) {
			r.log.Info().Err(err).Str("remote", r.args.Remote).Msg("connection refused")
		}
		if sendErr := r.own.Send(envelope.Close, envelope.PrioControl, time.Now().Add(replyWait)); sendErr != nil {
			shutdown(r.conn, r.log)
			return spawn.ExitFailure
		}
		return spawn.ExitOrderly
	case errors.Is(err, protocol.ErrEngine):
		r.log.Error().Err(err).Str("client_id", r.session.ClientID()).Msg("closing after internal error")
		shutdown(r.conn, r.log)
		return spawn.ExitFailure
	default:
		// [MQTT-4.8.0-1] a protocol violation closes the connection.
		r.log.Info().Err(err).Str("client_id", r.session.ClientID()).Str("remote", r.args.Remote).Msg("protocol violation; closing")
		shutdown(r.conn, r.log)
		return spawn.ExitProtocol
	}
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
