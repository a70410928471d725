package worker

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/rs/zerolog"

	"github.com/forkmq/forkmq/internal/core"
	"github.com/forkmq/forkmq/internal/envelope"
	"github.com/forkmq/forkmq/internal/mailstore"
	"github.com/forkmq/forkmq/internal/packet"
	"github.com/forkmq/forkmq/internal/queue"
	"github.com/forkmq/forkmq/internal/spawn"
	"github.com/forkmq/forkmq/internal/spool"
	"github.com/forkmq/forkmq/internal/state"
)

// publishWait bounds how long a router waits on a subscriber's full queue.
// A full queue is back-pressure: the subscriber's backlog is full and its
// deliverer takes more as the subscriber reads, so the router waits — as
// long as that takes, a publisher being slowed like TCP would slow it. Once
// the subscriber has stalled for the stall timeout its deliverer applies the
// slow-consumer policy and drains the queue itself; once it is gone the
// supervisor unlinks its queue, which the router notices within queueSlice.
// A queue still full after this long has a deliverer that runs no more
// (stopped by a signal, or hung): only then is the copy dropped.
func publishWait(stallTimeout time.Duration) time.Duration {
	return max(30*time.Second, 10*stallTimeout)
}

// queueSlice is how often a router waiting on a full queue checks that the
// queue still exists. Waiting in the kernel keeps the senders' turns in
// order, so the slice is long enough for many turns.
const queueSlice = 250 * time.Millisecond

// queues is the process engine's core.Outlet: a copy travels to its
// subscriber's POSIX queue as an envelope, a payload too large for a queue
// message as a spool file the envelope names, and a persistent session's
// QoS 1/2 copy to its mailbox (a spool folder), with a doorbell on its
// queue.
//
// While its client's packets come faster than it routes them, the router
// batches what it routes to each subscriber (envelope.KindBatch): Offer
// adds to the subscriber's batch, and the batch goes when it is full or
// when the router is about to wait for its client (Flush). A burst thus
// costs one hand-over per subscriber, not one per message.
type queues struct {
	args     spawn.Args
	log      zerolog.Logger
	spool    *spool.Spool
	segments *spool.Segments // the receiving queues' spool segments
	writers  *writerCache
	cur      outgoing // the message being routed
	dropped  uint64
	batches  map[string]*batch // by queue: what waits to be sent there
	pending  []string          // the queues with a batch, in the order they got it
	pid      int               // for mailbox entry names
	entrySeq uint64            // the last mailbox entry name's sequence number
}

// batch is what waits to be sent to one queue: envelopes, in order.
type batch struct {
	env   []byte // the batch envelope, or the one envelope alone
	n     int    // envelopes in it
	first int    // the first envelope's length (sent alone when it is the only one)
	wait  time.Duration
}

// pid is the worker's process id (worker.pid: os.Getpid is a system call
// each time, and newQueues runs for every client).
func newQueues(args spawn.Args, log zerolog.Logger, sp *spool.Spool, pid int) *queues {
	return &queues{args: args, log: log, spool: sp, segments: sp.Segments(), writers: newWriterCache(), batches: map[string]*batch{}, pid: pid}
}

// outgoing is one message being routed: its envelope and spool file are
// made once per QoS it is sent at, and shared by every subscriber.
type outgoing struct {
	msg   *core.Message
	env   [3][]byte
	item  [3]*spool.Item
	entry [3]string // a persistent session's mailbox entry holding it, to link into the next one's
}

// message returns the routing state of m, starting it if m is new.
func (q *queues) message(m *core.Message) *outgoing {
	if q.cur.msg != m {
		q.Routed(q.cur.msg)
		q.cur = outgoing{msg: m}
	}
	return &q.cur
}

// fits reports whether the message fits in one envelope of limit bytes.
func (o *outgoing) fits(limit int) bool {
	return 1+envelope.PublicationSize(len(o.msg.Topic), int(o.msg.Len())) <= limit
}

