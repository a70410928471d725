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
type deliverer struct {
	c   *client
	log zerolog.Logger
	out *bufio.Writer

	buf []byte         // a reply or a PUBLISH header being encoded
	pub packet.Publish // the header fields of every forwarded PUBLISH: QoS 0, no flags
}

func newDeliverer(c *client, log zerolog.Logger) *deliverer {
	return &deliverer{c: c, log: log, out: bufio.NewWriterSize(c.conn, 64<<10)}
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
	var m *message
	for {
		if err := d.replies(); err != nil {
			return err
		}
		if m != nil {
			if err := d.publish(m); err != nil {
				return err
			}
			m = nil
		}
		select {
		case m = <-d.c.pubs:
			continue
		default:
		}
		if err := d.out.Flush(); err != nil {
			return err
		}
		select {
		case p, ok := <-d.c.ctrl:
			if err := d.reply(p, ok); err != nil {
				return err
			}
		case m = <-d.c.pubs: // written after the replies that came meanwhile
		case <-d.c.stop:
			return errStopped
		}
	}
}

// replies writes every reply waiting on the control channel.
func (d *deliverer) replies() error {
	for {
		select {
		case p, ok := <-d.c.ctrl:
			if err := d.reply(p, ok); err != nil {
				return err
			}
		case <-d.c.stop:
			return errStopped
		default:
			return nil
		}
	}
}

// reply writes one reply; a closed channel is the request to close.
func (d *deliverer) reply(p packet.Packet, ok bool) error {
	if !ok {
		return errOrderly
	}
	b, err := packet.Append(d.buf[:0], p)
	if err != nil {
		return fmt.Errorf("encode %s: %w", p.Type(), err)
	}
	d.buf = b
	_, err = d.out.Write(b)
	return err
}

// publish writes one forwarded PUBLISH: the header encoded into the reused
// buffer, the shared payload as it is (a large one bypasses the buffer).
func (d *deliverer) publish(m *message) error {
	d.pub.Topic = m.topic
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
