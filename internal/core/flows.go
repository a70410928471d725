package core

import (
	"github.com/forkmq/forkmq/internal/packet"
)

// Flows is a client's server-to-client QoS 1 and 2 flows: the packet
// identifiers in use [MQTT-2.3.1-2], the in-flight window (-max-inflight),
// and the publications waiting for room in it, in arrival order
// [MQTT-4.6.0-2, -3]. A persistent session's flows outlive the connection
// through its Mailbox, which records each entry's progress; Flows itself is
// per connection.
type Flows struct {
	window   int
	inflight map[uint16]*Flight
	waiting  []Item
	waitSize int64 // what the waiting publications weigh
	lastID   uint16
}

// Flight is one message sent and not yet settled.
type Flight struct {
	QoS      packet.QoS
	Released bool   // PUBREC received, PUBREL sent (QoS 2)
	Entry    string // the mailbox entry, "" for a clean session's message
}

// NewFlows returns empty flows with a window of at most window messages in
// flight.
func NewFlows(window int) *Flows {
	return &Flows{window: max(window, 1), inflight: make(map[uint16]*Flight)}
}

// Full reports whether the window has no room.
func (f *Flows) Full() bool { return len(f.inflight) >= f.window }

// Room is how many more messages the window takes.
func (f *Flows) Room() int { return max(f.window-len(f.inflight), 0) }

// Get returns the flight with this identifier, or nil.
func (f *Flows) Get(id uint16) *Flight { return f.inflight[id] }

// Start picks a free packet identifier for a new flow [MQTT-2.3.1-2].
func (f *Flows) Start(qos packet.QoS, entry string) uint16 {
	for {
		if f.lastID++; f.lastID == 0 {
			f.lastID = 1
		}
		if _, used := f.inflight[f.lastID]; !used {
			break
		}
	}
	f.Resume(f.lastID, qos, entry, false)
	return f.lastID
}

// Resume records a flow already under way (replayed from a mailbox).
func (f *Flows) Resume(id uint16, qos packet.QoS, entry string, released bool) {
	f.inflight[id] = &Flight{QoS: qos, Entry: entry, Released: released}
}

// Finish ends a settled flow.
func (f *Flows) Finish(id uint16) { delete(f.inflight, id) }

// Wait queues a publication for room in the window.
func (f *Flows) Wait(it Item) {
	f.waiting = append(f.waiting, it)
	f.waitSize += it.Msg.Weight()
}

// Waiting is how many publications wait for room.
func (f *Flows) Waiting() int { return len(f.waiting) }

// WaitingBytes is what the waiting publications weigh.
func (f *Flows) WaitingBytes() int64 { return f.waitSize }

// Next takes the oldest waiting publication.
func (f *Flows) Next() (Item, bool) {
	if len(f.waiting) == 0 {
		return Item{}, false
	}
	it := f.waiting[0]
	f.waiting[0] = Item{}
	f.waiting = f.waiting[1:]
	f.waitSize -= it.Msg.Weight()
	return it, true
}

// Drop gives up what waits (the connection ends), closing payload files.
func (f *Flows) Drop() {
	for _, it := range f.waiting {
		if it.Msg != nil && it.Msg.File != nil {
			it.Msg.File.Close()
		}
	}
	f.waiting, f.waitSize = nil, 0
}
