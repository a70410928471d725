package core

import (
	"github.com/rs/zerolog"

	"github.com/forkmq/forkmq/internal/scoreboard"
)

// The deliverer's backlog: what a client holds that is not written yet,
// its bounds (-max-queued-messages, -max-queued-bytes), the stall verdict
// and the slow-consumer policy (package stall has the why).

// Held is how many publications the client holds: written to the output
// and not yet taken by the socket, waiting for room in the window, held
// while subscriptions are being made, or rung in its mailbox and not yet
// sent.
func (d *Deliverer) Held() int {
	n := d.out.PendingPackets() + d.flows.Waiting() + len(d.held)
	if d.mailbox != nil {
		n += d.mailbox.Rung()
	}
	return n
}

// Room reports whether the backlog takes more, with msgs more messages of
// bytes more bytes on their way into it (taken by the engine and not yet
// handed over). An empty backlog takes any one message, however large.
func (d *Deliverer) Room(msgs int, bytes int64) bool {
	msgs += d.Held()
	return msgs < d.lim.BacklogMsgs && (msgs == 0 || d.out.Pending()+d.flows.WaitingBytes()+bytes < d.lim.BacklogBytes)
}

// OutputFull reports whether what waits for the socket has reached the
// backlog's bounds: the engine then stops reading the Own channel, and a
// router that sends and never reads is slowed down.
func (d *Deliverer) OutputFull() bool {
	return d.out.PendingPackets() >= d.lim.BacklogMsgs || d.out.Pending() >= d.lim.BacklogBytes
}

// WindowFull reports whether messages wait for room in the window: only
// the client's acknowledgements let them out.
func (d *Deliverer) WindowFull() bool { return d.flows.Waiting() > 0 }

// Busy reports whether the client has something to take: output not yet
// written, or messages waiting for room in the window.
func (d *Deliverer) Busy() bool {
	return d.out.Pending() > 0 || d.flows.Waiting() > 0 || len(d.held) > 0
}

// Judge gives the stall verdict: nothing written and nothing acknowledged
// for the stall timeout while the client had something to take. refused
// says the socket refused the last write: with output pending, the verdict
// waits for a refused write, so the deliverer's own delays never count
// against the client.
func (d *Deliverer) Judge(refused bool) {
	d.Counts.SetBacklog(d.Held(), d.out.Pending()+d.flows.WaitingBytes())
	if !d.Busy() || d.watch.Stalled() || !d.watch.Due() {
		return
	}
	if d.out.Pending() > 0 && !refused {
		return
	}
	d.watch.MarkStalled()
}

// Idle is called when the engine is about to wait with nothing to do: the
// stall clock starts when the client next has something to take.
func (d *Deliverer) Idle() {
	if !d.Busy() {
		d.watch.Progress()
	}
}

// Stalled reports the verdict.
func (d *Deliverer) Stalled() bool { return d.watch.Stalled() }

// Refuse applies the slow-consumer policy to an inbox Item that finds no
// room in a stalled client's backlog: a bell is noted (the mailbox keeps
// the message), a QoS 0 publication is dropped (counted, logged now and
// then), anything else ends the client (ErrSlowConsumer).
func (d *Deliverer) Refuse(it Item) error {
	switch {
	case it.Kind == Bell:
		if d.mailbox != nil {
			d.mailbox.Rang(it.Entry)
			d.news = true
		}
		return nil
	case it.Kind == Publication && it.QoS == 0:
		if it.Msg.File != nil {
			it.Msg.File.Close()
		}
		d.dropped++
		d.Counts.Inc(scoreboard.PublishDropped)
		LogDropped(d.log, d.dropped, d.Held(), d.out.Pending())
		return nil
	}
	return ErrSlowConsumer
}

// LogDropped logs the QoS 0 publications dropped for a stalled client: the
// first, then every thousandth.
func LogDropped(log zerolog.Logger, total uint64, backlog int, backlogBytes int64) {
	if total == 1 || total%1000 == 0 {
		log.Warn().Uint64("dropped_total", total).Int("backlog", backlog).Int64("backlog_bytes", backlogBytes).
			Msg("slow consumer: QoS 0 message dropped (raise -max-queued-messages / -max-queued-bytes)")
	}
}
