//go:build linux

package nowait

import (
	"bytes"
	"errors"
	"os"
	"testing"
	"time"
	"unsafe"

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

// Sendmsg and Sendmmsg keep datagram boundaries and carry descriptors;
// Recvmsg returns them, with the flags that say a datagram or its
// descriptors did not fit.
func TestMsg(t *testing.T) {
	tests := []struct {
		name      string
		send      func(fd int, rights []byte) error
		buf, oob  int
		want      []string
		wantFiles int
		wantFlags int
	}{
		{"sendmsg with a descriptor", func(fd int, rights []byte) error {
			_, err := Sendmsg(fd, []byte("hand"), rights, unix.MSG_NOSIGNAL)
			return err
		}, 64, unix.CmsgSpace(4), []string{"hand"}, 1, 0},
		{"sendmmsg of two", func(fd int, _ []byte) error {
			n, err := Sendmmsg(fd, Mmsghdrs([][]byte{[]byte("cleanup"), []byte("idle")}), unix.MSG_NOSIGNAL)
			if err == nil && n != 2 {
				t.Errorf("sendmmsg sent %d of 2", n)
			}
			return err
		}, 64, 0, []string{"cleanup", "idle"}, 0, 0},
		{"datagram past the buffer", func(fd int, _ []byte) error {
			_, err := Sendmsg(fd, []byte("too long"), nil, unix.MSG_NOSIGNAL)
			return err
		}, 3, 0, []string{"too"}, 0, unix.MSG_TRUNC},
		{"descriptor without room", func(fd int, rights []byte) error {
			_, err := Sendmsg(fd, []byte("hand"), rights, unix.MSG_NOSIGNAL)
			return err
		}, 64, 0, []string{"hand"}, 0, unix.MSG_CTRUNC},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b := pairOf(t, unix.SOCK_SEQPACKET)
			if err := tc.send(a, unix.UnixRights(a)); err != nil {
				t.Fatal(err)
			}
			buf, oob := make([]byte, tc.buf), make([]byte, tc.oob)
			for _, want := range tc.want {
				n, oobn, flags, err := Recvmsg(b, buf, oob, unix.MSG_DONTWAIT|unix.MSG_CMSG_CLOEXEC)
				if err != nil || string(buf[:n]) != want {
					t.Fatalf("recvmsg = %q, %v; want %q", buf[:max(n, 0)], err, want)
				}
				if flags&(unix.MSG_TRUNC|unix.MSG_CTRUNC) != tc.wantFlags {
					t.Errorf("flags %#x, want %#x", flags, tc.wantFlags)
				}
				files := 0
				if oobn > 0 {
					msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
					if err != nil {
						t.Fatal(err)
					}
					for i := range msgs {
						fds, _ := unix.ParseUnixRights(&msgs[i])
						for _, fd := range fds {
							unix.Close(fd)
						}
						files += len(fds)
					}
				}
				if files != tc.wantFiles {
					t.Errorf("%d descriptors received, want %d", files, tc.wantFiles)
				}
			}
			if _, _, _, err := Recvmsg(b, buf, oob, unix.MSG_DONTWAIT); !errors.Is(err, unix.EAGAIN) {
				t.Errorf("recvmsg of nothing: %v; want EAGAIN", err)
			}
		})
	}
}

