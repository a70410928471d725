package worker

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"

	"github.com/rs/zerolog"

	"github.com/forkmq/forkmq/internal/envelope"
	"github.com/forkmq/forkmq/internal/packet"
	"github.com/forkmq/forkmq/internal/queue"
	"github.com/forkmq/forkmq/internal/spawn"
	"github.com/forkmq/forkmq/internal/spool"
)

// deliverer drains the client's queue and is the only writer to its socket.
// It also owns the server-to-client half of the QoS 1 and 2 flows (packet
// identifiers, the in-flight window, PUBREL), since it is what sends them.
type deliverer struct {
	args  spawn.Args
	log   zerolog.Logger
	conn  *net.TCPConn
	out   *bufio.Writer
	q     *queue.Queue
	spool *spool.Spool

	// identity is the queue whose spool folder holds this client's copies:
	// the connection's, or the persistent session's once adopted.
	identity       string
	persistent     bool
	flights        *outbound
	mailboxDropped uint64
	mailboxNews    bool // a doorbell rang since the mailbox was last read

	msg    []byte // one queue message
	header []byte // a PUBLISH header being built
}

func newDeliverer(args spawn.Args, log zerolog.Logger, conn *net.TCPConn, q *queue.Queue, sp *spool.Spool) *deliverer {
	return &deliverer{
		args:     args,
		log:      log,
		conn:     conn,
		out:      bufio.NewWriterSize(conn, 64<<10),
		q:        q,
		spool:    sp,
		identity: args.Queue,
		flights:  newOutbound(args.MaxInflight),
		msg:      make([]byte, args.QueueMsgSize),
	}
}

// errClose is returned by handle for a KindClose envelope.
var errClose = errors.New("close requested")