// inline reports whether the message's envelope is small enough for a
// queue's spool segment (its deliverer reads such a copy whole).
func (o *outgoing) inline() bool {
	return o.msg.File == nil && 1+envelope.PublicationSize(len(o.msg.Topic), len(o.msg.Payload)) <= core.InlineFile
}

// head is the message's envelope without its payload, for a copy written
// with the payload beside it.
func (o *outgoing) head(qos packet.QoS) []byte {
	return envelope.AppendPublish(nil, publishFlags(qos, o.msg.Retain), o.msg.Topic, nil)
}

func (o *outgoing) envelope(qos packet.QoS) []byte {
	if o.env[qos] == nil {
		o.env[qos] = envelope.AppendPublish(nil, publishFlags(qos, o.msg.Retain), o.msg.Topic, o.msg.Payload)
	}
	return o.env[qos]
}

func (o *outgoing) spooled(sp *spool.Spool, qos packet.QoS) (*spool.Item, error) {
	if o.item[qos] == nil {
		it, err := sp.Write(o.envelope(qos))
		if err != nil {
			return nil, err
		}
		o.item[qos] = it
	}
	return o.item[qos], nil
}

// publishFlags are a routed PUBLISH's header flags: QoS and RETAIN.
func publishFlags(qos packet.QoS, retain bool) byte {
	f := byte(qos) << 1
	if retain {
		f |= 1
	}
	return f
}

// Offer implements core.Outlet.
func (q *queues) Offer(to string, m *core.Message, qos packet.QoS) error {
	o := q.message(m)
	if qos > 0 && state.IsSessionQueue(to) {
		return q.toMailbox(to, o, qos, nil)
	}
	wait := publishWait(q.args.StallTimeout)
	if o.fits(q.args.QueueMsgSize) {
		return q.add(to, o.envelope(qos), m.Routed, wait)
	}
	if o.inline() && !state.IsSessionQueue(to) {
		// (A session's folder is its mailbox: no segment there.)
		if err := q.toSegment(to, o.head(qos), o.msg.Payload, wait); !errors.Is(err, spool.ErrSegmentFull) {
			return err
		}
	}
	if err := q.flush(to); err != nil {
		return err
	}
	item, err := o.spooled(q.spool, qos)
	if err != nil {
		return err
	}
	if err := item.LinkTo(to); err != nil {
		return err
	}
	if err := q.deliver(to, envelope.AppendSpooled(nil, item.Name()), wait); err != nil {
		item.Unlink(to)
		return err
	}
	return nil
}

// toSegment appends a copy too large for a queue message to the queue's
// spool segment and sends the reference to it, after what the queue's
// batch held. The reference goes alone, as a spool file's name does: in a
// batch, dozens of large copies would wait for a batch of small
// references to fill (a 100→1 fan-in of 16 KiB payloads delivered nothing
// for seconds), and the deliverer would take them all at once.
func (q *queues) toSegment(to string, head, payload []byte, wait time.Duration) error {
	if err := q.flush(to); err != nil {
		return err
	}
	off, err := q.segments.Append(to, head, payload)
	if errors.Is(err, os.ErrNotExist) {
		return nil // a departed subscriber: its folder is gone
	}
	if err != nil {
		return err
	}
	return q.deliver(to, envelope.AppendSegment(nil, off, int64(len(head)+len(payload))), wait)
}

// add puts an envelope in the batch for a queue, sending the batch first
// if the envelope would not fit.
func (q *queues) add(to string, env []byte, routed time.Time, wait time.Duration) error {
	b := q.batches[to]
	if b == nil {
		b = &batch{}
		q.batches[to] = b
	}
	if b.n > 0 && len(b.env)+envelope.BatchedSize(len(env)) > q.args.QueueMsgSize {
		if err := q.flush(to); err != nil {
			return err
		}
	}
	if b.n == 0 {
		q.pending = append(q.pending, to)
		b.first = len(env)
	}
	b.env = envelope.AppendBatched(b.env, env, unixNano(routed))
	b.n++
	b.wait = wait
	return nil
}

