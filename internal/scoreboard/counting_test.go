package scoreboard

import (
	"io"
	"strings"
	"testing"
)

// TestConnectedAndReader: a router's connect is counted with its time
// since the slot was given, and what it reads through Reader is counted
// as bytes received; a nil Writer's Reader is the reader itself.
func TestConnectedAndReader(t *testing.T) {
	b := New(2)
	ref, err := b.Allocate(Identity{Role: RoleRouter, Queue: "q.1", Remote: "1.2.3.4:5"})
	if err != nil {
		t.Fatal(err)
	}
	w, err := b.Writer(ref)
	if err != nil {
		t.Fatal(err)
	}
	w.Connected("sensor-7", "1.2.3.4:5")
	n, err := io.Copy(io.Discard, w.Reader(strings.NewReader("twelve bytes")))
	if err != nil || n != 12 {
		t.Fatalf("copied %d, %v", n, err)
	}
	rd := b.Read()
	s := rd.Slots[0]
	if s.ClientID != "sensor-7" || s.State != StateConnected || s.Counters[Connects] != 1 || s.Counters[BytesReceived] != 12 {
		t.Errorf("slot %+v: want sensor-7 connected, 1 connect, 12 bytes received", s)
	}
	if rd.Histograms[ConnectTime].Count != 1 {
		t.Errorf("connect time observed %d times, want 1", rd.Histograms[ConnectTime].Count)
	}
	var nilW *Writer
	r := strings.NewReader("x")
	if nilW.Reader(r) != io.Reader(r) {
		t.Error("a nil Writer's Reader wraps the reader")
	}
	nilW.Connected("x", "y") // counts nothing, does not panic
}

// TestPoolWorkerSlot: a pool worker keeps one slot for its life. Each role
// it is given shows in the slot with its client, and going back to the
// pool clears role, client and gauges but keeps what it counted.
func TestPoolWorkerSlot(t *testing.T) {
	b := New(2)
	ref, err := b.Allocate(Identity{Role: RolePool})
	if err != nil {
		t.Fatal(err)
	}
	w, err := b.Writer(ref)
	if err != nil {
		t.Fatal(err)
	}
	slot := func() Slot {
		t.Helper()
		rd := b.Read()
		if len(rd.Slots) != 1 {
			t.Fatalf("%d slots owned, want 1", len(rd.Slots))
		}
		return rd.Slots[0]
	}
	w.Idle()
	for i, c := range []struct{ queue, remote, id string }{
		{"forkmq.x.1", "10.0.0.1:1", "sensor-1"},
		{"forkmq.x.2", "10.0.0.2:2", "sensor-2"},
	} {
		w.Serve(RoleRouter, c.queue, c.remote)
		if s := slot(); s.Role != RoleRouter || s.Queue != c.queue || s.Remote != c.remote || s.ClientID != "" || s.State != StateConnecting {
			t.Errorf("client %d handed: slot %+v, want a connecting router of %s", i, s.Identity, c.queue)
		}
		w.Connected(c.id, c.remote)
		w.SetGauge(Subscriptions, 3)
		if s := slot(); s.ClientID != c.id || s.State != StateConnected || s.Gauges[Subscriptions] != 3 {
			t.Errorf("client %d connected: slot %+v %v, want %s connected with 3 subscriptions", i, s.Identity, s.Gauges, c.id)
		}
		w.Idle()
		s := slot()
		if s.Role != RolePool || s.State != StateIdle || s.Queue != "" || s.Remote != "" || s.ClientID != "" || s.Gauges != [NumGauges]int64{} {
			t.Errorf("client %d gone: slot %+v %v, want an idle pool worker with no client and no gauges", i, s.Identity, s.Gauges)
		}
		if s.Counters[Connects] != uint64(i+1) {
			t.Errorf("client %d gone: %d connects counted, want %d (the process's)", i, s.Counters[Connects], i+1)
		}
	}
	var nilW *Writer
	nilW.Serve(RoleDeliverer, "q", "r") // counts nothing, does not panic
	nilW.Idle()
}
