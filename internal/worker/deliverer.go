package worker

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/rs/zerolog"

	"github.com/forkmq/forkmq/internal/envelope"
	"github.com/forkmq/forkmq/internal/packet"
	"github.com/forkmq/forkmq/internal/queue"
	"github.com/forkmq/forkmq/internal/spawn"
	"github.com/forkmq/forkmq/internal/spool"
)

// deliverer drains the client's queue and is the only writer to its socket.
type deliverer struct {
	args  spawn.Args
	log   zerolog.Logger
	conn  *net.TCPConn
	out   *bufio.Writer
	q     *queue.Queue
	spool *spool.Spool

	msg    []byte // one queue message
	header []byte // a PUBLISH header being built
}

func newDeliverer(args spawn.Args, log zerolog.Logger, conn *net.TCPConn, q *queue.Queue, sp *spool.Spool) *deliverer {
	return &deliverer{
		args:  args,
		log:   log,
		conn:  conn,
		out:   bufio.NewWriterSize(conn, 64<<10),
		q:     q,
		spool: sp,
		msg:   make([]byte, args.QueueMsgSize),
	}
}

// errClose is returned by handle for a KindClose envelope.
var errClose = errors.New("close requested")

// run waits for envelopes and writes them out. It takes every envelope
// already waiting before it flushes, so a burst costs one write.
func (d *deliverer) run() spawn.ExitCode {
	for {
		n, _, err := d.q.Receive(d.msg, time.Time{})
		for err == nil {
			if err = d.handle(d.msg[:n]); err != nil {
				break
			}
			n, _, err = d.q.Receive(d.msg, time.Now().Add(-time.Second))
		}
		if err != nil && !errors.Is(err, queue.ErrEmpty) && !errors.Is(err, queue.ErrTimeout) && !errors.Is(err, errClose) {
			return d.failed(err)
		}
		if ferr := d.out.Flush(); ferr != nil {
			return d.failed(ferr)
		}
		if errors.Is(err, errClose) {
			// The router has answered for the last time; closing our
			// descriptor and exiting closes the connection once the
			// router (already exiting) has closed its own.
			shutdown(d.conn, d.log)
			return spawn.ExitOrderly
		}
	}
}

func (d *deliverer) failed(err error) spawn.ExitCode {
	var ne net.Error
	if errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) || errors.Is(err, net.ErrClosed) || isConnGone(err) {
		d.log.Debug().Err(err).Msg("socket closed while writing")
		return spawn.ExitSocketClosed
	}
	d.log.Error().Err(err).Msg("deliverer failed")
	return spawn.ExitFailure
}

func isConnGone(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe)
}

// handle writes one envelope to the socket buffer.
func (d *deliverer) handle(env []byte) error {
	if len(env) == 0 {
		return fmt.Errorf("%w: empty", envelope.ErrBadEnvelope)
	}
	switch envelope.Kind(env[0]) {
	case envelope.KindPacket:
		_, err := d.out.Write(env[1:])
		return err
	case envelope.KindPublish:
		pub, err := envelope.ParsePublication(env[1:])
		if err != nil {
			return err
		}
		if err := d.writePublishHeader(pub.Flags, pub.Topic, len(pub.Payload)); err != nil {
			return err
		}
		_, err = d.out.Write(pub.Payload)
		return err
	case envelope.KindSpooled:
		return d.writeSpooled(string(env[1:]))
	case envelope.KindClose:
		return errClose
	}
	return fmt.Errorf("%w: kind %#x", envelope.ErrBadEnvelope, env[0])
}

func (d *deliverer) writePublishHeader(flags byte, topic string, payloadLen int) error {
	p := packet.Publish{
		Retain: flags&0x01 != 0,
		QoS:    packet.QoS(flags >> 1 & 0x03),
		Dup:    flags&0x08 != 0,
		Topic:  topic,
	}
	h, err := packet.AppendPublishHeader(d.header[:0], &p, payloadLen)
	if err != nil {
		return fmt.Errorf("publish header: %w", err)
	}
	d.header = h
	_, err = d.out.Write(h)
	return err
}

// writeSpooled streams a spooled envelope: the header through the buffer,
// the payload straight from the file to the socket (sendfile).
func (d *deliverer) writeSpooled(name string) error {
	f, err := d.spool.Take(d.args.Queue, name)
	if err != nil {
		// The copy is gone (a sweep after a crash); skip this message.
		d.log.Warn().Err(err).Msg("spooled message missing")
		return nil
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("spool stat: %w", err)
	}
	br := bufio.NewReaderSize(f, 64<<10)
	kind, err := br.ReadByte()
	if err != nil {
		return fmt.Errorf("spool read: %w", err)
	}
	switch envelope.Kind(kind) {
	case envelope.KindPacket:
		_, err := io.Copy(d.out, br)
		return err
	case envelope.KindPublish:
	default:
		return fmt.Errorf("%w: spooled kind %#x", envelope.ErrBadEnvelope, kind)
	}
	var head [3]byte
	if _, err := io.ReadFull(br, head[:]); err != nil {
		return fmt.Errorf("spool read: %w", err)
	}
	topic := make([]byte, int(head[1])<<8|int(head[2]))
	if _, err := io.ReadFull(br, topic); err != nil {
		return fmt.Errorf("spool read: %w", err)
	}
	offset := int64(1 + 3 + len(topic))
	if err := d.writePublishHeader(head[0], string(topic), int(st.Size()-offset)); err != nil {
		return err
	}
	if err := d.out.Flush(); err != nil {
		return err
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return fmt.Errorf("spool seek: %w", err)
	}
	_, err = d.conn.ReadFrom(f) // sendfile(2)
	return err
}