// flush sends the batch for one queue, if any.
func (q *queues) flush(to string) error {
	b := q.batches[to]
	if b == nil || b.n == 0 {
		return nil
	}
	err := q.deliver(to, envelope.Sendable(b.env, b.n, b.first, q.args.QueueMsgSize), b.wait)
	b.env, b.n = b.env[:0], 0
	return err
}

// Flush sends every batch. The router calls it before it waits for its
// client, and before anything for its own client that must come after what
// it routed (its acknowledgements). A copy that cannot be delivered is
// logged where it fails (deliver), as it was when it was offered alone.
func (q *queues) Flush() {
	for _, to := range q.pending {
		_ = q.flush(to)
	}
	q.pending = q.pending[:0]
	if len(q.batches) > 1024 {
		q.batches = map[string]*batch{} // let the buffers of many past subscribers go
	}
}

// Routed implements core.Outlet: the message's temporary spool files go
// (the copies linked into queues' folders stay).
func (q *queues) Routed(m *core.Message) {
	if m == nil || q.cur.msg != m {
		return
	}
	for _, it := range q.cur.item {
		if it != nil {
			it.Release()
		}
	}
	q.cur = outgoing{}
}

// toMailbox stores a QoS 1/2 message for a persistent session and rings its
// doorbell — on its queue, or through ring when the session is this
// client's own. A session whose mailbox is full loses the message, with a
// log line; an offline one (no queue reader) keeps it for its next
// connection.
func (q *queues) toMailbox(to string, o *outgoing, qos packet.QoS, ring func([]byte) error) error {
	dir := q.spool.QueueDir(to)
	name := q.entryName()
	err := os.ErrNotExist
	if o.entry[qos] != "" {
		// The copy of another session: linked, not written again (unless
		// that session settled it already).
		err = mailstore.Link(o.entry[qos], dir, name)
	}
	if err != nil {
		err = mailstore.Write(dir, name, o.envelope(qos))
		if errors.Is(err, os.ErrNotExist) {
			return nil // the session was discarded meanwhile
		}
		if err != nil {
			return err
		}
		o.entry[qos] = mailstore.Path(dir, name)
	}
	return q.ringMailbox(to, name, o.envelope(qos), ring)
}

// toMailboxFrom stores a QoS 1/2 message whose envelope starts with head
// and goes on with body (a retained payload streamed from the store) for a
// persistent session, and rings its doorbell as toMailbox does.
func (q *queues) toMailboxFrom(to string, head []byte, body io.Reader, ring func([]byte) error) error {
	name := q.entryName()
	err := mailstore.WriteFrom(q.spool.QueueDir(to), name, head, body)
	if errors.Is(err, os.ErrNotExist) {
		return nil // the session was discarded meanwhile
	}
	if err != nil {
		return err
	}
	return q.ringMailbox(to, name, nil, ring)
}

// entryName is the name of a new mailbox entry.
func (q *queues) entryName() string {
	q.entrySeq++
	return mailstore.Name(time.Now(), q.pid, q.entrySeq)
}

// ringMailbox rings the doorbell of the entry name, stored in the mailbox
// of the session to. The doorbell carries the entry's envelope env too
// when it fits, so that the deliverer need not read the entry back.
func (q *queues) ringMailbox(to, name string, env []byte, ring func([]byte) error) error {
	limit := q.args.QueueMsgSize
	if ring != nil {
		limit = pairMax
	}
	if env != nil && envelope.MailboxSize(name, env) > limit {
		env = nil
	}
	doorbell := envelope.AppendMailbox(nil, name, env)
	if ring != nil {
		return ring(doorbell)
	}
	// An online session's full queue is back-pressure, as for any
	// subscriber (sendWaiting): its mailbox holds at most what its
	// deliverer's backlog and window take. An offline one's mailbox fills
	// up to its bounds, which are checked only when the session looks
	// behind — no queue (offline, unlinked), a full queue, or messages
	// already waiting in it while nobody reads it — so a session that keeps
	// up, or is online, costs no directory scan per message.
	behind := true
	_ = q.sendTo(to, func(w *queue.Queue) error {
		if err := q.sendWaiting(w, to, doorbell, publishWait(q.args.StallTimeout)); err != nil {
			// No room: mark the mailbox for a rescan by its deliverer.
			if f, err := os.OpenFile(filepath.Join(q.spool.QueueDir(to), mailboxMissed), os.O_CREATE|os.O_WRONLY, 0o660); err == nil {
				f.Close()
			}
		} else if attr, err := w.Attr(); (err == nil && attr.CurMsgs <= 1) || sessionOnline(q.spool.QueueDir(to)) {
			behind = false
		}
		return nil
	})
	if !behind {
		return nil
	}
	if n, size := mailboxUsage(q.spool.QueueDir(to)); n > q.args.SessionMsgs || size > q.args.SessionBytes {
		_ = mailstore.Remove(q.spool.QueueDir(to), name)
		q.dropped++
		q.log.Warn().Str("to", to).Int("messages", n).Int64("bytes", size).Int("max_messages", q.args.SessionMsgs).
			Int64("max_bytes", q.args.SessionBytes).Uint64("dropped_total", q.dropped).
			Msg("persistent session mailbox full: message dropped (raise -session-max-messages / -session-max-bytes)")
	}
	return nil
}

