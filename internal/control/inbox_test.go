package control

import (
	"errors"
	"io"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// inboxPair opens a channel in the inbox as from owner and returns both
// ends: the supervisor's (read through in) and the worker's.
func inboxPair(t testing.TB, in *Inbox[string], owner string) (sup, wrk *Conn) {
	t.Helper()
	a, b, err := Pair()
	if err != nil {
		t.Fatal(err)
	}
	if sup, err = in.Open(a, owner); err != nil {
		t.Fatal(err)
	}
	if wrk, err = FromFile(b); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sup.Close(); wrk.Close() })
	wrk.SetReadDeadline(time.Now().Add(wait))
	return sup, wrk
}

func newInbox(t testing.TB) *Inbox[string] {
	t.Helper()
	in, err := NewInbox[string]()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close() })
	return in
}

// waitOnce is one Wait, failed after the test's bound (the inbox is closed
// then, which ends the Wait).
func waitOnce(t testing.TB, in *Inbox[string]) []Received[string] {
	t.Helper()
	type result struct {
		got []Received[string]
		err error
	}
	done := make(chan result, 1)
	go func() {
		got, err := in.Wait(nil)
		done <- result{got, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			t.Fatalf("Wait: %v", r.err)
		}
		return r.got
	case <-time.After(wait):
		in.Close()
		t.Fatalf("Wait: nothing within %v", wait)
		return nil
	}
}

// say is what a Received says, for comparing: "owner type" or "owner error".
func say(r Received[string]) string {
	if r.Err != nil {
		return r.From + " error"
	}
	return r.From + " " + r.Message.Type().String()
}

// TestInboxTakesEverythingReadyInOneWait: what several workers sent before
// the supervisor looked — a deliverer's end in one sendmmsg, a Ready, two
// Claims — comes back from one Wait, in each channel's order. That is the
// point of the inbox: one wake-up of the supervisor for all of it.
func TestInboxTakesEverythingReadyInOneWait(t *testing.T) {
	in := newInbox(t)
	_, d := inboxPair(t, in, "deliverer")
	_, p := inboxPair(t, in, "pool")
	_, r := inboxPair(t, in, "router")
	if err := d.SendAll(&CleanupDone{}, &Idle{Served: 1}, &PartnerIdle{RouterSent: 2}); err != nil {
		t.Fatal(err)
	}
	if err := p.Send(&Ready{Generation: 7}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"first", "second"} {
		if err := r.Send(&Claim{ClientID: id}); err != nil {
			t.Fatal(err)
		}
	}
	got := waitOnce(t, in)
	want := map[string][]string{
		"deliverer": {"deliverer CleanupDone", "deliverer Idle", "deliverer PartnerIdle"},
		"pool":      {"pool Ready"},
		"router":    {"router Claim", "router Claim"},
	}
	per := map[string][]string{}
	for _, g := range got {
		per[g.From] = append(per[g.From], say(g))
	}
	for owner, w := range want {
		if len(per[owner]) != len(w) {
			t.Fatalf("one Wait took %v; want every message sent before it: %v", per, want)
		}
		for i := range w {
			if per[owner][i] != w[i] {
				t.Fatalf("%s: got %v, want %v (in the order sent)", owner, per[owner], w)
			}
		}
	}
	var ids []string
	for _, g := range got {
		if c, ok := g.Message.(*Claim); ok {
			ids = append(ids, c.ClientID)
		}
	}
	if len(ids) != 2 || ids[0] != "first" || ids[1] != "second" {
		t.Errorf("claims %v, want [first second]", ids)
	}
}

// TestInboxBoundsOneChannel: a channel holding more than perChannel
// messages gives that many per Wait, the rest at the next, in order.
func TestInboxBoundsOneChannel(t *testing.T) {
	in := newInbox(t)
	_, w := inboxPair(t, in, "w")
	for i := range perChannel + 3 {
		if err := w.Send(&Idle{Served: uint32(i)}); err != nil {
			t.Fatal(err)
		}
	}
	first, second := waitOnce(t, in), waitOnce(t, in)
	if len(first) != perChannel || len(second) != 3 {
		t.Fatalf("Waits took %d then %d, want %d then 3", len(first), len(second), perChannel)
	}
	for i, r := range append(first, second...) {
		if m, ok := r.Message.(*Idle); !ok || m.Served != uint32(i) {
			t.Fatalf("message %d is %s, want Idle{Served: %d}", i, say(r), i)
		}
	}
}

