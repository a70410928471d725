package worker

import (
	"fmt"

	"github.com/rs/zerolog"

	"github.com/forkmq/forkmq/internal/control"
	"github.com/forkmq/forkmq/internal/nowait"
	"github.com/forkmq/forkmq/internal/proctitle"
	"github.com/forkmq/forkmq/internal/scoreboard"
	"github.com/forkmq/forkmq/internal/spawn"
)

// maxTitleID is how much of a client identifier a process title shows.
const maxTitleID = 256

// serve serves the client a Hand gives, in its role, and returns why the
// client ended. Every descriptor the Hand brought is closed by then.
func (w *worker) serve(h *control.Hand) spawn.ExitCode {
	log := w.log.With().Str("role", h.Role.String()).Str("conn", h.Conn).Str("queue", h.Conn).Logger()
	w.slot.Serve(slotRoles[h.Role], h.Conn, h.Remote)
	w.quiet()
	memDumpLater(w.memDump, log)
	if h.Role == control.RoleDeliverer {
		w.title.Set(proctitle.Format("forkmq:", "deliverer", h.Remote), "forkmq-deliver")
		return w.serveDeliverer(h, log)
	}
	w.title.Set(proctitle.Format("forkmq:", "router", h.Remote), "forkmq-router")
	return w.serveRouter(h, log)
}

// serveDeliverer serves the client of h as its deliverer.
func (w *worker) serveDeliverer(h *control.Hand, log zerolog.Logger) spawn.ExitCode {
	// Both descriptors come raw (control.Conn.RawHands) and stay so: the
	// deliverer's loop waits on them in its own epoll set, and closes them
	// raw at the client's end. Only the socket is made non-blocking (core's
	// Output writes it with plain writes): the pair channel is read and
	// written with MSG_DONTWAIT, which spares two fcntls per client.
	sock, pair := h.SocketFd, h.PairFd
	if err := nonBlocking(sock, "socket"); err != nil {
		shutdownFd(sock, log)
		nowait.Close(sock)
		nowait.Close(pair)
		log.Error().Err(err).Msg("deliverer start")
		return spawn.ExitUsage
	}
	// The queue comes with the router's first word on the pair channel
	// (adopt): the router creates it once the client has claimed its
	// identifier.
	d, err := newDeliverer(w.args, log, h.Conn, delivererFds{sock: sock, pair: pair}, w.bufs.pairIn(), w.bufs.queueIn(w.args.QueueMsgSize), w.spool, w.slot, w.dset, w.orders)
	defer d.close()
	if err != nil {
		shutdownFd(sock, log)
		log.Error().Err(err).Msg("deliverer start")
		return spawn.ExitUsage
	}
	d.title = func(clientID string) {
		w.title.Set(proctitle.Format("forkmq:", "deliverer", clientID, h.Remote), "forkmq-deliver")
		w.slot.SetClient(clientID, h.Remote)
	}
	end := d.run()
	w.partnerPooled, w.partnerSent = d.routerPooled, d.routerSent
	return end
}

// orders takes the supervisor's orders while a deliverer serves a client;
// an error ends the client.
func (w *worker) orders() error {
	w.link.drainWake()
	for {
		select {
		case m := <-w.link.inbox:
			switch m := m.(type) {
			case *control.Stop:
				w.stopping.Store(true)
				return errStopped
			case *control.Reload:
				w.reload(m)
			default:
				return fmt.Errorf("control channel: unexpected %s while serving", m.Type())
			}
		default:
			return nil
		}
	}
}

// slotRoles are the scoreboard's names of the roles a Hand gives.
var slotRoles = map[control.Role]scoreboard.Role{
	control.RoleRouter:    scoreboard.RoleRouter,
	control.RoleDeliverer: scoreboard.RoleDeliverer,
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