// run starts the intake (the queue reader) and writes what it hands over.
// It takes every envelope already waiting before it flushes, so a burst
// costs one write.
func (d *deliverer) run() spawn.ExitCode {
	in := newIntake(d.log, d.q, d.spool, d.identity, d.args.BacklogMsgs, d.args.BacklogBytes, &d.flights.held)
	go in.run(len(d.msg))
	for {
		var it intakeItem
		select {
		case it = <-in.out:
		case err := <-in.failed:
			if errors.Is(err, errSlowConsumer) {
				d.log.Warn().Int("backlog_limit", d.args.BacklogMsgs).Int64("backlog_bytes_limit", d.args.BacklogBytes).
					Msg("disconnecting a slow consumer: its QoS 1/2 backlog is full (raise -max-queued-messages / -max-queued-bytes)")
				shutdown(d.conn, d.log)
				return spawn.ExitSlowConsumer
			}
			return d.failed(err)
		}
		err := d.handleTaken(in, it)
	drain:
		for err == nil {
			select {
			case it = <-in.out:
				err = d.handleTaken(in, it)
			default:
				break drain
			}
		}
		if err == nil && d.persistent {
			missed := in.missed.Swap(false) || d.takeMissedMarker()
			if missed || d.mailboxNews {
				d.mailboxNews = false
				err = d.rescanMailbox()
			}
		}
		if err != nil && !errors.Is(err, errClose) {
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

func (d *deliverer) handleTaken(in *intake, it intakeItem) error {
	in.taken(it)
	return d.handle(it.env)
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

// handle acts on one envelope.
func (d *deliverer) handle(env []byte) error {
	if len(env) == 0 {
		return fmt.Errorf("%w: empty", envelope.ErrBadEnvelope)
	}
	body := env[1:]
	switch envelope.Kind(env[0]) {
	case envelope.KindPacket:
		_, err := d.out.Write(body)
		return err
	case envelope.KindPublish:
		flags, _, _, err := envelope.ParsePublicationHeader(body)
		if err != nil {
			return err
		}
		if packet.QoS(flags>>1&3) > 0 && d.flights.full() {
			d.flights.queue(pending{env: append([]byte(nil), body...)})
			return nil
		}
		return d.writePublication(body, false)
	case envelope.KindSpooled:
		f, err := d.spool.Take(d.identity, string(body))
		if err != nil {
			d.log.Warn().Err(err).Msg("spooled message missing") // swept after a crash
			return nil
		}
		if d.flights.full() && fileQoS(f) > 0 {
			d.flights.queue(pending{file: f})
			return nil
		}
		return d.sendFile(f, "", 0, false)
	case envelope.KindMailbox:
		// A doorbell: the mailbox has news. Entries are sent in the order
		// of their names (arrival), which a doorbell that did not fit in
		// the queue would upset; so the writer reads the mailbox once the
		// burst of envelopes is handled (see run).
		d.mailboxNews = true
		return nil
	case envelope.KindAck:
		t, id, err := envelope.ParseAck(body)
		if err != nil {
			return err
		}
		return d.acknowledged(packet.Type(t), id)
	case envelope.KindAdopt:
		// CONNACK is written (it came before, on the same queue). The
		// intake switched queues already; from now on this client's copies
		// are in the session's spool folder, starting with what the session
		// kept while the client was away.
		d.identity, d.persistent = string(body), true
		return d.replayMailbox()
	case envelope.KindClose:
		return errClose
	}
	return fmt.Errorf("%w: kind %#x", envelope.ErrBadEnvelope, env[0])
}

// writePublication writes a publication held in memory. QoS 1 and 2 get a
// packet identifier and a place in the window; the caller checked there is
// room.
func (d *deliverer) writePublication(body []byte, dup bool) error {
	pub, err := envelope.ParsePublication(body)
	if err != nil {
		return err
	}
	var id uint16
	if qos := packet.QoS(pub.Flags >> 1 & 3); qos > 0 {
		id = d.flights.start(qos, "")
	}
	if err := d.writePublishHeader(pub.Flags, pub.Topic, len(pub.Payload), id, dup); err != nil {
		return err
	}
	_, err = d.out.Write(pub.Payload)
	return err
}

func (d *deliverer) writePublishHeader(flags byte, topic string, payloadLen int, id uint16, dup bool) error {
	p := packet.Publish{
		Retain:   flags&0x01 != 0,
		QoS:      packet.QoS(flags >> 1 & 0x03),
		Dup:      dup || flags&0x08 != 0,
		Topic:    topic,
		PacketID: id,
	}
	h, err := packet.AppendPublishHeader(d.header[:0], &p, payloadLen)
	if err != nil {
		return fmt.Errorf("publish header: %w", err)
	}
	d.header = h
	_, err = d.out.Write(h)
	return err
}

// sendFile writes a publication stored in a file (a spool copy or a mailbox
// entry): the header through the buffer, the payload straight from the file
// to the socket (sendfile). A QoS 1/2 message enters the window under a new
// packet identifier — or under id, when it is resent — and a mailbox entry
// (base != "") is renamed to record the identifier. f is closed.
func (d *deliverer) sendFile(f *os.File, base string, id uint16, dup bool) error {
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("spool stat: %w", err)
	}
	br := bufio.NewReaderSize(f, 4096)
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
	flags := head[0]
	if qos := packet.QoS(flags >> 1 & 3); qos > 0 && id == 0 {
		id = d.flights.start(qos, base)
		if base != "" {
			if err := d.markSent(base, id); err != nil {
				return err
			}
		}
	}
	offset := int64(1 + 3 + len(topic))
	if err := d.writePublishHeader(flags, string(topic), int(st.Size()-offset), id, dup); err != nil {
		return err
	}
	if st.Size()-offset <= int64(d.out.Available()) {
		_, err = io.Copy(d.out, br)
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

// acknowledged settles a flow the client acknowledged, then lets waiting
// messages into the window.
func (d *deliverer) acknowledged(t packet.Type, id uint16) error {
	fl := d.flights.get(id)
	if fl == nil {
		return nil // late or unknown: nothing to settle [MQTT-4.3.2-*]
	}
	switch {
	case t == packet.TypePubrec && fl.qos == packet.ExactlyOnce:
		// [MQTT-4.3.3-1] answer PUBREC with PUBREL; from now on the
		// message is never sent again, only PUBREL is.
		if !fl.released && fl.file != "" {
			if err := d.markReleased(fl.file, id); err != nil {
				return err
			}
		}
		fl.released = true
		return d.writePubrel(id)
	case t == packet.TypePuback && fl.qos == packet.AtLeastOnce,
		t == packet.TypePubcomp && fl.qos == packet.ExactlyOnce:
		d.flights.finish(id)
		if fl.file != "" {
			d.removeSettled(fl.file, id, fl.released)
		}
		return d.pump()
	}
	d.log.Debug().Str("ack", t.String()).Uint16("id", id).Msg("acknowledgement does not fit the flow; ignored")
	return nil
}

func (d *deliverer) writePubrel(id uint16) error {
	b, err := packet.Append(d.header[:0], &packet.Pubrel{PacketID: id})
	if err != nil {
		return err
	}
	d.header = b
	_, err = d.out.Write(b)
	return err
}

// pump sends waiting messages while the window has room.
func (d *deliverer) pump() error {
	for !d.flights.full() {
		p, ok := d.flights.next()
		if !ok {
			return nil
		}
		var err error
		switch {
		case p.env != nil:
			err = d.writePublication(p.env, false)
		case p.file != nil:
			err = d.sendFile(p.file, "", 0, false)
		default:
			err = d.mailboxMessage(p.mailbox)
		}
		if err != nil {
			return err
		}
	}
	return nil
}