// TestInboxEnds: the end of a channel comes back once, as an error, and
// nothing after it — the other end's close (io.EOF), or an unreadable
// datagram (the supervisor ends that worker) — while the other channels go on.
func TestInboxEnds(t *testing.T) {
	tests := []struct {
		name    string
		end     func(t *testing.T, w *Conn)
		wantErr error
	}{
		{"closed", func(t *testing.T, w *Conn) { w.Close() }, io.EOF},
		{"unreadable", func(t *testing.T, w *Conn) {
			err := w.raw.Write(func(fd uintptr) bool {
				_, err := unix.Write(int(fd), []byte{0xff, 1, 2})
				if err != nil {
					t.Error(err)
				}
				return true
			})
			if err != nil {
				t.Fatal(err)
			}
			w.Send(&Idle{Served: 9}) // after the unreadable one: never taken
		}, ErrUnknownType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := newInbox(t)
			_, w := inboxPair(t, in, "ending")
			_, other := inboxPair(t, in, "other")
			tt.end(t, w)
			got := waitOnce(t, in)
			if len(got) != 1 || got[0].From != "ending" || !errors.Is(got[0].Err, tt.wantErr) {
				t.Fatalf("took %v, want one end of channel %q matching %v", got, "ending", tt.wantErr)
			}
			if err := other.Send(&Ready{}); err != nil {
				t.Fatal(err)
			}
			got = waitOnce(t, in)
			if len(got) != 1 || say(got[0]) != "other Ready" {
				t.Fatalf("after the end took %v, want only the other channel's Ready", got)
			}
		})
	}
}

// TestInboxConnClose: a channel its Conn closed is out of the inbox
// (nothing of it is read, even if its number is reused), and its Receive
// is refused: the inbox reads it.
func TestInboxConnClose(t *testing.T) {
	in := newInbox(t)
	sup, w := inboxPair(t, in, "closed")
	_, other := inboxPair(t, in, "other")
	if _, err := sup.Receive(); !errors.Is(err, ErrInInbox) {
		t.Errorf("Receive of an inbox's channel: %v, want %v", err, ErrInInbox)
	}
	if err := sup.Close(); err != nil {
		t.Fatal(err)
	}
	w.Send(&Ready{}) // to a closed end: an error, and nothing to read
	// A new channel likely takes the closed one's descriptor number.
	_, again := inboxPair(t, in, "again")
	if err := again.Send(&Ready{}); err != nil {
		t.Fatal(err)
	}
	if err := other.Send(&Ready{}); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for len(seen) < 2 {
		for _, r := range waitOnce(t, in) {
			if r.From == "closed" {
				t.Fatalf("took %s from a closed channel", say(r))
			}
			seen[say(r)] = true
		}
	}
	if !seen["again Ready"] || !seen["other Ready"] {
		t.Errorf("took %v, want the Ready of again and other", seen)
	}
}

// TestInboxSend: the supervisor's end sends as any Conn, descriptors
// included, and the worker receives it.
func TestInboxSend(t *testing.T) {
	in := newInbox(t)
	sup, w := inboxPair(t, in, "w")
	f, err := os.CreateTemp(t.TempDir(), "will")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sup.SetWriteDeadline(time.Now().Add(wait))
	if err := sup.Send(&PublishWill{Conn: "forkmq.x.1", File: f}); err != nil {
		t.Fatal(err)
	}
	m, err := w.Receive()
	if err != nil {
		t.Fatal(err)
	}
	pw, ok := m.(*PublishWill)
	if !ok || pw.Conn != "forkmq.x.1" || pw.File == nil {
		t.Fatalf("received %#v, want the PublishWill with its file", m)
	}
	pw.File.Close()
}

// TestInboxClose ends a Wait that waits, with an error.
func TestInboxClose(t *testing.T) {
	in := newInbox(t)
	inboxPair(t, in, "w")
	done := make(chan error, 1)
	go func() {
		_, err := in.Wait(nil)
		done <- err
	}()
	in.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Wait after Close: no error")
		}
	case <-time.After(wait):
		t.Fatalf("Wait not ended within %v of Close", wait)
	}
}

// TestInboxDropsDescriptorsAfterAnEnd: the datagrams one Wait took from a
// channel after the one that ended it (an unreadable datagram) are
// dropped, and the descriptors they carry closed: a pipe's write end sent
// in a Will after it is closed in this process too, so its read end sees
// the end of the pipe.
func TestInboxDropsDescriptorsAfterAnEnd(t *testing.T) {
	in := newInbox(t)
	_, w := inboxPair(t, in, "ending")
	r, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	err = w.raw.Write(func(fd uintptr) bool {
		if _, err := unix.Write(int(fd), []byte{0xff, 1, 2}); err != nil {
			t.Error(err)
		}
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Send(&Will{Topic: "t", File: pw}); err != nil {
		t.Fatal(err)
	}
	pw.Close() // the inbox's copy is the pipe's last write end
	got := waitOnce(t, in)
	if len(got) != 1 || !errors.Is(got[0].Err, ErrUnknownType) {
		t.Fatalf("took %v, want the unreadable datagram's error alone", got)
	}
	r.SetReadDeadline(time.Now().Add(wait))
	if n, err := r.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Errorf("pipe read %d, %v: want io.EOF (the dropped Will's descriptor closed)", n, err)
	}
}
