package worker

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
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
//
// The client's PUBACK of a clean session only frees a place in the
// deliverer's window, and each one sent alone wakes the deliverer a second
// time per message (the subscriber's deliverer woke 1.7 times a message at
// the seed's paced load). So a batch of nothing but those waits
// (is held) until holdMax of them have gathered, until anything else goes
// with them, or until the deliverer says it is hungry: it writes a byte on
// its end of the pair channel, before it writes to the socket, while
// messages wait for room in its window (core.Deliverer.WindowFull; once
// until the router next sends it anything), and the router reads those
// bytes, without waiting, whenever acknowledgements wait. The window thus
// never stalls on held acknowledgements: with fewer than holdMax held (at
// most half the window), at least one message is still unacknowledged,
// whose acknowledgement flushes them all once the deliverer is hungry.
// What a persistent session's client acknowledges is never held: it
// settles mailbox entries, and a killed broker must not resend what the
// client has acknowledged [MQTT-4.4.0-1]. Nor is anything once a SUBACK of
// the connection granted QoS 2: an acknowledgement of the wrong kind for
// its flow (PUBACK of a QoS 2 message, PUBCOMP of a QoS 1 one or before
// PUBREL) breaks the protocol and must close the connection
// [MQTT-4.8.0-1], which only the deliverer can tell — and until QoS 2 is
// granted every message the client is sent is QoS 0 or 1, so a PUBACK is
// the right kind for any flow it names. PUBREC and PUBCOMP always go.
type pair struct {
	fd      int  // the router's end, non-blocking, not in the runtime's poller (see write)
	holdMax int  // how many acknowledgements may be held (below 2: none)
	acks    int  // how many of the envelopes waiting are acknowledgements that may be held
	qos2    bool // a SUBACK granted QoS 2: a PUBACK may be of the wrong kind for its flow
	client  *clientState
	queues  *queues // the routing state of the message being published
	spool   *spool.Spool
	wait    time.Duration
	batch   []byte // envelopes waiting, as a KindBatch envelope
	n       int    // how many
	first   int    // the first one's length (sent alone when it is the only one)
}

// Send implements core.Own.
func (p *pair) Send(it core.Item) error {
	var env []byte
	switch it.Kind {
	case core.Reply:
		p.noteGrants(it.Packet)
		env = envelope.AppendPacket(nil, it.Packet)
	case core.Ack:
		env = envelope.AppendAck(nil, byte(it.AckType), it.AckID)
		if err := p.send(env); err != nil {
			return err
		}
		if it.AckType == packet.TypePuback && !p.client.persistent && !p.qos2 {
			p.acks++
		}
		return nil
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
	if err := p.flush(true); err != nil {
		return err
	}
	return p.write(env)
}

// Flush sends what waits: the batches for other clients' queues first,
// then this client's own — unless it is acknowledgements the deliverer can
// do without for now (see pair).
func (p *pair) Flush() error { return p.flush(false) }

func (p *pair) flush(force bool) error {
	p.queues.Flush()
	if p.n == 0 {
		return nil
	}
	// The deliverer's bytes are read whenever acknowledgements wait, so
	// that they do not pile up while it is sent batches with other things.
	if p.acks > 0 && !p.hungry() && !force && p.acks == p.n && p.n < p.holdMax {
		return nil
	}
	err := p.write(envelope.Sendable(p.batch, p.n, p.first, pairMax))
	p.batch, p.n, p.acks = p.batch[:0], 0, 0
	return err
}

// noteGrants notes whether a SUBACK reply grants QoS 2 (see pair).
func (p *pair) noteGrants(reply []byte) {
	if p.qos2 || len(reply) == 0 || packet.Type(reply[0]>>4) != packet.TypeSuback {
		return
	}
	dec, _, err := packet.Decode(reply, 0)
	sa, ok := dec.(*packet.Suback)
	// One that cannot be read counts as granting it: nothing is held then.
	p.qos2 = err != nil || !ok || slices.Contains(sa.ReturnCodes, byte(packet.ExactlyOnce))
}

// hungry takes what the deliverer wrote on its end of the pair channel —
// a byte each time it found messages waiting for room in its window (see
// deliverer.askForAcks) — and reports whether there was any.
func (p *pair) hungry() bool {
	var b [16]byte
	got := false
	for {
		n, err := nowait.Recv(p.fd, b[:], unix.MSG_DONTWAIT)
		if err != nil || n == 0 {
			return got
		}
		got = true
	}
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
// name; the item's temporary name goes. The folder is made with the
// client's first subscription (clientIndex), which what comes this way
// follows; one missing all the same is made here: this router is the
// client's, alive, so the folder cannot outlive it.
func (p *pair) sendSpooled(item *spool.Item) error {
	err := item.LinkTo(p.client.identity)
	if errors.Is(err, os.ErrNotExist) {
		if err = p.spool.AddQueue(p.client.identity); err == nil {
			err = item.LinkTo(p.client.identity)
		}
	}
	if err != nil {
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
		if err := p.flush(true); err != nil {
			return err
		}
	}
	if p.n == 0 {
		p.first = len(env)
	}
	var at int64
	if p.n == 0 {
		at = time.Now().UnixNano() // routed now: what the router sends its own client
	} else if p.acks == p.n {
		// Behind held acknowledgements: the batch's time is this one's.
		binary.BigEndian.PutUint64(p.batch[1:envelope.BatchHeader], uint64(time.Now().UnixNano()))
	}
	p.batch = envelope.AppendBatched(p.batch, env, at)
	p.n++
	return nil
}

// write sends a datagram on the pair channel, waiting at most the reply
// wait for room in it. The write is a raw call (package nowait); only a full
// channel costs a poll(2), a call the scheduler is told of since it waits.
//
// The descriptor is not in the runtime's poller on purpose: the poller
// registers every descriptor for EPOLLOUT too, edge-triggered, and a unix
// socket signals room each time its peer takes a datagram — so each
// envelope the deliverer read woke the router's netpoller once more (0.5–0.8
// wake-ups per message at the seed's paced load, measured with perf sched
// events: unix_write_space from the deliverer's recvfrom).
func (p *pair) write(env []byte) error {
	var deadline time.Time
	for {
		// MSG_DONTWAIT, not the descriptor's status flag: the supervisor
		// hands the channel blocking, and setting the flag per client
		// cost two fcntls in each worker (nonBlocking).
		_, err := nowait.Sendmsg(p.fd, env, nil, unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL)
		if !errors.Is(err, unix.EAGAIN) {
			if err != nil {
				return fmt.Errorf("pair: write: %w", err)
			}
			return nil
		}
		now := time.Now()
		if deadline.IsZero() {
			deadline = now.Add(p.wait)
		}
		if !now.Before(deadline) {
			return fmt.Errorf("pair: write: no room for %v: %w", p.wait, os.ErrDeadlineExceeded)
		}
		if err := waitWritable(p.fd, deadline.Sub(now)); err != nil {
			return fmt.Errorf("pair: %w", err)
		}
	}
}

// waitWritable waits until fd has room for a write, or for at most d.
func waitWritable(fd int, d time.Duration) error {
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
	ms := int(d.Milliseconds()) + 1
	if _, err := unix.Poll(fds, ms); err != nil && !errors.Is(err, unix.EINTR) {
		return os.NewSyscallError("poll", err)
	}
	return nil
}
