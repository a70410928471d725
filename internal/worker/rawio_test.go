package worker

import (
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"
)

// clientPair is a connected stream socket pair: the router's end as a
// clientSocket in a set like a worker's (with an eventfd in it, as the
// control channel's), and the client's end.
func clientPair(t *testing.T) (s *clientSocket, client, wake int) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	wake, err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		t.Fatal(err)
	}
	set, err := delivererSet(wake)
	if err != nil {
		t.Fatal(err)
	}
	s, err = newClientSocket(fds[0], set) // blocking as handed (a terminator's end): read with MSG_DONTWAIT
	if err != nil {
		t.Fatal(err)
	}
	if flags, err := unix.FcntlInt(uintptr(fds[0]), unix.F_GETFL, 0); err != nil || flags&unix.O_NONBLOCK != 0 {
		t.Fatalf("socket flags %#x, %v: want it left blocking (no fcntl per client)", flags, err)
	}
	t.Cleanup(func() { s.Close(); set.Close(); unix.Close(fds[1]); unix.Close(wake) })
	return s, fds[1], wake
}

// TestClientSocket: the router's socket reads what the client sent once it
// comes, is not ended by the control eventfd's count, times out at its
// deadline as a net.Error, ends with io.EOF on a shutdown from another
// goroutine or the client's close, and leaves its set with no deadline.
func TestClientSocket(t *testing.T) {
	const later = 30 * time.Millisecond
	buf := make([]byte, 16)
	tests := []struct {
		name    string
		act     func(client, wake int, s *clientSocket)
		timeout time.Duration // the read deadline (0: none)
		want    string
		wantErr func(error) bool
	}{
		{"bytes sent later", func(client, wake int, _ *clientSocket) { unix.Write(client, []byte("CONNECT")) }, 0, "CONNECT", nil},
		{"an order first, then bytes", func(client, wake int, _ *clientSocket) {
			unix.Write(wake, []byte{1, 0, 0, 0, 0, 0, 0, 0})
			time.Sleep(later)
			unix.Write(client, []byte("PING"))
		}, 0, "PING", nil},
		{"nothing before the deadline", func(int, int, *clientSocket) {}, later, "", func(err error) bool {
			var ne net.Error
			return errors.As(err, &ne) && ne.Timeout()
		}},
		{"shut down by the watch", func(_, _ int, s *clientSocket) { s.shutdown(zerolog.Nop()) }, 0, "", func(err error) bool { return errors.Is(err, io.EOF) }},
		{"closed by the client", func(client, _ int, _ *clientSocket) { unix.Shutdown(client, unix.SHUT_WR) }, 0, "", func(err error) bool { return errors.Is(err, io.EOF) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, client, wake := clientPair(t)
			if tt.timeout > 0 {
				s.SetReadDeadline(time.Now().Add(tt.timeout))
			}
			acted := make(chan struct{})
			go func() {
				defer close(acted)
				time.Sleep(later)
				tt.act(client, wake, s)
			}()
			// The act is over before the clean-up closes the socket, as the
			// router's watch is stopped before it closes its own.
			defer func() { <-acted }()
			n, err := s.Read(buf)
			if tt.wantErr != nil {
				if !tt.wantErr(err) {
					t.Fatalf("Read = %d, %v; want the error expected", n, err)
				}
			} else if err != nil || string(buf[:n]) != tt.want {
				t.Fatalf("Read = %q, %v; want %q", buf[:n], err, tt.want)
			}
		})
	}
}
