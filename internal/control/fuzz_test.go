package control

import (
	"bytes"
	"errors"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// FuzzDecode feeds arbitrary datagrams, with up to MaxFiles+1 descriptors,
// to the decoder. It must never panic; every error is an *Error; every
// descriptor ends up in the message or closed; and whatever decodes
// re-encodes to the same bytes and the same descriptors, in order.
func FuzzDecode(f *testing.F) {
	for _, g := range golden {
		f.Add(g.b, uint8(g.m.Type().Files()))
	}
	for _, m := range samples(f, "") {
		b, fds, err := Encode(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, uint8(len(fds)))
	}
	f.Add([]byte{byte(TypeClaim), 0xff, 0xff}, uint8(0))
	f.Fuzz(func(t *testing.T, b []byte, nfds uint8) {
		fds := make([]int, int(nfds)%(MaxFiles+2))
		for i := range fds {
			fd, err := unix.Open(os.DevNull, unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			fds[i] = fd
		}
		rawFds := make([]int, len(fds))
		for i, fd := range fds {
			dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			rawFds[i] = dup
		}
		checkRawDecode(t, b, rawFds)
		m, err := Decode(b, fds)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v is a %T", err, err)
			}
			for _, fd := range fds {
				if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); !errors.Is(err, unix.EBADF) {
					t.Fatalf("descriptor %d left open by a refusal", fd)
				}
			}
			return
		}
		enc, out, err := Encode(m)
		if err != nil {
			t.Fatalf("decoded %+v does not encode: %v", m, err)
		}
		if !bytes.Equal(enc, b) {
			t.Fatalf("re-encoding differs:\n in % x\nout % x", b, enc)
		}
		if len(out) != len(fds) {
			t.Fatalf("%d descriptors in, %d out", len(fds), len(out))
		}
		for i, fd := range out {
			if fd != fds[i] {
				t.Fatalf("descriptor %d is %d, was %d", i, fd, fds[i])
			}
		}
		_, files := withoutFiles(t, m)
		for _, file := range files {
			file.Close()
		}
	})
}

// checkRawDecode decodes b as a worker set to RawHands does: a Hand's
// descriptors come back as the numbers given, unwrapped, any other
// message's as with Decode; a refusal leaves none of them open.
func checkRawDecode(t *testing.T, b []byte, fds []int) {
	t.Helper()
	m, err := decodeAs(b, fds, true)
	if err != nil {
		for _, fd := range fds {
			if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); !errors.Is(err, unix.EBADF) {
				t.Fatalf("raw: descriptor %d left open by a refusal", fd)
			}
		}
		return
	}
	if h, ok := m.(*Hand); ok {
		if h.Socket != nil || h.Pair != nil || h.SocketFd != fds[0] || h.PairFd != fds[1] {
			t.Fatalf("raw Hand: socket %v/%d, pair %v/%d; want nil/%d, nil/%d", h.Socket, h.SocketFd, h.Pair, h.PairFd, fds[0], fds[1])
		}
		unix.Close(h.SocketFd)
		unix.Close(h.PairFd)
		return
	}
	_, files := withoutFiles(t, m)
	for _, f := range files {
		f.Close()
	}
}