// A peer gone gives EPIPE with MSG_NOSIGNAL (no SIGPIPE), and the other
// way round a zero-length read.
func TestMsgPeerGone(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[0])
	buf := make([]byte, 8)
	unix.Shutdown(fds[1], unix.SHUT_WR)
	if n, _, _, err := Recvmsg(fds[0], buf, nil, unix.MSG_DONTWAIT); n != 0 || err != nil {
		t.Errorf("recvmsg after the peer's shutdown = %d, %v; want 0, nil", n, err)
	}
	unix.Close(fds[1])
	if _, err := Sendmsg(fds[0], []byte("x"), nil, unix.MSG_NOSIGNAL); !errors.Is(err, unix.EPIPE) {
		t.Errorf("sendmsg to a closed peer: %v; want EPIPE", err)
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

// TestDescriptorCalls: FcntlInt, Shutdown and Close do what the libc calls
// of the same names do.
func TestDescriptorCalls(t *testing.T) {
	a, b := pairOf(t, unix.SOCK_STREAM)
	dup, err := FcntlInt(a, unix.F_DUPFD_CLOEXEC, 0)
	if err != nil || dup == a || dup == b {
		t.Fatalf("F_DUPFD_CLOEXEC = %d, %v; want a new descriptor", dup, err)
	}
	if fl, err := FcntlInt(dup, unix.F_GETFD, 0); err != nil || fl&unix.FD_CLOEXEC == 0 {
		t.Errorf("F_GETFD of the duplicate = %#x, %v; want FD_CLOEXEC", fl, err)
	}
	if _, err := FcntlInt(b, unix.F_SETFL, unix.O_NONBLOCK); err != nil {
		t.Fatal(err)
	}
	if fl, err := FcntlInt(b, unix.F_GETFL, 0); err != nil || fl&unix.O_NONBLOCK == 0 {
		t.Errorf("F_GETFL after F_SETFL O_NONBLOCK = %#x, %v", fl, err)
	}
	if err := Shutdown(dup, unix.SHUT_WR); err != nil {
		t.Fatal(err)
	}
	if n, err := Read(b, make([]byte, 1)); n != 0 || err != nil {
		t.Errorf("read after the peer's shutdown = %d, %v; want 0, nil (EOF)", n, err)
	}
	if err := Close(dup); err != nil {
		t.Fatal(err)
	}
	if _, err := FcntlInt(dup, unix.F_GETFD, 0); !errors.Is(err, unix.EBADF) {
		t.Errorf("F_GETFD after Close: %v; want EBADF", err)
	}
	if err := Shutdown(-1, unix.SHUT_RDWR); !errors.Is(err, unix.EBADF) {
		t.Errorf("Shutdown(-1): %v; want EBADF", err)
	}
}

// TestTimerfdSettime arms a timerfd and reads what the kernel says of it:
// one expiry (no interval) after the time given, and nothing once disarmed.
func TestTimerfdSettime(t *testing.T) {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	for _, d := range []time.Duration{time.Hour, 3 * time.Second, 0} {
		if err := TimerfdSettime(fd, d); err != nil {
			t.Fatalf("settime %v: %v", d, err)
		}
		var got unix.ItimerSpec
		if err := unix.TimerfdGettime(fd, &got); err != nil {
			t.Fatal(err)
		}
		if i := time.Duration(got.Interval.Nano()); i != 0 {
			t.Errorf("settime %v: interval %v, want none", d, i)
		}
		// The time left is at most d, and close to it: the kernel counts
		// down from the call.
		if left := time.Duration(got.Value.Nano()); left > d || d > 0 && left < d/2 {
			t.Errorf("settime %v: %v left", d, left)
		}
	}
	if err := TimerfdSettime(fd, time.Millisecond); err != nil {
		t.Fatal(err)
	}
	var count [8]byte
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	if _, err := unix.Poll(fds, int((10 * time.Second).Milliseconds())); err != nil {
		t.Fatal(err)
	}
	if n, err := Read(fd, count[:]); n != 8 || err != nil {
		t.Fatalf("read after the expiry: %d, %v", n, err)
	}
	if _, err := Read(fd, make([]byte, 8)); !errors.Is(err, unix.EAGAIN) {
		t.Errorf("read of a disarmed timerfd: %v, want EAGAIN", err)
	}
}

func TestExists(t *testing.T) {
	dir := t.TempDir()
	file := dir + "/record"
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		path string
		want bool
	}{
		{"a file", file, true},
		{"a directory", dir, true},
		{"no such name", dir + "/none", false},
		{"under a missing directory", dir + "/none/record", false},
		{"under a file (ENOTDIR)", file + "/record", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Exists(tt.path)
			if err != nil || got != tt.want {
				t.Fatalf("Exists(%q) = %v, %v; want %v, nil", tt.path, got, err, tt.want)
			}
		})
	}
	if _, err := Exists("bad\x00name"); err == nil {
		t.Fatal("Exists of a name with a NUL: no error")
	}
}

