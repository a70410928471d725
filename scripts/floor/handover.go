//go:build linux

package main

import (
	"fmt"
	"io"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// The words of the connect floor's control sockets (SOCK_SEQPACKET, one
// byte a message, a descriptor beside the ones that hand a socket over):
// the words forkmq's supervisor and workers exchange on a connection's way,
// without their contents.
const (
	wordHand    = 'H' // supervisor → router, with the accepted socket
	wordClaim   = 'C' // router → supervisor: the CONNECT is read, the client claimed
	wordGrant   = 'G' // supervisor → router: the claim is granted
	wordDeliver = 'D' // supervisor → deliverer, with the socket: answer CONNACK
	wordClose   = 'X' // router → deliverer: the client said DISCONNECT
	wordIdle    = 'I' // deliverer → supervisor: the pair is free again
)

// A ctlSock is one end of a control socket, waiting in Go's netpoller as
// the workers' descriptors do. It owns its descriptor: its *os.File is the
// only one (a second would close the descriptor when collected).
type ctlSock struct {
	calls sockCalls
	fd    int
	f     *os.File
	rc    syscall.RawConn
	oob   []byte
}

func openCtl(fd int, name string, calls sockCalls) (*ctlSock, error) {
	if err := calls.setNonblock(fd); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	f := os.NewFile(uintptr(fd), name)
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &ctlSock{calls: calls, fd: fd, f: f, rc: rc, oob: make([]byte, unix.CmsgSpace(4))}, nil
}

// recv waits for the next word and the descriptor it carries (-1: none);
// io.EOF when the other end is gone.
func (c *ctlSock) recv() (byte, int, error) {
	var buf [1]byte
	var n, oobn int
	var rerr error
	err := c.rc.Read(func(fd uintptr) bool {
		n, oobn, rerr = c.calls.recvmsg(int(fd), buf[:], c.oob)
		return rerr != unix.EAGAIN
	})
	if err == nil {
		err = rerr
	}
	if err != nil {
		return 0, -1, fmt.Errorf("recvmsg: %w", err)
	}
	if n == 0 {
		return 0, -1, io.EOF
	}
	passed := -1
	if oobn > 0 {
		msgs, err := unix.ParseSocketControlMessage(c.oob[:oobn])
		if err != nil || len(msgs) != 1 {
			return 0, -1, fmt.Errorf("control message of word %q: %v", buf[0], err)
		}
		fds, err := unix.ParseUnixRights(&msgs[0])
		if err != nil || len(fds) != 1 {
			return 0, -1, fmt.Errorf("descriptors of word %q: %v", buf[0], err)
		}
		passed = fds[0]
	}
	return buf[0], passed, nil
}

// expect waits for the word want and returns the descriptor it carries.
func (c *ctlSock) expect(want byte) (int, error) {
	w, fd, err := c.recv()
	if err != nil {
		return -1, err
	}
	if w != want {
		if fd >= 0 {
			c.calls.close(fd)
		}
		return -1, fmt.Errorf("word %q, want %q", w, want)
	}
	return fd, nil
}

// send sends a word, with the descriptor fd when fd ≥ 0. A word is one
// byte in a socket buffer that holds at most a few: it never waits.
func (c *ctlSock) send(w byte, fd int) error {
	var oob []byte
	if fd >= 0 {
		oob = unix.UnixRights(fd)
	}
	if err := c.calls.sendmsg(c.fd, []byte{w}, oob); err != nil {
		return fmt.Errorf("sendmsg %q: %w", w, err)
	}
	return nil
}

// seqpacketPair is a pair of connected SOCK_SEQPACKET unix sockets.
func seqpacketPair() ([2]int, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fds, fmt.Errorf("socketpair: %w", err)
	}
	return fds, nil
}
