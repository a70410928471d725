package listener

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestFileOutOfThePoller: the duplicate File gives (what the supervisor
// hands a worker) carries the client's bytes both ways, is not watched by
// this process's poller (a deadline is refused: os.ErrNoDeadline), and
// leaves the connection's own mode as it was, for TCP and for a
// socketpair's end (Terminate's plain end).
func TestFileOutOfThePoller(t *testing.T) {
	tests := []struct {
		name string
		pair func(t *testing.T) (ours, peer net.Conn)
	}{
		{"tcp", func(t *testing.T) (net.Conn, net.Conn) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			peer, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			ours, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			return ours, peer
		}},
		{"socketpair", func(t *testing.T) (net.Conn, net.Conn) {
			fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
			if err != nil {
				t.Fatal(err)
			}
			conns := make([]net.Conn, 2)
			for i, fd := range fds {
				f := os.NewFile(uintptr(fd), "pair")
				if conns[i], err = net.FileConn(f); err != nil {
					t.Fatal(err)
				}
				f.Close()
			}
			return conns[0], conns[1]
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ours, peer := tt.pair(t)
			defer peer.Close()
			c := &Conn{Conn: ours, remote: ours.RemoteAddr(), scheme: "mqtt"}
			defer c.Close()
			f, err := c.File()
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if err := f.SetDeadline(time.Now().Add(ioWait)); !errors.Is(err, os.ErrNoDeadline) {
				t.Errorf("SetDeadline of the duplicate: %v, want %v (out of the poller)", err, os.ErrNoDeadline)
			}
			if !nonblocking(t, c) {
				t.Error("the connection is blocking after File: its mode was not put back")
			}
			bothWays(t, f, c, peer)
		})
	}
}

// TestFileOfASession: a TLS or WebSocket session that is not terminated
// has no socket to hand.
func TestFileOfASession(t *testing.T) {
	c := &Conn{session: true, scheme: "mqtts"}
	if f, err := c.File(); err == nil {
		f.Close()
		t.Fatal("File of a session: no error")
	}
}

// nonblocking reports the connection's descriptor's O_NONBLOCK.
func nonblocking(t *testing.T, c *Conn) bool {
	t.Helper()
	rc, err := c.Conn.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var flags int
	var ferr error
	rc.Control(func(fd uintptr) { flags, ferr = unix.FcntlInt(fd, unix.F_GETFL, 0) })
	if ferr != nil {
		t.Fatal(ferr)
	}
	return flags&unix.O_NONBLOCK != 0
}

// bothWays writes through w and reads peer, then writes peer and reads r:
// the client's bytes both ways through what a worker would be handed.
func bothWays(t *testing.T, w io.Writer, r io.Reader, peer net.Conn) {
	t.Helper()
	peer.SetDeadline(time.Now().Add(ioWait))
	if _, err := w.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 4)
	if _, err := io.ReadFull(peer, got); err != nil || string(got) != "ping" {
		t.Fatalf("peer read %q, %v; want ping", got, err)
	}
	if _, err := peer.Write([]byte("pong")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(r, got); err != nil || string(got) != "pong" {
		t.Fatalf("read %q, %v; want pong", got, err)
	}
}
