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
