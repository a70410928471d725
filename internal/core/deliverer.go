package core

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/rs/zerolog"

	"github.com/forkmq/forkmq/internal/packet"
	"github.com/forkmq/forkmq/internal/scoreboard"
	"github.com/forkmq/forkmq/internal/stall"
)

// Errors that end a deliverer. The engine closes the connection on each.
var (
	// ErrClose: the router asked for the close (after DISCONNECT or a
	// refusing CONNACK); write what is left first.
	ErrClose = errors.New("close requested")
	// ErrSlowConsumer: the client stalled with its backlog full and a
	// message that may not be dropped waiting.
	ErrSlowConsumer = errors.New("slow consumer: stalled with a full backlog")
	// ErrProtocol: the client acknowledged a message with a packet of the
	// wrong kind for its flow [MQTT-4.3.2, 4.3.3].
	ErrProtocol = errors.New("protocol violation")
)

// Limits are a deliverer's bounds.
type Limits struct {
	Window       int   // -max-inflight
	BacklogMsgs  int   // -max-queued-messages
	BacklogBytes int64 // -max-queued-bytes
}

// InlineFile is the largest payload from a file copied into memory (the
// output buffer, or a spooled copy read whole); larger ones stay in their
// file (sendfile).
const InlineFile = 64 << 10

// Deliverer is the state of a client's socket writer: what it is to write,
// in which order, under which bounds. The engine's loop feeds it — Control
// with what the router sends on the Own channel, Take with publications
// from the client's inbox while Room — writes its Output, calls Wrote with
// what the socket took, and Judge before it waits. It is not safe for
// concurrent use: it is the one loop's.
type Deliverer struct {
	lim     Limits
	log     zerolog.Logger
	out     Output
	flows   *Flows
	watch   *stall.Watch
	mailbox Mailbox            // nil for a clean session
	Counts  *scoreboard.Writer // what it writes is counted here (nil: not counted)

	started bool   // CONNACK is out: publications may be written
	hold    bool   // subscriptions being made: publications wait in held
	held    []Item // publications taken while holding
	news    bool   // the mailbox rang since it was last read
	dropped uint64 // QoS 0 publications dropped as a slow consumer's

	header []byte // a packet header being encoded
	pub    packet.Publish
}

// NewDeliverer returns a deliverer with the given bounds, recording
// progress in watch.
func NewDeliverer(lim Limits, watch *stall.Watch, log zerolog.Logger) *Deliverer {
	return &Deliverer{lim: lim, log: log, flows: NewFlows(lim.Window), watch: watch}
}

// Output is what waits to be written.
func (d *Deliverer) Output() *Output { return &d.out }

// Watch is the deliverer's progress and stall verdict.
func (d *Deliverer) Watch() *stall.Watch { return d.watch }

// Wrote records that the socket took n bytes.
func (d *Deliverer) Wrote(n int64) {
	if n > 0 {
		d.watch.Progress()
		d.Counts.Add(scoreboard.BytesSent, uint64(n))
	}
}

// Started reports whether publications may be written (CONNACK is out).
func (d *Deliverer) Started() bool { return d.started }

// Start is called once CONNACK accepting the connection is out (the Own
// channel's Start item): publications may be written from now on. A
// persistent session's mailbox is attached: its unsettled flows are resent
// and what it kept while the client was away follows.
func (d *Deliverer) Start(mb Mailbox) error {
	if d.started {
		return fmt.Errorf("%w: a second start", ErrProtocol)
	}
	d.started, d.mailbox = true, mb
	d.Counts.SetState(scoreboard.StateConnected)
	if mb == nil {
		return nil
	}
	flows, err := mb.Unsettled()
	if err != nil {
		return fmt.Errorf("mailbox: %w", err)
	}
	for _, u := range flows {
		d.flows.Resume(u.ID, u.Item.QoS, u.Item.Entry, u.Released)
		if u.Released {
			d.writePubrel(u.ID) // [MQTT-4.4.0-1]
			continue
		}
		d.send(u.Item, u.ID, true)
	}
	d.Counts.SetGauge(scoreboard.Inflight, int64(len(flows)))
	return d.pull()
}

// Control acts on an Item from the Own channel: replies and the router's
// requests come before anything of the inbox. (A publication here is the
// client's own or a retained one: the engine takes what its inbox held
// before, see Catches.)
func (d *Deliverer) Control(it Item) error {
	switch it.Kind {
	case Reply:
		d.out.Write(it.Packet)
		d.out.EndPacket()
		return nil
	case Publication, Bell:
		return d.publication(it)
	case Ack:
		return d.ack(it.AckType, it.AckID)
	case Hold:
		d.hold = true
		return nil
	case Release:
		d.hold = false
		held := d.held
		d.held = nil
		for _, h := range held {
			if err := d.publication(h); err != nil {
				return err
			}
		}
		return nil
	case Close:
		return ErrClose
	}
	return fmt.Errorf("core: %s item on the Own channel", it.Kind)
}

// Catches reports whether an Item from the Own channel must come after
// everything the client's inbox holds when it arrives: a publication the
// router sends its own client is ordered as if it had come through the
// inbox, after what other routers routed before it.
func Catches(it Item) bool { return it.Kind == Publication || it.Kind == Bell }

// Take acts on an Item from the client's inbox (another client's
// publication, or a mailbox's bell). While subscriptions are being made it
// waits, so SUBACK is written first.
func (d *Deliverer) Take(it Item) error {
	if d.hold {
		d.held = append(d.held, it)
		return nil
	}
	return d.publication(it)
}

