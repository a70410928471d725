package worker

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/forkmq/forkmq/internal/envelope"
	"github.com/forkmq/forkmq/internal/packet"
	"github.com/forkmq/forkmq/internal/queue"
	"github.com/forkmq/forkmq/internal/spool"
)

// intake is the deliverer's queue reader. It runs in its own goroutine and
// empties the client's POSIX queue as fast as envelopes arrive, into a
// bounded backlog in memory, so that a client that reads its socket slowly
// never fills the queue and never makes a publisher wait. Past the bound
// (count or bytes), QoS 0 publications are dropped and counted, mailbox
// doorbells are dropped (the mailbox keeps the message), and a QoS 1/2
// publication ends the connection as a slow consumer. Control envelopes
// (replies, acknowledgements, close) are never dropped.
type intake struct {
	log      zerolog.Logger
	q        *queue.Queue
	spool    *spool.Spool
	identity string
	maxMsgs  int
	maxBytes int64

	out     chan intakeItem // to the writer, in queue order
	held    *atomic.Int64   // messages the writer holds back for the in-flight window
	bytes   atomic.Int64    // bytes waiting in out
	dropped atomic.Uint64   // QoS 0 publications dropped
	missed  atomic.Bool     // a doorbell was dropped: the writer rescans the mailbox
	failed  chan error      // the reader's end: a queue error or a slow consumer
}

// errSlowConsumer ends a connection whose backlog of QoS 1/2 messages
// passed its bound.
var errSlowConsumer = errors.New("slow consumer: backlog of QoS 1/2 messages over its bound")

func newIntake(log zerolog.Logger, q *queue.Queue, sp *spool.Spool, identity string, maxMsgs int, maxBytes int64, held *atomic.Int64) *intake {
	return &intake{
		log: log, q: q, spool: sp, identity: identity, held: held,
		maxMsgs: max(maxMsgs, 1), maxBytes: max(maxBytes, 1),
		out:    make(chan intakeItem, max(maxMsgs, 1)),
		failed: make(chan error, 1),
	}
}

// run reads the queue until it fails.
func (in *intake) run(msgSize int) {
	buf := make([]byte, msgSize)
	for {
		n, _, err := in.q.Receive(buf, time.Time{})
		if errors.Is(err, queue.ErrMsgSize) {
			buf = make([]byte, 2*len(buf))
			continue
		}
		if err != nil {
			in.failed <- fmt.Errorf("receive: %w", err)
			return
		}
		env := append(make([]byte, 0, n), buf[:n]...)
		if envelope.Kind(env[0]) == envelope.KindAdopt {
			if err := in.adopt(string(env[1:])); err != nil {
				in.failed <- err
				return
			}
			if attr, err := in.q.Attr(); err == nil && int(attr.MsgSize) > len(buf) {
				buf = make([]byte, attr.MsgSize)
			}
		}
		if err := in.admit(env); err != nil {
			in.failed <- err
			return
		}
	}
}

// adopt switches to reading the persistent session's queue.
func (in *intake) adopt(name string) error {
	q, err := queue.OpenReader(name)
	if err != nil {
		return fmt.Errorf("adopt session queue: %w", err)
	}
	in.q.Close()
	in.q, in.identity = q, name
	return nil
}

// intakeItem is an envelope and what it weighs against -max-queued-bytes:
// its own length, or for a spooled publication the size of its file.
type intakeItem struct {
	env    []byte
	weight int64
}

// weigh tells what an envelope holds in bytes.
func (in *intake) weigh(env []byte) int64 {
	if envelope.Kind(env[0]) == envelope.KindSpooled {
		if st, err := os.Stat(filepath.Join(in.spool.QueueDir(in.identity), string(env[1:]))); err == nil {
			return st.Size()
		}
	}
	return int64(len(env))
}

// admit passes an envelope to the writer, or drops it when the backlog is
// over its bound and the envelope may be dropped.
func (in *intake) admit(env []byte) error {
	weight := in.weigh(env)
	// An empty backlog takes any one message, however large.
	held := in.bytes.Load()
	over := len(in.out)+int(in.held.Load()) >= in.maxMsgs || held > 0 && held+weight > in.maxBytes
	if over {
		switch kind, qos := classify(env); {
		case kind == envelope.KindMailbox:
			in.missed.Store(true)
			return nil
		case kind == envelope.KindSpooled:
			// Too large to have come inline: its QoS is in the file.
			f, err := in.spool.Take(in.identity, string(env[1:]))
			if err != nil {
				return nil
			}
			qos := fileQoS(f)
			f.Close()
			if qos > 0 {
				return errSlowConsumer
			}
			in.countDrop()
			return nil
		case kind == envelope.KindPublish && qos == 0:
			in.countDrop()
			return nil
		case kind == envelope.KindPublish:
			return errSlowConsumer
		}
		// Control envelopes wait for room: they are few and must arrive.
	}
	in.bytes.Add(weight)
	in.out <- intakeItem{env: env, weight: weight}
	return nil
}

func (in *intake) countDrop() {
	if n := in.dropped.Add(1); n == 1 || n%1000 == 0 {
		in.log.Warn().Uint64("dropped_total", n).Int("backlog", len(in.out)).Int64("backlog_bytes", in.bytes.Load()).
			Msg("slow consumer: QoS 0 message dropped (raise -max-queued-messages / -max-queued-bytes)")
	}
}

// classify tells an envelope's kind and, for a publication, its QoS.
func classify(env []byte) (envelope.Kind, packet.QoS) {
	k := envelope.Kind(env[0])
	switch k {
	case envelope.KindPublish:
		if len(env) > 1 {
			return k, packet.QoS(env[1] >> 1 & 3)
		}
	}
	return k, 0
}

// taken tells the intake an envelope has been handled.
func (in *intake) taken(it intakeItem) { in.bytes.Add(-it.weight) }
