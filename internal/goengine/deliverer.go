package goengine

import (
	"errors"
	"net"
	"os"
	"time"

	"github.com/rs/zerolog"

	"github.com/forkmq/forkmq/internal/core"
)

// deliverer is the deliverer goroutine of one client: the socket's only
// writer. What to write, in which order and under which bounds is a
// core.Deliverer's; this loop is its transport: Items from the ctrl channel
// (replies first) and from pubs while the backlog has room, bytes out
// through a stall.Writer. Each turn takes everything ready without waiting,
// then writes it all with one write.
type deliverer struct {
	c          *client
	log        zerolog.Logger
	core       *core.Deliverer
	bell       <-chan struct{} // the persistent session's mailbox bell; nil (never ready) for a clean one
	stallTimer reusedTimer     // wakes the loop to judge a client that holds its window
}

var errStopped = errors.New("client ended")

func newDeliverer(c *client, lim core.Limits) *deliverer {
	d := &deliverer{c: c, log: c.log, core: core.NewDeliverer(lim, c.watch, c.log)}
	d.core.Counts = c.counts.deliverer
	return d
}

// run is the deliverer; it ends the client the way its loop ended.
func (d *deliverer) run() {
	defer close(d.c.delivered)
	defer d.core.Stop()
	defer d.stallTimer.stop()
	err := d.loop()
	switch {
	case errors.Is(err, core.ErrClose):
		d.c.end("deliverer: " + reasonOrderly)
	case errors.Is(err, errStopped):
	case errors.Is(err, core.ErrSlowConsumer):
		d.c.slowConsumer(cap(d.c.pubs))
	case errors.Is(err, core.ErrProtocol):
		d.log.Info().Err(err).Msg("closing the connection: the client broke the protocol")
		d.c.end("deliverer: " + reasonProtocol)
	case gone(err):
		d.log.Debug().Err(err).Msg("socket closed while writing")
		d.c.end("deliverer: " + reasonSocket)
	default:
		d.log.Error().Err(err).Msg("deliverer failed")
		d.c.end("deliverer: " + reasonFailure)
	}
}

func (d *deliverer) loop() error {
	for {
		if err := d.turn(); err != nil {
			return err
		}
		if err := d.wait(); err != nil {
			return err
		}
	}
}

// turn takes everything ready without waiting, in order — the ctrl
// channel first, then publications while the backlog has room — and writes
// it.
func (d *deliverer) turn() error {
	closing := false
	for done := false; !done && !closing; {
		done = true
		select {
		case o := <-d.c.ctrl:
			if err := d.control(o); errors.Is(err, core.ErrClose) {
				closing = true
			} else if err != nil {
				return err
			}
			done = false
			continue
		default:
		}
		if d.core.Started() && d.core.Room(0, 0) {
			select {
			case it := <-d.c.pubs:
				if err := d.take(it); err != nil {
					return err
				}
				done = false
			case <-d.bell:
				if err := d.core.Take(core.Item{Kind: core.Bell}); err != nil {
					return err
				}
				done = false
			default:
			}
		}
	}
	if err := d.core.Settle(); err != nil {
		return err
	}
	n, err := d.core.Output().WriteTo(d.c.sock)
	d.core.Wrote(n)
	if err != nil {
		return err
	}
	if closing {
		return core.ErrClose
	}
	d.core.Judge(false)
	return nil
}

// control acts on what the router sent: a batch of replies is written in
// order; Start attaches the session's mailbox; a publication for the
// client itself comes after what pubs held when it arrived.
func (d *deliverer) control(o own) error {
	if o.replies != nil {
		for _, p := range o.replies {
			if err := d.core.Control(core.Item{Kind: core.Reply, Packet: p}); err != nil {
				return err
			}
		}
		return nil
	}
	if o.it.Kind == core.Start {
		if o.mailbox == nil {
			return d.core.Start(nil)
		}
		d.bell = o.mailbox.bell
		return d.core.Start(o.mailbox)
	}
	if core.Catches(o.it) {
		d.catchUp()
	}
	return d.core.Control(o.it)
}

// catchUp takes what pubs holds now (at most its capacity: later arrivals
// need not go first).
func (d *deliverer) catchUp() {
	if !d.core.Started() {
		return
	}
	for range cap(d.c.pubs) {
		select {
		case it := <-d.c.pubs:
			d.take(it)
		default:
			return
		}
	}
}

// take hands a publication from pubs to the core.
func (d *deliverer) take(it core.Item) error {
	d.c.backlog.Add(-it.Msg.Weight())
	d.c.watch.Progress()
	return d.core.Take(it)
}

// wait blocks until the ctrl channel, pubs (while the backlog has room) or
// the bell has something, the client ends, or the stall timeout is due for
// a client that holds its window.
func (d *deliverer) wait() error {
	var pubs <-chan core.Item
	var bell <-chan struct{}
	if d.core.Started() && d.core.Room(0, 0) {
		pubs, bell = d.c.pubs, d.bell
	}
	var stallCheck <-chan time.Time
	if d.core.Busy() && !d.core.Stalled() {
		stallCheck = d.stallTimer.after(d.core.Watch().Left())
	}
	d.core.Idle()
	select {
	case o := <-d.c.ctrl:
		return d.requeue(o)
	case it := <-pubs:
		return d.take(it)
	case <-bell:
		return d.core.Take(core.Item{Kind: core.Bell})
	case <-stallCheck:
		d.core.Judge(false)
		return nil
	case <-d.c.stop:
		return errStopped
	}
}

// requeue acts on a ctrl item the wait brought, keeping ErrClose for the
// turn that follows (which writes what is left first).
func (d *deliverer) requeue(o own) error {
	err := d.control(o)
	if errors.Is(err, core.ErrClose) {
		n, werr := d.core.Output().WriteTo(d.c.sock)
		d.core.Wrote(n)
		if werr != nil {
			return werr
		}
	}
	return err
}

// gone tells the errors of a connection closed by the client, by end, or
// out of time to flush.
func gone(err error) bool {
	var oe *net.OpError
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, net.ErrClosed) || errors.As(err, &oe)
}
