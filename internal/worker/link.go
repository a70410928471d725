package worker

import (
	"encoding/binary"
	"errors"
	"io"
	"os"
	"sync"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/forkmq/forkmq/internal/control"
	"github.com/forkmq/forkmq/internal/nowait"
	"github.com/forkmq/forkmq/internal/spawn"
)

// link is the worker's end of its control channel (spawn.FdControl): the
// supervisor's orders come in, the worker's requests and announcements go
// out, and both ends keep the same control.Track of what the worker is.
//
// One goroutine (pump) reads the channel for the worker's whole life: it
// checks every message against the track, hands answers to a claim to
// answers and everything else to inbox, and counts it on the eventfd wake,
// which a deliverer's epoll loop waits on (a Go channel cannot be) — all
// but a Hand (see pump). The
// channel's EOF means the supervisor is gone: the worker exits at once,
// like it did when a lifeline pipe closed.
type link struct {
	conn *control.Conn
	log  zerolog.Logger

	mu    sync.Mutex // guards track and sent: the pump receives while the worker sends
	track control.Track
	sent  uint32 // messages sent in the worker's life (control.PartnerIdle.RouterSent)

	inbox   chan control.Message // orders, in the order received
	answers chan control.Message // Grant or Refuse, for a router's claim
	wake    int                  // eventfd: one count per message put in inbox
}

func newLink(log zerolog.Logger) (*link, error) {
	conn, err := control.Inherit(spawn.FdControl)
	if err != nil {
		return nil, err
	}
	conn.KeepBuffers()
	conn.RawHands()
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		conn.Close()
		return nil, os.NewSyscallError("eventfd", err)
	}
	l := &link{
		conn:    conn,
		log:     log,
		track:   control.NewTrack(control.FromWorker, control.RolePool),
		inbox:   make(chan control.Message, 16),
		answers: make(chan control.Message, 1),
		wake:    wake,
	}
	go l.pump()
	return l, nil
}

// send checks that the worker may send m now and sends it.
func (l *link) send(m control.Message) error {
	l.mu.Lock()
	err := l.track.Send(m)
	if err == nil {
		l.sent++
	}
	l.mu.Unlock()
	if err != nil {
		return err
	}
	return l.conn.Send(m)
}

// sentCount is how many messages the worker has sent the supervisor.
func (l *link) sentCount() uint32 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sent
}

// sendAll checks that the worker may send each message in turn, and sends
// them all in one system call (control.Conn.SendAll); if one may not be
// sent, none is.
func (l *link) sendAll(ms ...control.Message) error {
	l.mu.Lock()
	probe := l.track
	for _, m := range ms {
		if err := probe.Send(m); err != nil {
			l.mu.Unlock()
			return err
		}
	}
	l.track = probe
	l.sent += uint32(len(ms))
	l.mu.Unlock()
	return l.conn.SendAll(ms...)
}

// endInPool applies to the track, without sending them, the CleanupDone
// and Idle of a router that ends its client in order and whose deliverer
// will say them for it (control.PartnerIdle, control.PartnerEnd), and
// reports whether it did. Only a router that has claimed its client ends
// so (its deliverer has been handed the client: before the claim it has
// not), and not once told to stop (a Stop makes Idle late: the router says
// its end itself, then exits). From here on the pump takes orders for an
// idle pool worker: a Hand waits in inbox until the router has dropped its
// client.
func (l *link) endInPool(served uint32) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.track.Role != control.RoleRouter || l.track.State != control.StateConnected && l.track.State != control.StateClosing {
		return false
	}
	probe := l.track
	for _, m := range control.PartnerEnd(served) {
		if probe.Send(m) != nil {
			return false
		}
	}
	l.track = probe
	return true
}

// pump reads the channel until the supervisor goes.
func (l *link) pump() {
	for {
		m, err := l.conn.Receive()
		if err != nil {
			if errors.Is(err, io.EOF) {
				os.Exit(int(spawn.ExitParentGone))
			}
			l.log.Error().Err(err).Msg("control channel: unreadable message from the supervisor")
			os.Exit(int(spawn.ExitUsage))
		}
		l.mu.Lock()
		late, err := l.track.Receive(m)
		l.mu.Unlock()
		if err != nil {
			l.log.Error().Err(err).Msg("control channel: the supervisor broke the protocol")
			os.Exit(int(spawn.ExitUsage))
		}
		if late {
			continue // crossed something this worker said; nothing to do (see control.Rule.Late)
		}
		switch m.(type) {
		case *control.Grant, *control.Refuse:
			l.answers <- m
		case *control.Hand:
			// Not counted: only an idle worker is handed a client (the
			// track refuses a Hand in any other state), and an idle
			// worker waits on inbox itself. A count would only wake the
			// client's first wait in the set (the router's read, the
			// deliverer's loop) for nothing: a write here and a read and
			// an epoll_pwait there, per worker and client.
			l.inbox <- m
		default:
			l.inbox <- m
			var one [8]byte
			binary.NativeEndian.PutUint64(one[:], 1)
			_, _ = nowait.Write(l.wake, one[:]) // raw: a Hand to an idle worker wakes no sysmon for it
		}
	}
}

// drainWake resets the eventfd's count, for a deliverer about to look at
// inbox.
func (l *link) drainWake() {
	var b [8]byte
	_, _ = nowait.Read(l.wake, b[:])
}

// role is what the supervisor has made of this worker.
func (l *link) role() control.Role {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.track.Role
}

// state is where the worker is in its life, as its track says.
func (l *link) state() control.State {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.track.State
}