func TestAccept4(t *testing.T) {
	ln, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(ln)
	if err := unix.Bind(ln, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(ln, 4); err != nil {
		t.Fatal(err)
	}
	var sa unix.RawSockaddrAny
	if _, err := Accept4(ln, &sa, unix.SOCK_CLOEXEC); !errors.Is(err, unix.EAGAIN) {
		t.Fatalf("accept with nobody connecting: %v, want EAGAIN", err)
	}
	addr, err := unix.Getsockname(ln)
	if err != nil {
		t.Fatal(err)
	}
	c, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(c)
	if err := unix.Connect(c, addr); err != nil {
		t.Fatal(err)
	}
	local, err := unix.Getsockname(c)
	if err != nil {
		t.Fatal(err)
	}
	fd, err := Accept4(ln, &sa, unix.SOCK_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	in4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(&sa))
	port := int(in4.Port>>8 | in4.Port<<8) // network byte order
	if in4.Family != unix.AF_INET || port != local.(*unix.SockaddrInet4).Port {
		t.Errorf("peer: family %d port %d, want AF_INET port %d", in4.Family, port, local.(*unix.SockaddrInet4).Port)
	}
}

// TestRecvmmsg: one call takes every datagram a socket holds, each into
// its own buffer with its own ancillary data; a socket holding nothing is
// EAGAIN; after the peer's end (shutdown) every datagram is empty.
func TestRecvmmsg(t *testing.T) {
	a, b := pairOf(t, unix.SOCK_SEQPACKET)
	if _, err := Sendmsg(a, []byte("hand"), unix.UnixRights(a), unix.MSG_NOSIGNAL); err != nil {
		t.Fatal(err)
	}
	if _, err := Sendmmsg(a, Mmsghdrs([][]byte{[]byte("cleanup"), []byte("idle")}), unix.MSG_NOSIGNAL); err != nil {
		t.Fatal(err)
	}
	bufs := [][]byte{make([]byte, 64), make([]byte, 64), make([]byte, 64), make([]byte, 64)}
	oobs := make([][]byte, len(bufs))
	hdrs := Mmsghdrs(bufs)
	reset := func() {
		for i := range hdrs {
			oobs[i] = make([]byte, unix.CmsgSpace(4))
			hdrs[i].Hdr.Control = &oobs[i][0]
			hdrs[i].Hdr.SetControllen(len(oobs[i]))
		}
	}
	reset()
	n, err := Recvmmsg(b, hdrs, unix.MSG_DONTWAIT|unix.MSG_CMSG_CLOEXEC)
	if err != nil || n != 3 {
		t.Fatalf("recvmmsg = %d, %v; want 3", n, err)
	}
	for i, want := range []struct {
		text  string
		files int
	}{{"hand", 1}, {"cleanup", 0}, {"idle", 0}} {
		h := hdrs[i]
		if got := string(bufs[i][:h.Len]); got != want.text {
			t.Errorf("datagram %d is %q, want %q", i, got, want.text)
		}
		files := 0
		if h.Hdr.Controllen > 0 {
			msgs, err := unix.ParseSocketControlMessage(oobs[i][:h.Hdr.Controllen])
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range msgs {
				fds, _ := unix.ParseUnixRights(&m)
				files += len(fds)
				for _, fd := range fds {
					unix.Close(fd)
				}
			}
		}
		if files != want.files {
			t.Errorf("datagram %d carried %d descriptors, want %d", i, files, want.files)
		}
	}
	reset()
	if n, err := Recvmmsg(b, hdrs, unix.MSG_DONTWAIT); !errors.Is(err, unix.EAGAIN) {
		t.Errorf("recvmmsg of nothing = %d, %v; want EAGAIN", n, err)
	}
	if err := unix.Shutdown(a, unix.SHUT_WR); err != nil {
		t.Fatal(err)
	}
	reset()
	n, err = Recvmmsg(b, hdrs, unix.MSG_DONTWAIT)
	if err != nil || n < 1 || hdrs[0].Len != 0 {
		t.Errorf("recvmmsg after the peer's end = %d, %v, first length %d; want empty datagrams", n, err, hdrs[0].Len)
	}
}
