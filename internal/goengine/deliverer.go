package goengine

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/rs/zerolog"

	"github.com/forkmq/forkmq/internal/packet"
)

// deliverer drains a client's channels and is the only writer to its socket.
// It owns the server-to-client QoS 1 and 2 flows, as the process engine's
// deliverer does: packet identifiers, the in-flight window, PUBREL, and —
// for a persistent session — the mailbox and the resend on reconnect.
type deliverer struct {
	c   *client
	log zerolog.Logger
	out *bufio.Writer

	buf []byte         // a reply or a PUBLISH header being encoded
	pub packet.Publish // header fields of the PUBLISH being written

	window  int        // most unsettled QoS 1/2 flows at once
	flows   *flows     // the connection's own, or the persistent session's once resumed
	waiting []delivery // QoS 1/2 messages from pubs waiting for room in the window, in order
	maxWait int        // past this many waiting, pubs is not read (back-pressure)

	stallTimer reusedTimer // wakes the loop to judge a client that holds its window
	pubrel     packet.Pubrel

	sess    *session      // the persistent session resumed, nil for a clean one
	bell    chan struct{} // its mailbox's bell; nil (never ready) until resumed
	scratch []delivery    // copies taken from the mailbox
}

func newDeliverer(c *client, window int) *deliverer {
	return &deliverer{
		c: c, log: c.log, out: bufio.NewWriterSize(c.sock, 64<<10),
		window: max(window, 1), flows: newFlows(), maxWait: cap(c.pubs),
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
			d.c.backlog.Add(-m.m.size())
			d.c.watch.Progress()
			if err := d.deliver(m); err != nil {
				return err
			}
			m = delivery{}
		}
		// A client that does not acknowledge stops its deliverer taking
		// publications once enough wait: its backlog fills and publishers
		// wait. If no acknowledgement comes for the stall timeout, the
		// client has stalled: publishers then drop its QoS 0 copies and end
		// it for the next QoS 1/2 one.
		pubs := d.c.pubs
		var stallCheck <-chan time.Time
		if len(d.waiting) >= d.maxWait {
			pubs = nil
			if !d.c.watch.Stalled() {
				stallCheck = d.stallTimer.after(d.c.watch.Left())
			}
		}
		select {
		case m = <-pubs:
			continue
		case <-d.bell:
			if err := d.pull(); err != nil {
				return err
			}
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
		case <-d.bell:
			if err := d.pull(); err != nil {
				return err
			}
		case <-d.c.stop:
			return errStopped
		case <-stallCheck:
			if d.c.watch.Due() {
				d.c.watch.MarkStalled()
			}
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
	case ctl.resume != nil:
		return d.resume(ctl.resume)
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

func (d *deliverer) full() bool { return len(d.flows.inflight) >= d.window }

// deliver writes a publication now, or queues it while the in-flight
// window is full [MQTT-4.6.0-2]: QoS 1/2 messages go out in arrival order.
func (d *deliverer) deliver(dv delivery) error {
	if dv.qos == packet.AtMostOnce {
		return d.publish(dv.m, 0, 0, false)
	}
	if d.full() || len(d.waiting) > 0 {
		d.waiting = append(d.waiting, dv)
		return nil
	}
	return d.start(dv)
}

// start sends a QoS 1/2 message under a new packet identifier.
func (d *deliverer) start(dv delivery) error {
	return d.publish(dv.m, dv.qos, d.flows.start(dv.m, dv.qos), false)
}

// resume takes over a persistent session once CONNACK is out: every flow
// left unsettled by its last connection is resent with DUP set and the same
// packet identifier — or, past PUBREC, its PUBREL [MQTT-4.4.0-1] — in the
// order first sent; then the mailbox's messages follow as the window allows.
func (d *deliverer) resume(s *session) error {
	d.sess, d.bell, d.flows = s, s.bell, s.flows
	for _, id := range d.flows.unsettled() {
		fl := d.flows.inflight[id]
		var err error
		switch fl.state {
		case awaitPubcomp:
			err = d.writePubrel(id)
		case awaitPubrec:
			err = d.publish(fl.m, packet.ExactlyOnce, id, true)
		default:
			err = d.publish(fl.m, packet.AtLeastOnce, id, true)
		}
		if err != nil {
			return err
		}
	}
	return d.pull()
}

// pull sends the oldest mailbox messages while the window has room.
func (d *deliverer) pull() error {
	if d.sess == nil || d.full() {
		return nil
	}
	d.scratch = d.sess.take(d.scratch[:0], d.window-len(d.flows.inflight))
	defer clear(d.scratch)
	for _, dv := range d.scratch {
		if err := d.start(dv); err != nil {
			return err
		}
	}
	return nil
}

// settle applies the client's acknowledgement of an outbound flow, then
// sends what waited for the room it made. An acknowledgement of nothing in
// flight, or that does not fit the flow, is ignored.
func (d *deliverer) settle(p packet.Packet) error {
	switch p := p.(type) {
	case *packet.Puback:
		d.finish(p.PacketID, awaitPuback)
	case *packet.Pubrec:
		// [MQTT-4.3.3-1] PUBREC is answered with PUBREL (again if repeated);
		// from then on the message is never sent again, only PUBREL is.
		if fl, ok := d.flows.inflight[p.PacketID]; ok && fl.state != awaitPuback {
			fl.state = awaitPubcomp
			d.flows.inflight[p.PacketID] = fl
			if err := d.writePubrel(p.PacketID); err != nil {
				return err
			}
		}
	case *packet.Pubcomp:
		d.finish(p.PacketID, awaitPubcomp)
	}
	d.c.watch.Progress() // room in the window
	for !d.full() && len(d.waiting) > 0 {
		dv := d.waiting[0]
		d.waiting[0] = delivery{}
		d.waiting = d.waiting[1:]
		if err := d.start(dv); err != nil {
			return err
		}
	}
	return d.pull()
}

// finish ends the flow id if it waits for the acknowledgement st.
func (d *deliverer) finish(id uint16, st flowState) {
	fl, ok := d.flows.inflight[id]
	if !ok || fl.state != st {
		return
	}
	delete(d.flows.inflight, id)
	if d.sess != nil {
		d.sess.settled(fl.m)
	}
}

func (d *deliverer) writePubrel(id uint16) error {
	d.pubrel.PacketID = id
	return d.write(&d.pubrel)
}

// publish writes one PUBLISH: the header encoded into the reused buffer,
// the shared payload as it is (a large one bypasses the buffer).
func (d *deliverer) publish(m *message, qos packet.QoS, id uint16, dup bool) error {
	d.pub.Topic, d.pub.QoS, d.pub.PacketID, d.pub.Retain, d.pub.Dup = m.topic, qos, id, m.retain, dup
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
