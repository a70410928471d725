package listener

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"
)

// serveHandOver opens a plain listener served by Set.ServeHandOver and
// returns it with the connections it hands on.
func serveHandOver(t *testing.T) (Set, chan *Conn) {
	t.Helper()
	l, err := Open(Config{Addr: "127.0.0.1:0"}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	set := Set{l}
	conns := make(chan *Conn, 16)
	served := make(chan struct{})
	go func() {
		defer close(served)
		set.ServeHandOver(zerolog.Nop(), func(c *Conn) { conns <- c })
	}()
	t.Cleanup(func() {
		set.Close()
		<-served
	})
	return set, conns
}

// handedOne dials a listener served for hand-over and returns the client's
// end and the Conn handed on, closed with the test.
func handedOne(t *testing.T) (peer net.Conn, c *Conn) {
	t.Helper()
	set, conns := serveHandOver(t)
	peer, err := net.Dial("tcp", set.Addrs()[0])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { peer.Close() })
	c = recv(t, conns)
	t.Cleanup(func() { c.Close() })
	return peer, c
}

// TestHandOverAccept: a plain listener served for hand-over gives each
// connection as a descriptor: its peer's address is the client's, and its
// Descriptor (what the supervisor hands a worker) is that descriptor
// itself, given away — non-blocking, as the workers take a handed socket,
// close-on-exec, carrying the client's bytes both ways; the Conn is left
// with nothing to close, and closing it leaves the descriptor working.
func TestHandOverAccept(t *testing.T) {
	peer, c := handedOne(t)
	if _, ok := c.Conn.(*socket); !ok {
		t.Fatalf("a plain listener's connection is a %T, want a descriptor (*socket)", c.Conn)
	}
	if got, want := c.RemoteAddr().String(), peer.LocalAddr().String(); got != want {
		t.Errorf("RemoteAddr %s, want the client's %s", got, want)
	}
	fd, err := c.Descriptor()
	if err != nil {
		t.Fatal(err)
	}
	f := handed(t, fd)
	defer f.Close()
	c.Close()               // closes nothing: the descriptor was given away
	bothWays(t, f, f, peer) // after the Conn's close
}

// TestHandOverSocketOptions: the accepted socket has TCP_NODELAY and
// net's keep-alive, as a net.Conn from net's Accept has, and is handed
// non-blocking.
func TestHandOverSocketOptions(t *testing.T) {
	peer, c := handedOne(t)
	fd, err := c.Descriptor()
	if err != nil {
		t.Fatal(err)
	}
	f := handed(t, fd)
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	rc.Control(func(fd uintptr) {
		flags, err := unix.FcntlInt(fd, unix.F_GETFL, 0)
		if err != nil || flags&unix.O_NONBLOCK == 0 {
			t.Errorf("handed socket's flags %#x, %v: want O_NONBLOCK", flags, err)
		}
		for _, o := range []struct {
			name       string
			level, opt int
			want       int
		}{
			{"TCP_NODELAY", unix.IPPROTO_TCP, unix.TCP_NODELAY, 1},
			{"SO_KEEPALIVE", unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1},
			{"TCP_KEEPIDLE", unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, 15},
			{"TCP_KEEPINTVL", unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, 15},
			{"TCP_KEEPCNT", unix.IPPROTO_TCP, unix.TCP_KEEPCNT, 9},
		} {
			if got, err := unix.GetsockoptInt(int(fd), o.level, o.opt); err != nil || got != o.want {
				t.Errorf("%s = %d, %v; want %d", o.name, got, err, o.want)
			}
		}
	})
	bothWays(t, f, f, peer)
}

// TestHandOverRefused: a connection accepted as a descriptor and not
// handed over (a refusal) is read, written, half-closed and closed as a
// net.Conn, made of it at the first call.
func TestHandOverRefused(t *testing.T) {
	peer, c := handedOne(t)
	if err := c.SetDeadline(time.Now().Add(ioWait)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte{0x20, 0x02, 0x00, 0x03}); err != nil {
		t.Fatal(err)
	}
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	peer.SetDeadline(time.Now().Add(ioWait))
	got, err := io.ReadAll(peer) // ends at the half-close
	if err != nil || string(got) != "\x20\x02\x00\x03" {
		t.Fatalf("peer read %x, %v; want CONNACK 3 then EOF", got, err)
	}
	if _, err := peer.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 1)
	if _, err := io.ReadFull(c, b); err != nil || b[0] != 'x' {
		t.Fatalf("read %q, %v; want x", b, err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(b); err == nil {
		t.Error("write after Close: no error")
	}
}

// TestHandOverManyAtOnce: connections that wait in the backlog together
// are all handed on, each with its own peer address.
func TestHandOverManyAtOnce(t *testing.T) {
	set, conns := serveHandOver(t)
	const n = 12
	want := map[string]bool{}
	for range n {
		peer, err := net.Dial("tcp", set.Addrs()[0])
		if err != nil {
			t.Fatal(err)
		}
		defer peer.Close()
		want[peer.LocalAddr().String()] = true
	}
	for range n {
		c := recv(t, conns)
		if !want[c.RemoteAddr().String()] {
			t.Errorf("connection from %s: not one of the clients, or handed twice", c.RemoteAddr())
		}
		delete(want, c.RemoteAddr().String())
		c.Close()
	}
}
