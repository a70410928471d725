package goengine

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"

	"github.com/rs/zerolog"

	"github.com/forkmq/forkmq/internal/packet"
)

// deliverer drains a client's channels and is the only writer to its socket.
// It owns the server-to-client QoS 1 and 2 flows, as the process engine's
// deliverer does: packet identifiers, the in-flight window, PUBREL.
type deliverer struct {
	c   *client
	log zerolog.Logger
	out *bufio.Writer

	buf []byte         // a reply or a PUBLISH header being encoded
	pub packet.Publish // header fields of the PUBLISH being written; RETAIN and DUP stay 0

	window   int                  // most unsettled QoS 1/2 flows at once
	inflight map[uint16]flowState // sent and not settled [MQTT-4.6.0-2]
	waiting  []delivery           // QoS 1/2 messages waiting for room in the window, in order
	maxWait  int                  // past this many waiting, pubs is not read (back-pressure)
	lastID   uint16
	pubrel   packet.Pubrel
}

// flowState is what an outbound flow waits for.
type flowState byte

const (
	awaitPuback  flowState = iota // QoS 1
	awaitPubrec                   // QoS 2, PUBLISH sent
	awaitPubcomp                  // QoS 2, PUBREL sent
)

func newDeliverer(c *client, log zerolog.Logger, window int) *deliverer {
	return &deliverer{
		c: c, log: log, out: bufio.NewWriterSize(c.conn, 64<<10),
		window: max(window, 1), inflight: make(map[uint16]flowState), maxWait: cap(c.pubs),
	}
}

// Why the deliverer's loop returns, besides a write error.
var (
	errOrderly = errors.New("close requested")
	errStopped = errors.New("client ended")
)

// run writes until the client ends, then records why and ends the client
// (which, after an orderly close, closes the connection).
func (d *deliverer) run() {
	defer close(d.c.delivered)
	err := d.loop()
	switch {
	case errors.Is(err, errOrderly):
		if err := d.out.Flush(); err != nil {
			d.log.Debug().Err(err).Msg("socket closed while writing")
		}
		d.c.end("deliverer: " + reasonOrderly)
	case errors.Is(err, errStopped):
	case gone(err):
		d.log.Debug().Err(err).Msg("socket closed while writing")
		d.c.end("deliverer: " + reasonSocket)
	default:
		d.log.Error().Err(err).Msg("deliverer failed")
		d.c.end("deliverer: " + reasonFailure)
	}
}

// loop writes every waiting reply before each publication, as the process
// engine's queue priorities do, and flushes only when nothing is waiting,
// so that a burst costs one write.
func (d *deliverer) loop() error {
	var m delivery
	for {
		if err := d.replies(); err != nil {
			return err
		}
		if m.m != nil {
			if err := d.deliver(m); err != nil {
				return err
			}
			m = delivery{}
		}
		// A client that does not acknowledge stops its deliverer taking
		// publications once enough wait: its channel fills and publishers
		// then wait and drop, as for any slow client.
		pubs := d.c.pubs
		if len(d.waiting) >= d.maxWait {
			pubs = nil
		}
		select {
		case m = <-pubs:
			continue
		default:
		}
		if err := d.out.Flush(); err != nil {
			return err
		}
		select {
		case ctl, ok := <-d.c.ctrl:
			if err := d.control(ctl, ok); err != nil {
				return err
			}
		case m = <-pubs: // written after the replies that came meanwhile
		case <-d.c.stop:
			return errStopped
		}
	}
}

// replies writes every reply waiting on the control channel.
func (d *deliverer) replies() error {
	for {
		select {
		case ctl, ok := <-d.c.ctrl:
			if err := d.control(ctl, ok); err != nil {
				return err
			}
		case <-d.c.stop:
			return errStopped
		default:
			return nil
		}
	}
}

// control handles one thing from the router; a closed channel is the
// request to close.
func (d *deliverer) control(ctl control, ok bool) error {
	switch {
	case !ok:
		return errOrderly
	case ctl.ack:
		return d.settle(ctl.p)
	}
	return d.write(ctl.p)
}

// write encodes one packet into the buffer.
func (d *deliverer) write(p packet.Packet) error {
	b, err := packet.Append(d.buf[:0], p)
	if err != nil {
		return fmt.Errorf("encode %s: %w", p.Type(), err)
	}
	d.buf = b
	_, err = d.out.Write(b)
	return err
}

// deliver writes a publication now, or queues it while the in-flight
// window is full [MQTT-4.6.0-2]: QoS 1/2 messages go out in arrival order.
func (d *deliverer) deliver(dv delivery) error {
	if dv.qos == packet.AtMostOnce {
		return d.publish(dv.m, 0, 0)
	}
	if len(d.inflight) >= d.window || len(d.waiting) > 0 {
		d.waiting = append(d.waiting, dv)
		return nil
	}
	return d.start(dv)
}

// start sends a QoS 1/2 message under a free packet identifier
// [MQTT-2.3.1-2].
func (d *deliverer) start(dv delivery) error {
	for {
		if d.lastID++; d.lastID == 0 {
			d.lastID = 1
		}
		if _, used := d.inflight[d.lastID]; !used {
			break
		}
	}
	d.inflight[d.lastID] = awaitPuback
	if dv.qos == packet.ExactlyOnce {
		d.inflight[d.lastID] = awaitPubrec
	}
	return d.publish(dv.m, dv.qos, d.lastID)
}

// settle applies the client's acknowledgement of an outbound flow, then
// sends what waited for the room it made. An acknowledgement of nothing in
// flight is ignored.
func (d *deliverer) settle(p packet.Packet) error {
	switch p := p.(type) {
	case *packet.Puback:
		if d.inflight[p.PacketID] == awaitPuback {
			delete(d.inflight, p.PacketID)
		}
	case *packet.Pubrec:
		// [MQTT-4.3.3-1] PUBREC is answered with PUBREL (again if repeated).
		if st, ok := d.inflight[p.PacketID]; ok && st != awaitPuback {
			d.inflight[p.PacketID] = awaitPubcomp
			d.pubrel.PacketID = p.PacketID
			if err := d.write(&d.pubrel); err != nil {
				return err
			}
		}
	case *packet.Pubcomp:
		if d.inflight[p.PacketID] == awaitPubcomp {
			delete(d.inflight, p.PacketID)
		}
	}
	for len(d.inflight) < d.window && len(d.waiting) > 0 {
		dv := d.waiting[0]
		d.waiting[0] = delivery{}
		d.waiting = d.waiting[1:]
		if err := d.start(dv); err != nil {
			return err
		}
	}
	return nil
}

// publish writes one forwarded PUBLISH: the header encoded into the reused
// buffer, the shared payload as it is (a large one bypasses the buffer).
func (d *deliverer) publish(m *message, qos packet.QoS, id uint16) error {
	d.pub.Topic, d.pub.QoS, d.pub.PacketID = m.topic, qos, id
	h, err := packet.AppendPublishHeader(d.buf[:0], &d.pub, len(m.payload))
	if err != nil {
		return fmt.Errorf("publish header: %w", err)
	}
	d.buf = h
	if _, err := d.out.Write(h); err != nil {
		return err
	}
	_, err = d.out.Write(m.payload)
	return err
}

// gone reports whether a write failed because the connection is closed,
// reset or past its deadline.
func gone(err error) bool {
	var oe *net.OpError
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, net.ErrClosed) || errors.As(err, &oe)
}