// deliver puts one envelope on a subscriber's queue, waiting for room at
// most wait.
func (q *queues) deliver(name string, env []byte, wait time.Duration) error {
	err := q.sendTo(name, func(w *queue.Queue) error { return q.sendWaiting(w, name, env, wait) })
	if errors.Is(err, queue.ErrNotExist) {
		q.writers.forget(name)
		q.segments.Forget(name)
		return nil // an offline or departed subscriber
	}
	if err != nil {
		q.dropped++
		if !state.IsSessionQueue(name) {
			q.log.Error().Err(err).Str("to", name).Uint64("dropped_total", q.dropped).Dur("waited", wait).
				Msg("message dropped: the subscriber's queue stayed full, nothing is draining it")
			q.writers.forget(name)
			q.segments.Forget(name)
		}
		return err
	}
	return nil
}

// sendWaiting puts an envelope on a queue, waiting for room in the kernel
// (senders take turns in order) at most wait, in slices: between them it
// checks that the queue still exists, and gives up with queue.ErrNotExist
// when it does not (its client is gone).
//
// A persistent session's queue is waited on only while the session is
// online (sessionOnline): an offline one's queue fills with doorbells
// nobody takes, and a QoS 0 copy for it may be dropped [MQTT-3.1.2-5
// stores only QoS 1 and 2]; an online one is back-pressure like any other.
func (q *queues) sendWaiting(w *queue.Queue, name string, env []byte, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	if wait <= 0 {
		deadline = time.Now().Add(-time.Second) // never wait
	}
	if state.IsSessionQueue(name) && wait > 0 {
		err := w.Send(env, envelope.PrioPublish, time.Now().Add(-time.Second))
		if !errors.Is(err, queue.ErrFull) {
			if err != nil {
				return fmt.Errorf("send to queue %s: %w", name, err)
			}
			return nil
		}
		if !sessionOnline(q.spool.QueueDir(name)) {
			return fmt.Errorf("send to queue %s: the session is offline: %w", name, err)
		}
	}
	for {
		slice := time.Now().Add(queueSlice)
		if slice.After(deadline) {
			slice = deadline
		}
		err := w.Send(env, envelope.PrioPublish, slice)
		if !errors.Is(err, queue.ErrTimeout) || !time.Now().Before(deadline) {
			if err != nil {
				return fmt.Errorf("send to queue %s: %w", name, err)
			}
			return nil
		}
		if !queue.Exists(name) {
			return fmt.Errorf("send to queue %s: %w", name, queue.ErrNotExist)
		}
		if state.IsSessionQueue(name) && !sessionOnline(q.spool.QueueDir(name)) {
			return fmt.Errorf("send to queue %s: the session went offline: %w", name, queue.ErrFull)
		}
	}
}

// sendTo puts an envelope on the named queue through the writer cache.
func (q *queues) sendTo(name string, send func(*queue.Queue) error) error {
	return q.writers.use(name, send)
}

// unixNano is t for a batch's time (0: not known).
func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}
