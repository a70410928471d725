//go:build linux

package queue

import (
	"errors"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestReceiver: a Receiver takes what a writer sent, says when the queue
// is empty and when the buffer is too small, tells a readable queue by its
// descriptor in an epoll set, and refuses calls once closed.
func TestReceiver(t *testing.T) {
	q := createQueue(t, "recv", Attr{MaxMsg: 2, MsgSize: 16})
	r, err := OpenReceiver(q.Name())
	if err != nil {
		t.Fatal(err)
	}
	if r.Name() != q.Name() {
		t.Errorf("Name = %q, want %q", r.Name(), q.Name())
	}
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(ep)
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(r.Fd())}
	if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, r.Fd(), &ev); err != nil {
		t.Fatalf("epoll_ctl: %v", err)
	}
	readable := func() bool {
		events := make([]unix.EpollEvent, 1)
		n, err := unix.EpollWait(ep, events, 0)
		if err != nil {
			t.Fatal(err)
		}
		return n == 1
	}

	buf := make([]byte, 16)
	if _, err := r.ReceiveNow(buf); !errors.Is(err, ErrEmpty) {
		t.Fatalf("ReceiveNow on an empty queue = %v, want ErrEmpty", err)
	}
	if readable() {
		t.Error("empty queue readable")
	}
	for _, msg := range []string{"hello", "again"} {
		if err := q.Send([]byte(msg), 0, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if !readable() {
		t.Error("queue with messages not readable")
	}
	if a, err := r.Attr(); err != nil || a != (Attr{MaxMsg: 2, MsgSize: 16, CurMsgs: 2}) {
		t.Errorf("Attr = %+v, %v", a, err)
	}
	if _, err := r.ReceiveNow(make([]byte, 8)); !errors.Is(err, ErrMsgSize) {
		t.Errorf("ReceiveNow into 8 bytes = %v, want ErrMsgSize", err)
	}
	if n, err := r.ReceiveNow(buf); err != nil || string(buf[:n]) != "hello" {
		t.Errorf("ReceiveNow = %q, %v; want hello", buf[:n], err)
	}

	if err := r.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if r.Fd() != -1 {
		t.Errorf("Fd after Close = %d, want -1", r.Fd())
	}
	if _, err := r.ReceiveNow(buf); !errors.Is(err, ErrClosed) {
		t.Errorf("ReceiveNow after Close = %v, want ErrClosed", err)
	}
	if err := r.Close(); !errors.Is(err, ErrClosed) {
		t.Errorf("second Close = %v, want ErrClosed", err)
	}
	if _, err := OpenReceiver(queueName(t, "none")); !errors.Is(err, ErrNotExist) {
		t.Errorf("OpenReceiver of no queue = %v, want ErrNotExist", err)
	}
}
