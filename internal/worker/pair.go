package worker

import (
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/forkmq/forkmq/internal/core"
	"github.com/forkmq/forkmq/internal/envelope"
	"github.com/forkmq/forkmq/internal/nowait"
	"github.com/forkmq/forkmq/internal/packet"
	"github.com/forkmq/forkmq/internal/queue"
	"github.com/forkmq/forkmq/internal/spool"
)

// The pair channel is a SOCK_SEQPACKET socket pair the supervisor gives the
// two workers of a client (spawn.FdPair): the process engine's core.Own.
// The router sends its deliverer everything meant for its own client alone,
// as envelopes, one datagram each: replies (CONNACK, SUBACK, PINGRESP,
// PUBACK …), the client's acknowledgements of messages sent to it,
// retained messages after SUBACK, the client's own publications, and the
// requests to start, hold, release and close.
//
// It is separate from the client's POSIX queue on purpose: the queue is
// where other clients' publications wait, and it is bounded — when the
// client reads slowly it fills up, and publishers wait. A reply or an
// acknowledgement stuck behind them could never arrive, and an
// acknowledgement is what frees the in-flight window that lets the queue
// drain. On the pair channel nothing waits behind publications, and the
// deliverer reads it first.

// pairMax is the largest envelope sent inline on the pair channel (a
// datagram must fit the socket's send buffer); a larger one travels as a
// spool file.
const pairMax = 64 << 10

// minReplyWait bounds how long the router waits to put something for its
// own client on the pair channel: its deliverer takes it as long as the
// client reads its replies, so waiting this long means the client sends
// and never reads, or the deliverer is stuck or gone.
const minReplyWait = 10 * time.Second

// pair is the router's end of the pair channel. Like the queues, it
// batches: replies and the client's own copies wait in one datagram until
// the router is about to wait for its client (Flush), after what was routed
// to others — an acknowledgement never overtakes the routing of what it
// acknowledges. Hold, Start and Close go at once, with what waits before
// them: the deliverer must see Hold before the topic files change.
type pair struct {
	conn   *net.UnixConn
	rc     syscall.RawConn // conn's, for writes made without the scheduler
	client *clientState
	queues *queues // the routing state of the message being published
	spool  *spool.Spool
	wait   time.Duration
	batch  []byte // envelopes waiting, as a KindBatch envelope
	n      int    // how many
	first  int    // the first one's length (sent alone when it is the only one)
}

// Send implements core.Own.
func (p *pair) Send(it core.Item) error {
	var env []byte
	switch it.Kind {
	case core.Reply:
		env = envelope.AppendPacket(nil, it.Packet)
	case core.Ack:
		env = envelope.AppendAck(nil, byte(it.AckType), it.AckID)
	case core.Release:
		env = envelope.Release
	case core.Hold:
		return p.now(envelope.Hold)
	case core.Close:
		return p.now(envelope.Close)
	case core.Start:
		return p.start()
	default:
		return fmt.Errorf("pair: %s item", it.Kind)
	}
	return p.send(env)
}

// now sends an envelope at once, after everything that waits.
func (p *pair) now(env []byte) error {
	if err := p.Flush(); err != nil {
		return err
	}
	return p.write(env)
}

// Flush sends what waits: the batches for other clients' queues first,
// then this client's own.
func (p *pair) Flush() error {
	p.queues.Flush()
	if p.n == 0 {
		return nil
	}
	err := p.write(envelope.Sendable(p.batch, p.n, p.first, pairMax))
	p.batch, p.n = p.batch[:0], 0
	return err
}

// start tells the deliverer which queue to read from now on — the
// connection's own, or the persistent session's (whose mailbox it replays
// first) — and which client it serves. A connection that adopted a session gives up its own queue:
// unlinked now, its share of RLIMIT_MSGQUEUE returns as soon as the
// deliverer closes it (the supervisor's later unlink of the name finds
// nothing, which is fine).
func (p *pair) start() error {
	// The client identifier rides along, after a NUL (no MQTT string holds
	// one [MQTT-1.5.3-2]), for the deliverer's process title.
	adopt := envelope.AppendNamed(nil, envelope.KindAdopt, p.client.identity+"\x00"+truncate(p.client.id, maxTitleID))
	if err := p.now(adopt); err != nil {
		return err
	}
	if p.client.identity != p.client.queue {
		if err := queue.Unlink(p.client.queue); err != nil && !errors.Is(err, queue.ErrNotExist) {
			return fmt.Errorf("unlink the connection's queue after adopting the session's: %w", err)
		}
	}
	return nil
}

