package worker

import (
	"os"
	"slices"
	"sync/atomic"

	"github.com/forkmq/forkmq/internal/packet"
)

// outbound is the deliverer's state of server-to-client QoS 1 and 2 flows:
// the packet identifiers in use, the in-flight window, and the messages
// waiting for room in it, in arrival order [MQTT-4.6.0-2, -3].
type outbound struct {
	window   int
	inflight map[uint16]*flight
	files    map[string]bool // mailbox entries in flight or waiting
	waiting  []pending       // in memory or spool files, in arrival order
	mailbox  []string        // mailbox entries waiting, sorted: names sort by arrival
	lastID   uint16

	// held counts the messages waiting, for the intake's bound on what a
	// slow client may hold (it runs on another goroutine).
	held atomic.Int64
}

// flight is one message sent and not yet settled.
type flight struct {
	qos      packet.QoS
	released bool   // PUBREC received, PUBREL sent (QoS 2)
	file     string // the mailbox entry's base name, "" if not from a mailbox
}

// pending is a message waiting for room in the window: in memory, an open
// spool file, or a mailbox entry's name.
type pending struct {
	env     []byte
	file    *os.File
	mailbox string
}

func newOutbound(window int) *outbound {
	return &outbound{window: max(window, 1), inflight: make(map[uint16]*flight), files: make(map[string]bool)}
}

func (o *outbound) full() bool { return len(o.inflight) >= o.window }

func (o *outbound) get(id uint16) *flight { return o.inflight[id] }

// start assigns a free packet identifier [MQTT-2.3.1-2] to a new flow.
func (o *outbound) start(qos packet.QoS, file string) uint16 {
	for {
		o.lastID++
		if o.lastID == 0 {
			o.lastID = 1
		}
		if _, used := o.inflight[o.lastID]; !used {
			break
		}
	}
	o.resume(o.lastID, qos, file, false)
	return o.lastID
}

// resume records a flow already under way (replayed from a mailbox).
func (o *outbound) resume(id uint16, qos packet.QoS, file string, released bool) {
	o.inflight[id] = &flight{qos: qos, file: file, released: released}
	if file != "" {
		o.files[file] = true
	}
}

func (o *outbound) finish(id uint16) {
	if fl := o.inflight[id]; fl != nil && fl.file != "" {
		delete(o.files, fl.file)
	}
	delete(o.inflight, id)
}

func (o *outbound) queue(p pending) {
	if p.mailbox != "" {
		// A mailbox entry found late (its doorbell did not fit in the
		// queue) still goes before later ones [MQTT-4.6.0-6].
		o.files[p.mailbox] = true
		i, _ := slices.BinarySearch(o.mailbox, p.mailbox)
		o.mailbox = slices.Insert(o.mailbox, i, p.mailbox)
	} else {
		o.waiting = append(o.waiting, p)
	}
	o.held.Add(1)
}

// next takes the oldest waiting message. (A client has waiting mailbox
// entries only with a persistent session, whose QoS 1/2 messages all go
// through the mailbox, so the two lists never compete for order.)
func (o *outbound) next() (pending, bool) {
	if len(o.mailbox) > 0 {
		name := o.mailbox[0]
		o.mailbox = o.mailbox[1:]
		delete(o.files, name)
		o.held.Add(-1)
		return pending{mailbox: name}, true
	}
	if len(o.waiting) == 0 {
		return pending{}, false
	}
	p := o.waiting[0]
	o.waiting[0] = pending{}
	o.waiting = o.waiting[1:]
	o.held.Add(-1)
	if p.mailbox != "" {
		delete(o.files, p.mailbox)
	}
	return p, true
}

// fileQoS reads the QoS of a spooled publication without moving the file's
// offset; 0 if it cannot be read.
func fileQoS(f *os.File) packet.QoS {
	var b [2]byte
	if n, _ := f.ReadAt(b[:], 0); n < 2 {
		return 0
	}
	return packet.QoS(b[1] >> 1 & 3)
}
