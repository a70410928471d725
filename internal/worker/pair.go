package worker

import (
	"fmt"
	"time"

	"github.com/forkmq/forkmq/internal/envelope"
)

// The pair channel is a SOCK_SEQPACKET socket pair the supervisor gives the
// two workers of a client (spawn.FdPair). The router sends its deliverer
// everything meant for its own client alone, as envelopes, one datagram each:
// replies (CONNACK, SUBACK, PINGRESP, PUBACK …), the client's acknowledgements
// of messages sent to it, retained messages after SUBACK, the client's own
// publications to itself, and the requests to adopt a queue and to close.
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

// toPair sends an envelope to the deliverer, waiting at most the reply wait
// for room in the socket (the deliverer reads it as fast as the client
// reads its replies). One too large for a datagram goes through the spool.
func (r *router) toPair(env []byte) error {
	if len(env) > pairMax {
		item, err := r.spool.Write(env)
		if err != nil {
			return err
		}
		defer item.Release()
		if err := item.LinkTo(r.identity); err != nil {
			return err
		}
		env = envelope.AppendSpooled(nil, item.Name())
	}
	if err := r.pair.SetWriteDeadline(time.Now().Add(r.replyWait())); err != nil {
		return fmt.Errorf("pair: %w", err)
	}
	if _, err := r.pair.Write(env); err != nil {
		return fmt.Errorf("pair: %w", err)
	}
	return nil
}
