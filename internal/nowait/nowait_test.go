//go:build linux

package nowait

import (
	"bytes"
	"errors"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// pairOf is a non-blocking socket pair of the given type, closed with the
// test.
func pairOf(t *testing.T, typ int) (a, b int) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, typ|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fds[0]); unix.Close(fds[1]) })
	return fds[0], fds[1]
}

func TestReadWrite(t *testing.T) {
	tests := []struct {
		name  string
		write func(fd int) (int, error)
		want  string
	}{
		{"write", func(fd int) (int, error) { return Write(fd, []byte("hello")) }, "hello"},
		{"writev", func(fd int) (int, error) {
			n, _, err := Writev(fd, [][]byte{[]byte("he"), nil, []byte("llo")}, nil)
			return n, err
		}, "hello"},
		{"empty writev", func(fd int) (int, error) {
			n, _, err := Writev(fd, [][]byte{nil}, nil)
			return n, err
		}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b := pairOf(t, unix.SOCK_STREAM)
			n, err := tc.write(a)
			if err != nil || n != len(tc.want) {
				t.Fatalf("wrote %d, %v; want %d, nil", n, err, len(tc.want))
			}
			buf := make([]byte, 16)
			n, err = Read(b, buf)
			if tc.want == "" {
				if !errors.Is(err, unix.EAGAIN) {
					t.Fatalf("read of nothing: %d, %v; want EAGAIN", n, err)
				}
				return
			}
			if err != nil || !bytes.Equal(buf[:n], []byte(tc.want)) {
				t.Fatalf("read %q, %v; want %q", buf[:n], err, tc.want)
			}
		})
	}
}

// An empty descriptor gives EAGAIN as an error errors.Is recognises, and a
// closed peer gives 0 (EOF), as read(2) does.
func TestReadNothing(t *testing.T) {
	a, b := pairOf(t, unix.SOCK_STREAM)
	buf := make([]byte, 4)
	if n, err := Read(b, buf); !errors.Is(err, unix.EAGAIN) || n != -1 {
		t.Fatalf("read = %d, %v; want -1, EAGAIN", n, err)
	}
	if _, err := Recv(b, buf, unix.MSG_DONTWAIT); !errors.Is(err, unix.EAGAIN) {
		t.Fatalf("recv = %v; want EAGAIN", err)
	}
	unix.Shutdown(a, unix.SHUT_WR)
	if n, err := Read(b, buf); n != 0 || err != nil {
		t.Fatalf("read after the peer's shutdown = %d, %v; want 0, nil", n, err)
	}
}

// Recv keeps a SOCK_SEQPACKET socket's datagram boundaries, as the pair
// channel needs.
func TestRecvDatagrams(t *testing.T) {
	a, b := pairOf(t, unix.SOCK_SEQPACKET)
	for _, m := range []string{"one", "two!"} {
		if _, err := Write(a, []byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	buf := make([]byte, 64)
	for _, want := range []string{"one", "two!"} {
		n, err := Recv(b, buf, unix.MSG_DONTWAIT)
		if err != nil || string(buf[:n]) != want {
			t.Fatalf("recv = %q, %v; want %q", buf[:n], err, want)
		}
	}
}

func TestEpollPoll(t *testing.T) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(epfd)
	a, b := pairOf(t, unix.SOCK_STREAM)
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: 7}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, b, &ev); err != nil {
		t.Fatal(err)
	}
	events := make([]unix.EpollEvent, 4)
	if n, err := EpollPoll(epfd, events); n != 0 || err != nil {
		t.Fatalf("nothing ready: %d, %v; want 0, nil (and no wait)", n, err)
	}
	if _, err := Write(a, []byte("x")); err != nil {
		t.Fatal(err)
	}
	n, err := EpollPoll(epfd, events)
	if n != 1 || err != nil || events[0].Fd != 7 {
		t.Fatalf("one ready: %d, %v, %+v; want 1 event tagged 7", n, err, events[:max(n, 0)])
	}
	if n, err := EpollPoll(epfd, nil); n != 0 || err != nil {
		t.Fatalf("no room for events: %d, %v; want 0, nil", n, err)
	}
}

func TestReadProc(t *testing.T) {
	want, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	n, err := ReadProc("/proc/self/stat", buf)
	if err != nil {
		t.Fatal(err)
	}
	// The CPU times move between the two reads; the pid and name do not.
	if i := bytes.IndexByte(want, ')'); n <= i || !bytes.Equal(buf[:i+1], want[:i+1]) {
		t.Fatalf("ReadProc read %q, want it to start as %q", buf[:n], want)
	}
	if n, err := ReadProc("/proc/self/stat", buf[:3]); n != 3 || err != nil {
		t.Fatalf("into 3 bytes: %d, %v", n, err)
	}
	if _, err := ReadProc("/proc/self/no such file", buf); !errors.Is(err, unix.ENOENT) {
		t.Fatalf("a missing file: %v, want ENOENT", err)
	}
}