// Publish implements core.Own: a copy for the client itself goes on the
// pair channel (its deliverer writes it after what its queue held), or,
// for a persistent session at QoS 1/2, into its mailbox with the doorbell
// on the pair channel.
func (p *pair) Publish(m *core.Message, qos packet.QoS) error {
	o := p.queues.message(m)
	if qos > 0 && p.client.persistent {
		return p.queues.toMailbox(p.client.identity, o, qos, p.send)
	}
	if o.fits(pairMax) {
		return p.send(o.envelope(qos))
	}
	item, err := o.spooled(p.spool, qos)
	if err != nil {
		return err
	}
	return p.sendSpooled(item)
}

// Retained implements core.Own: a retained message after SUBACK, RETAIN
// set [MQTT-3.3.1-8]. A large payload streams from the store into the spool
// without passing through memory.
func (p *pair) Retained(topic string, qos packet.QoS, body io.Reader, size int64) error {
	mailbox := qos > 0 && p.client.persistent
	flags := publishFlags(qos, true)
	if !mailbox && 1+envelope.PublicationSize(len(topic), int(size)) <= pairMax {
		payload, err := io.ReadAll(body)
		if err != nil {
			return fmt.Errorf("read retained %q: %w", topic, err)
		}
		return p.send(envelope.AppendPublish(nil, flags, topic, payload))
	}
	head := envelope.AppendPublish(nil, flags, topic, nil)
	if mailbox {
		return p.queues.toMailboxFrom(p.client.identity, head, body, p.send)
	}
	item, err := p.spool.WriteFrom(head, body)
	if err != nil {
		return err
	}
	defer item.Release()
	return p.sendSpooled(item)
}

// sendSpooled links a spool item into the client's folder and sends its
// name; the item's temporary name goes.
func (p *pair) sendSpooled(item *spool.Item) error {
	if err := item.LinkTo(p.client.identity); err != nil {
		return err
	}
	return p.send(envelope.AppendSpooled(nil, item.Name()))
}

// send adds an envelope to what waits for the pair channel, sending that
// first if it would not fit. One too large for a datagram goes through the
// spool.
func (p *pair) send(env []byte) error {
	if len(env) > pairMax {
		item, err := p.spool.Write(env)
		if err != nil {
			return err
		}
		defer item.Release()
		return p.sendSpooled(item)
	}
	if p.n > 0 && len(p.batch)+envelope.BatchedSize(len(env)) > pairMax {
		if err := p.Flush(); err != nil {
			return err
		}
	}
	if p.n == 0 {
		p.first = len(env)
	}
	var at int64
	if p.n == 0 {
		at = time.Now().UnixNano() // routed now: what the router sends its own client
	}
	p.batch = envelope.AppendBatched(p.batch, env, at)
	p.n++
	return nil
}

// write sends a datagram on the pair channel, waiting at most the reply
// wait for room in it. The write is a raw call (package nowait), and the
// deadline is set only when there is no room: it is a timer in the runtime.
func (p *pair) write(env []byte) error {
	if p.rc == nil {
		rc, err := p.conn.SyscallConn()
		if err != nil {
			return fmt.Errorf("pair: %w", err)
		}
		p.rc = rc
	}
	var werr, derr error
	waited := false
	err := p.rc.Write(func(fd uintptr) bool {
		_, werr = nowait.Write(int(fd), env)
		if !errors.Is(werr, unix.EAGAIN) {
			return true
		}
		if !waited {
			waited = true
			if derr = p.conn.SetWriteDeadline(time.Now().Add(p.wait)); derr != nil {
				return true
			}
		}
		return false
	})
	if waited && derr == nil {
		derr = p.conn.SetWriteDeadline(time.Time{})
	}
	switch {
	case err != nil:
		return fmt.Errorf("pair: %w", err)
	case werr != nil && !errors.Is(werr, unix.EAGAIN):
		return fmt.Errorf("pair: write: %w", werr)
	case derr != nil:
		return fmt.Errorf("pair: %w", derr)
	}
	return nil
}