// publication writes a publication, or queues it for room in the window.
func (d *Deliverer) publication(it Item) error {
	if it.Kind == Bell {
		if d.mailbox != nil {
			d.mailbox.Rang(it.Entry)
			d.news = true
		}
		return nil
	}
	if it.QoS > 0 && (d.flows.Full() || d.flows.Waiting() > 0) {
		d.flows.Wait(it)
		return nil
	}
	d.send(it, 0, false)
	return nil
}

// Settle reads the mailbox when it rang during the turn. Entries are sent in
// the order they were routed, which bells do not always arrive in; so the
// engine calls Settle once a turn's items are handled.
func (d *Deliverer) Settle() error {
	if !d.news {
		return nil
	}
	d.news = false
	return d.pull()
}

// pull sends mailbox entries while the window has room.
func (d *Deliverer) pull() error {
	if d.mailbox == nil || d.flows.Waiting() > 0 {
		return nil
	}
	for room := d.flows.Room(); room > 0; room = d.flows.Room() {
		items, err := d.mailbox.Next(room)
		if err != nil {
			return fmt.Errorf("mailbox: %w", err)
		}
		if len(items) == 0 {
			return nil
		}
		for _, it := range items {
			d.send(it, 0, false)
		}
	}
	return nil
}

// send encodes a publication into the output. A QoS 1/2 one gets a packet
// identifier and a place in the window — id when it is resent (DUP set) —
// and a mailbox entry's progress is recorded.
func (d *Deliverer) send(it Item, id uint16, dup bool) {
	m := it.Msg
	if it.QoS > 0 && id == 0 {
		id = d.flows.Start(it.QoS, it.Entry)
		d.Counts.AddGauge(scoreboard.Inflight, 1)
		if it.Entry != "" {
			if err := d.mailbox.Sent(it.Entry, id); err != nil {
				d.log.Warn().Err(err).Str("entry", it.Entry).Msg("mailbox: progress not recorded")
			}
		}
	}
	d.pub = packet.Publish{Topic: m.Topic, QoS: it.QoS, Retain: m.Retain, Dup: dup, PacketID: id}
	h, err := packet.AppendPublishHeader(d.header[:0], &d.pub, int(m.Len()))
	if err != nil {
		// Routed messages were decoded from valid packets.
		panic(fmt.Sprintf("core: PUBLISH header of a routed message: %v", err))
	}
	d.header = h
	d.out.Write(h)
	switch {
	case m.File == nil:
		d.out.Share(m.Payload)
	case m.Size <= InlineFile:
		payload := make([]byte, m.Size)
		if _, err := m.File.ReadAt(payload, m.Offset); err != nil && !errors.Is(err, io.EOF) {
			d.log.Warn().Err(err).Str("topic", m.Topic).Msg("payload file unreadable")
		}
		m.File.Close()
		d.out.Share(payload)
	default:
		d.out.AppendFile(m.File, m.Offset, m.Size)
	}
	d.out.EndPacket()
	d.Counts.Inc(scoreboard.MessagesSent)
	if !dup && !m.Routed.IsZero() {
		d.Counts.Observe(scoreboard.DeliveryLatency, time.Since(m.Routed))
	}
}

// ack settles a flow the client acknowledged, then lets waiting messages
// into the window. An acknowledgement of the wrong kind for its flow breaks
// the protocol; a PUBREC for an identifier not in flight is answered with
// PUBREL for it.
func (d *Deliverer) ack(t packet.Type, id uint16) error {
	fl := d.flows.Get(id)
	if fl == nil {
		if t == packet.TypePubrec {
			d.writePubrel(id) // late, or from an earlier connection: complete it
		}
		return nil // late: nothing to settle
	}
	switch {
	case t == packet.TypePubrec && fl.QoS == packet.ExactlyOnce:
		// [MQTT-4.3.3-1] answer PUBREC with PUBREL; from now on the message
		// is never sent again, only PUBREL is.
		if !fl.Released && fl.Entry != "" {
			if err := d.mailbox.Released(fl.Entry, id); err != nil {
				return fmt.Errorf("mailbox: %w", err)
			}
		}
		fl.Released = true
		d.writePubrel(id)
		return nil
	case t == packet.TypePuback && fl.QoS == packet.AtLeastOnce,
		t == packet.TypePubcomp && fl.QoS == packet.ExactlyOnce && fl.Released:
		d.flows.Finish(id)
		d.Counts.AddGauge(scoreboard.Inflight, -1)
		d.watch.Progress() // room in the window
		if fl.Entry != "" {
			if err := d.mailbox.Settled(fl.Entry, id, fl.Released); err != nil {
				d.log.Warn().Err(err).Str("entry", fl.Entry).Msg("mailbox: settled entry not removed")
			}
		}
		return d.pump()
	}
	state := "sent"
	if fl.Released {
		state = "released"
	}
	return fmt.Errorf("%w: %s for packet %d, a QoS %d message %s", ErrProtocol, t, id, fl.QoS, state)
}

func (d *Deliverer) writePubrel(id uint16) {
	d.header = append(d.header[:0], byte(packet.TypePubrel)<<4|0x02, 2, byte(id>>8), byte(id))
	d.out.Write(d.header)
	d.out.EndPacket()
}

// pump sends waiting messages while the window has room, then mailbox ones.
func (d *Deliverer) pump() error {
	for !d.flows.Full() {
		it, ok := d.flows.Next()
		if !ok {
			return d.pull()
		}
		d.send(it, 0, false)
	}
	return nil
}

// Stop gives up what is not written (the connection ends).
func (d *Deliverer) Stop() {
	d.out.Close()
	d.flows.Drop()
	for _, it := range d.held {
		if it.Msg != nil && it.Msg.File != nil {
			it.Msg.File.Close()
		}
	}
	d.held = nil
}
