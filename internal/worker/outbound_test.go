package worker

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/forkmq/forkmq/internal/packet"
	"github.com/forkmq/forkmq/internal/spool"
)

func TestOutboundWindowAndIdentifiers(t *testing.T) {
	o := newOutbound(2)
	a := o.start(packet.AtLeastOnce, "")
	b := o.start(packet.ExactlyOnce, "m1")
	if a == 0 || b == 0 || a == b {
		t.Fatalf("identifiers %d, %d: want distinct and non-zero [MQTT-2.3.1-1]", a, b)
	}
	if !o.full() {
		t.Fatal("window of 2 with 2 in flight is not full")
	}
	if !o.files["m1"] {
		t.Error("mailbox entry in flight not remembered")
	}
	o.queue(pending{mailbox: "m2"})
	o.queue(pending{env: []byte{1}})
	if got := o.held.Load(); got != 2 {
		t.Errorf("held %d, want 2", got)
	}
	o.finish(a)
	if o.full() || o.get(a) != nil {
		t.Fatal("finished flow still counted")
	}
	if p, ok := o.next(); !ok || p.mailbox != "m2" {
		t.Fatalf("next = %+v, want the oldest waiting message [MQTT-4.6.0-2]", p)
	}
	if p, ok := o.next(); !ok || p.env == nil {
		t.Fatalf("next = %+v, want the in-memory message", p)
	}
	if _, ok := o.next(); ok || o.held.Load() != 0 {
		t.Fatal("queue not empty after taking everything")
	}
}

func TestOutboundSkipsIdentifiersInUse(t *testing.T) {
	// [MQTT-2.3.1-2] a new flow never takes an identifier still in use,
	// including ones resumed from a mailbox and the wrap past 65535.
	o := newOutbound(100)
	o.resume(1, packet.AtLeastOnce, "x", false)
	o.resume(2, packet.ExactlyOnce, "y", true)
	if id := o.start(packet.AtLeastOnce, ""); id != 3 {
		t.Fatalf("first new identifier %d, want 3", id)
	}
	o.lastID = 65535
	if id := o.start(packet.AtLeastOnce, ""); id != 4 {
		t.Fatalf("identifier after the wrap %d, want 4 (0 is not an identifier, 1–3 in use)", id)
	}
}

func TestMailboxEntries(t *testing.T) {
	dir := t.TempDir()
	sp, err := spool.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	const q = "forkmq.1.s00"
	if err := sp.AddQueue(q); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"0002-1-1.p7", "0001-1-1", "0003-1-1.r9", ".missed", "0004-1-1.p0", "0005-1-1.px"} {
		if err := os.WriteFile(filepath.Join(sp.QueueDir(q), n), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	d := &deliverer{spool: sp, identity: q}
	got, err := d.mailboxEntries()
	if err != nil {
		t.Fatal(err)
	}
	want := []mailboxEntry{
		{base: "0001-1-1"},
		{base: "0002-1-1", state: 'p', id: 7},
		{base: "0003-1-1", state: 'r', id: 9},
		{base: "0004-1-1.p0"}, // id 0 is no identifier: an entry not sent yet
		{base: "0005-1-1.px"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("entries\n got %+v\nwant %+v", got, want)
	}
}
