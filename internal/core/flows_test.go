package core

import (
	"testing"

	"github.com/forkmq/forkmq/internal/packet"
)

func TestFlowsWindowAndIdentifiers(t *testing.T) {
	f := NewFlows(2)
	a := f.Start(packet.AtLeastOnce, "")
	b := f.Start(packet.ExactlyOnce, "m1")
	if a == 0 || b == 0 || a == b {
		t.Fatalf("identifiers %d, %d: want distinct and non-zero [MQTT-2.3.1-1]", a, b)
	}
	if !f.Full() || f.Room() != 0 {
		t.Fatal("window of 2 with 2 in flight is not full")
	}
	if fl := f.Get(b); fl == nil || fl.Entry != "m1" || fl.QoS != packet.ExactlyOnce {
		t.Errorf("flight %d: %+v", b, fl)
	}
	first := Item{Kind: Publication, QoS: 1, Msg: &Message{Topic: "t", Payload: []byte("12345")}}
	second := Item{Kind: Publication, QoS: 2, Msg: &Message{Topic: "u", Payload: []byte("1")}}
	f.Wait(first)
	f.Wait(second)
	if f.Waiting() != 2 || f.WaitingBytes() != 6+2 {
		t.Errorf("waiting %d of %d bytes, want 2 of 8", f.Waiting(), f.WaitingBytes())
	}
	f.Finish(a)
	if f.Full() || f.Get(a) != nil {
		t.Fatal("finished flow still counted")
	}
	if it, ok := f.Next(); !ok || it.Msg.Topic != "t" {
		t.Fatalf("next = %+v, want the oldest waiting message [MQTT-4.6.0-2]", it)
	}
	if it, ok := f.Next(); !ok || it.Msg.Topic != "u" {
		t.Fatalf("next = %+v, want the second", it)
	}
	if _, ok := f.Next(); ok || f.WaitingBytes() != 0 {
		t.Fatal("queue not empty after taking everything")
	}
}

func TestFlowsSkipIdentifiersInUse(t *testing.T) {
	// [MQTT-2.3.1-2] a new flow never takes an identifier still in use,
	// including ones resumed from a mailbox and the wrap past 65535.
	f := NewFlows(100)
	f.Resume(1, packet.AtLeastOnce, "x", false)
	f.Resume(2, packet.ExactlyOnce, "y", true)
	if id := f.Start(packet.AtLeastOnce, ""); id != 3 {
		t.Fatalf("first new identifier %d, want 3", id)
	}
	f.lastID = 65535
	if id := f.Start(packet.AtLeastOnce, ""); id != 4 {
		t.Fatalf("identifier after the wrap %d, want 4 (0 is not an identifier, 1–3 in use)", id)
	}
}
