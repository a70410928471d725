package goengine

import (
	"cmp"
	"maps"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/forkmq/forkmq/internal/packet"
)

// session is a subscriber as the index knows it. A clean session lives as
// long as its connection. A persistent one (clean session 0) is kept by the
// engine under its client identifier, with its subscriptions, its QoS 1/2
// messages and its unsettled flows both ways, from one connection to the
// next — in memory only, so not across a restart of the engine.
//
// Publishers route a QoS 0 copy to the connection serving the session (none
// while offline: dropped), and a QoS 1/2 copy for a persistent session to
// its mailbox, whatever the connection, as the process engine's routers do;
// the mailbox rings the bell and the connection's deliverer takes from it
// as its in-flight window allows.
type session struct {
	name       string // the connection's name, or "goroutine.<instance>.s<hash>" if persistent
	persistent bool
	online     atomic.Pointer[client] // the connection serving it; nil while offline

	// inbound and flows belong to the connection serving the session: its
	// router and its deliverer. The engine's client-id takeover orders one
	// connection's end before the next one's start.
	inbound map[uint16]struct{} // QoS 2 ids received, not yet released [MQTT-4.3.3-2]
	flows   *flows              // outbound QoS 1/2 flows not yet settled (persistent only)

	bell chan struct{} // rung, never blocking, when the mailbox gains a message

	mu        sync.Mutex // guards the fields below
	filters   map[string]struct{}
	mailbox   []delivery // QoS 1/2 copies not yet sent, oldest first
	held      int        // messages stored: in the mailbox or in flight
	heldBytes int64
	attached  bool // a connection serves the session (from its CONNECT on)
	discarded bool // by a clean-session CONNECT [MQTT-3.1.2-6]: store nothing more
}

func newSession(name string, persistent bool) *session {
	s := &session{name: name, persistent: persistent, inbound: make(map[uint16]struct{}), filters: make(map[string]struct{})}
	if persistent {
		s.flows = newFlows()
		s.bell = make(chan struct{}, 1)
	}
	return s
}

func (s *session) addFilter(f string) {
	s.mu.Lock()
	s.filters[f] = struct{}{}
	s.mu.Unlock()
}

func (s *session) removeFilter(f string) {
	s.mu.Lock()
	delete(s.filters, f)
	s.mu.Unlock()
}

// filterList is the session's subscriptions, for its removal from the index.
func (s *session) filterList() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Collect(maps.Keys(s.filters))
}

// store keeps a QoS 1/2 copy in the mailbox and rings the bell, unless the
// session holds maxMsgs messages or the copy would take it past maxBytes:
// then it reports false with what the session holds. A session served by a
// connection may hold its in-flight window's worth (window) more: those
// are with the client, and a client that has just reconnected has not yet
// acknowledged what it was sent. So, as in the process engine, the bound
// is what an offline session keeps.
func (s *session) store(dv delivery, maxMsgs, window int, maxBytes int64) (ok bool, n int, bytes int64) {
	size := dv.m.size()
	s.mu.Lock()
	if s.attached {
		maxMsgs += window
	}
	switch {
	case s.discarded:
		s.mu.Unlock()
		return true, 0, 0
	case s.held >= maxMsgs || s.heldBytes+size > maxBytes:
		n, bytes = s.held, s.heldBytes
		s.mu.Unlock()
		return false, n, bytes
	}
	s.mailbox = append(s.mailbox, dv)
	s.held++
	s.heldBytes += size
	s.mu.Unlock()
	select {
	case s.bell <- struct{}{}:
	default: // rung already
	}
	return true, 0, 0
}

// attach records whether a connection serves the session.
func (s *session) attach(on bool) {
	s.mu.Lock()
	s.attached = on
	s.mu.Unlock()
}

// take appends up to n of the oldest mailbox copies to dst; they stay
// counted as held until settled.
func (s *session) take(dst []delivery, n int) []delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	n = min(n, len(s.mailbox))
	dst = append(dst, s.mailbox[:n]...)
	clear(s.mailbox[:n])
	s.mailbox = s.mailbox[n:]
	if len(s.mailbox) == 0 {
		s.mailbox = nil // let the array go
	}
	return dst
}

// settled releases a copy whose flow the client completed.
func (s *session) settled(m *message) {
	s.mu.Lock()
	s.held--
	s.heldBytes -= m.size()
	s.mu.Unlock()
}

// discard empties a persistent session no connection serves any more.
func (s *session) discard() {
	s.mu.Lock()
	s.discarded = true
	s.mailbox, s.held, s.heldBytes = nil, 0, 0
	s.mu.Unlock()
}

// flows is the state of server-to-client QoS 1 and 2 flows: the packet
// identifiers in use and, for each, what it waits for and its message (to
// resend it on a new connection of a persistent session [MQTT-4.4.0-1]).
type flows struct {
	inflight map[uint16]flight // sent and not settled [MQTT-4.6.0-2]
	lastID   uint16
	seq      uint64
}

// flight is one flow under way.
type flight struct {
	state flowState
	m     *message
	seq   uint64 // order of sending, for the resend
}

// flowState is what an outbound flow waits for.
type flowState byte

const (
	awaitPuback  flowState = iota // QoS 1
	awaitPubrec                   // QoS 2, PUBLISH sent
	awaitPubcomp                  // QoS 2, PUBREL sent
)

func newFlows() *flows { return &flows{inflight: make(map[uint16]flight)} }

// start records a new flow of m under a free packet identifier
// [MQTT-2.3.1-2] and returns it.
func (f *flows) start(m *message, qos packet.QoS) uint16 {
	for {
		if f.lastID++; f.lastID == 0 {
			f.lastID = 1
		}
		if _, used := f.inflight[f.lastID]; !used {
			break
		}
	}
	st := awaitPuback
	if qos == packet.ExactlyOnce {
		st = awaitPubrec
	}
	f.seq++
	f.inflight[f.lastID] = flight{state: st, m: m, seq: f.seq}
	return f.lastID
}

// unsettled lists the identifiers in flight in the order they were sent.
func (f *flows) unsettled() []uint16 {
	return slices.SortedFunc(maps.Keys(f.inflight), func(a, b uint16) int {
		return cmp.Compare(f.inflight[a].seq, f.inflight[b].seq)
	})
}
