package listener

import (
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestDescriptorOfANetConn: the descriptor Descriptor gives of a net.Conn
// (what the supervisor hands a worker) is a duplicate, non-blocking and
// close-on-exec, that carries the client's bytes both ways and leaves the
// connection's own mode as it was, for TCP and for a socketpair's end
// (Terminate's plain end).
func TestDescriptorOfANetConn(t *testing.T) {
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
			fd, err := c.Descriptor()
			if err != nil {
				t.Fatal(err)
			}
			f := handed(t, fd)
			defer f.Close()
			if !nonblocking(t, c) {
				t.Error("the connection is blocking after Descriptor")
			}
			bothWays(t, f, c, peer)
		})
	}
}

// TestDescriptorOfASession: a TLS or WebSocket session that is not
// terminated has no socket to hand.
func TestDescriptorOfASession(t *testing.T) {
	c := &Conn{session: true, scheme: "mqtts"}
	if fd, err := c.Descriptor(); err == nil {
		unix.Close(fd)
		t.Fatal("Descriptor of a session: no error")
	}
}

// handed checks what Descriptor gave — non-blocking, as the workers take a
// handed socket, and close-on-exec — and makes a file of it to read and
// write.
func handed(t *testing.T, fd int) *os.File {
	t.Helper()
	if fd < 0 {
		t.Fatalf("descriptor %d", fd)
	}
	if fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0); err != nil || fl&unix.O_NONBLOCK == 0 {
		t.Errorf("handed descriptor's flags %#x, %v: want O_NONBLOCK", fl, err)
	}
	if fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil || fl&unix.FD_CLOEXEC == 0 {
		t.Errorf("handed descriptor's descriptor flags %#x, %v: want FD_CLOEXEC", fl, err)
	}
	return os.NewFile(uintptr(fd), "handed")
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
