package core

import (
	"testing"

	"github.com/forkmq/forkmq/internal/packet"
	"github.com/forkmq/forkmq/internal/scoreboard"
)

// TestDelivererCounts: what a deliverer writes is counted in its slot —
// messages, bytes the socket took, messages in flight until settled — and
// a nil Counts counts nothing.
func TestDelivererCounts(t *testing.T) {
	board := scoreboard.New(1)
	ref, err := board.Allocate(scoreboard.Identity{Role: scoreboard.RoleDeliverer})
	if err != nil {
		t.Fatal(err)
	}
	w, err := board.Writer(ref)
	if err != nil {
		t.Fatal(err)
	}
	d := newTestDeliverer(10, 100)
	d.Counts = w
	d.Start(nil)
	for _, qos := range []packet.QoS{0, 1, 2} {
		d.Take(pubItem("m", qos))
	}
	d.Judge(false)
	if s := board.Read().Slots[0]; s.Gauges[scoreboard.BacklogMessages] != 3 || s.Gauges[scoreboard.BacklogBytes] != d.Output().Pending() {
		t.Errorf("backlog before the write: %v messages, %v bytes; want 3 and %d", s.Gauges[scoreboard.BacklogMessages], s.Gauges[scoreboard.BacklogBytes], d.Output().Pending())
	}
	d.Wrote(d.Output().Pending())
	written(t, d)
	slot := func() scoreboard.Slot { return board.Read().Slots[0] }
	if s := slot(); s.Counters[scoreboard.MessagesSent] != 3 || s.Counters[scoreboard.BytesSent] == 0 ||
		s.Gauges[scoreboard.Inflight] != 2 || s.State != scoreboard.StateConnected {
		t.Fatalf("after three messages: %+v", s)
	}
	for _, ack := range []Item{{Kind: Ack, AckType: packet.TypePuback, AckID: 1}, {Kind: Ack, AckType: packet.TypePubrec, AckID: 2}, {Kind: Ack, AckType: packet.TypePubcomp, AckID: 2}} {
		if err := d.Control(ack); err != nil {
			t.Fatal(err)
		}
	}
	if s := slot(); s.Gauges[scoreboard.Inflight] != 0 {
		t.Errorf("in flight after every acknowledgement: %d, want 0", s.Gauges[scoreboard.Inflight])
	}
	quiet := newTestDeliverer(10, 100) // Counts nil
	quiet.Start(nil)
	quiet.Take(pubItem("m", 1))
	quiet.Wrote(1)
}
