package goengine

import (
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/forkmq/forkmq/internal/core"
	"github.com/forkmq/forkmq/internal/packet"
)

// session is a subscriber: what the index holds, and what is kept between
// connections when the session is persistent (clean session 0). A clean
// session lives as long as its connection.
type session struct {
	name       string // the connection's name, or "goroutine.<instance>.s<hash>" if persistent
	persistent bool
	online     atomic.Pointer[client] // the connection serving it; nil while offline

	inbound map[uint16]struct{} // QoS 2 ids received, not yet released [MQTT-4.3.3-2]; the router's
	mailbox *mailbox            // persistent only

	mu      sync.Mutex // guards filters
	filters map[string]struct{}

	// forward, set for a bridge's session (bridges.go), takes every copy
	// routed to it instead of a connection.
	forward func(m *core.Message, qos packet.QoS)
}

func newSession(name string, persistent bool) *session {
	s := &session{name: name, persistent: persistent, inbound: make(map[uint16]struct{}), filters: make(map[string]struct{})}
	if persistent {
		s.mailbox = newMailbox()
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

// filterList is the session's filters, for removing it from the index.
func (s *session) filterList() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Collect(maps.Keys(s.filters))
}

// mailbox is a persistent session's core.Mailbox, in memory: the QoS 1/2
// messages routed to it, oldest first, each until the client settles it,
// with how far its flow got — the counterpart of the process engine's
// spool folder. Routers store into it; the deliverer of the connection
// serving the session reads it.
type mailbox struct {
	mu        sync.Mutex
	entries   []*entry // oldest first; settled ones are dropped
	byName    map[string]*entry
	seq       uint64
	bytes     int64
	attached  bool // a connection serves the session (from its CONNECT on)
	discarded bool // by a clean-session CONNECT [MQTT-3.1.2-6]: store nothing more
	bell      chan struct{}
	room      chan struct{} // signalled when an entry is settled or the session detaches
}

// entry is one message in a mailbox.
type entry struct {
	item  core.Item // Entry holds its name
	state byte      // 0 new, 'p' sent, 'r' released
	id    uint16
	given bool // handed to the deliverer
}

func newMailbox() *mailbox {
	return &mailbox{byName: map[string]*entry{}, bell: make(chan struct{}, 1), room: make(chan struct{}, 1)}
}

// store keeps a copy, unless the mailbox holds maxMsgs messages or maxBytes
// already (counting, while a connection serves the session, a window's
// more); it reports what it held when it refused. It rings the bell.
func (mb *mailbox) store(it core.Item, maxMsgs, window int, maxBytes int64) (ok bool, n int, bytes int64) {
	size := it.Msg.Weight()
	mb.mu.Lock()
	if mb.attached {
		maxMsgs += window
	}
	switch {
	case mb.discarded:
		mb.mu.Unlock()
		return true, 0, 0
	case len(mb.entries) >= maxMsgs || mb.bytes+size > maxBytes:
		n, bytes = len(mb.entries), mb.bytes
		mb.mu.Unlock()
		return false, n, bytes
	}
	mb.seq++
	it.Entry = fmt.Sprintf("%016x", mb.seq)
	e := &entry{item: it}
	mb.entries = append(mb.entries, e)
	mb.byName[it.Entry] = e
	mb.bytes += size
	mb.mu.Unlock()
	select {
	case mb.bell <- struct{}{}:
	default: // rung already
	}
	return true, 0, 0
}

// attach records whether a connection serves the session. A new one is
// handed the unsettled flows again (Unsettled) and the rest anew.
func (mb *mailbox) attach(on bool) {
	mb.mu.Lock()
	mb.attached = on
	for _, e := range mb.entries {
		e.given = false
	}
	mb.mu.Unlock()
	mb.signalRoom()
}

// signalRoom wakes a router waiting for room (see router.toMailbox).
func (mb *mailbox) signalRoom() {
	select {
	case mb.room <- struct{}{}:
	default:
	}
}

// discard empties the mailbox for good.
func (mb *mailbox) discard() {
	mb.mu.Lock()
	mb.discarded = true
	mb.entries, mb.byName, mb.bytes = nil, map[string]*entry{}, 0
	mb.mu.Unlock()
}

// Unsettled implements core.Mailbox.
func (mb *mailbox) Unsettled() ([]core.Unsettled, error) {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	var out []core.Unsettled
	for _, e := range mb.entries {
		if e.state != 0 {
			e.given = true
			out = append(out, core.Unsettled{Item: e.item, ID: e.id, Released: e.state == 'r'})
		}
	}
	return out, nil
}

// Rang implements core.Mailbox: the entries are all in memory already.
func (mb *mailbox) Rang(string) {}

// Rung implements core.Mailbox: no bell is noted (Rang), so none waits; the
// mailbox is bounded where it is stored (store).
func (mb *mailbox) Rung() int { return 0 }

// Next implements core.Mailbox.
func (mb *mailbox) Next(n int) ([]core.Item, error) {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	var out []core.Item
	for _, e := range mb.entries {
		if len(out) == n {
			break
		}
		if e.state == 0 && !e.given {
			e.given = true
			out = append(out, e.item)
		}
	}
	return out, nil
}

// Sent implements core.Mailbox.
func (mb *mailbox) Sent(name string, id uint16) error { return mb.mark(name, 'p', id) }

// Released implements core.Mailbox.
func (mb *mailbox) Released(name string, id uint16) error { return mb.mark(name, 'r', id) }

func (mb *mailbox) mark(name string, state byte, id uint16) error {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	if e := mb.byName[name]; e != nil {
		e.state, e.id = state, id
	}
	return nil
}

// Settled implements core.Mailbox.
func (mb *mailbox) Settled(name string, _ uint16, _ bool) error {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	e := mb.byName[name]
	if e == nil {
		return nil
	}
	delete(mb.byName, name)
	mb.bytes -= e.item.Msg.Weight()
	i := slices.Index(mb.entries, e)
	mb.entries = slices.Delete(mb.entries, i, i+1)
	mb.signalRoom()
	return nil
}

// qos2Seen records a QoS 2 identifier received; it reports whether it was
// already.
func (s *session) qos2Seen(id uint16) bool {
	if _, seen := s.inbound[id]; seen {
		return true
	}
	s.inbound[id] = struct{}{}
	return false
}
