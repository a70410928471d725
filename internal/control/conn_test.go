package control

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/forkmq/forkmq/internal/spawn"
)

// The test binary doubles as a worker: TestMain runs helperWorker instead of
// the tests when helperEnv is set.
const helperEnv = "FORKMQ_CONTROL_TEST_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		if err := helperWorker(); err != nil {
			fmt.Fprintf(os.Stderr, "control helper: %v\n", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// wait bounds every wait of these tests; none depends on the machine's speed.
const wait = 30 * time.Second

// connPair returns both ends of a new channel, closed when the test ends.
func connPair(t testing.TB) (sup, wrk *Conn) {
	t.Helper()
	a, b, err := Pair()
	if err != nil {
		t.Fatal(err)
	}
	if sup, err = FromFile(a); err != nil {
		t.Fatal(err)
	}
	if wrk, err = FromFile(b); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sup.Close(); wrk.Close() })
	for _, c := range []*Conn{sup, wrk} {
		c.SetReadDeadline(time.Now().Add(wait))
	}
	return sup, wrk
}

// helperWorker is the child of TestDescriptorsCrossProcesses: an idle pool
// worker on fd 3 that is handed a client and proves each descriptor works by
// writing to it.
func helperWorker() error {
	c, err := Inherit(3)
	if err != nil {
		return err
	}
	c.SetReadDeadline(time.Now().Add(wait))
	track := NewTrack(FromWorker, RolePool)
	send := func(m Message) error {
		if err := track.Send(m); err != nil {
			return err
		}
		return c.Send(m)
	}
	if err := send(&Ready{Generation: 1}); err != nil {
		return err
	}
	m, err := c.Receive()
	if err != nil {
		return err
	}
	if _, err := track.Receive(m); err != nil {
		return err
	}
	h := m.(*Hand)
	if _, err := h.Socket.Write([]byte("via socket " + h.Remote)); err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	if _, err := h.Pair.Write([]byte("via pair")); err != nil {
		return fmt.Errorf("pair: %w", err)
	}
	h.Socket.Close()
	h.Pair.Close()
	if err := send(&CleanupDone{}); err != nil {
		return err
	}
	return send(&Exiting{Code: spawn.ExitOrderly, Detail: track.State.String()})
}

// TestDescriptorsCrossProcesses hands a client's socket and pair
// channel end to another process, as the supervisor hands a client to a pool
// worker, and checks that the worker can use each.
func TestDescriptorsCrossProcesses(t *testing.T) {
	supFile, wrkFile, err := Pair()
	if err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	cmd.ExtraFiles = []*os.File{wrkFile} // fd 3
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	wrkFile.Close()
	sup, err := FromFile(supFile)
	if err != nil {
		t.Fatal(err)
	}
	defer sup.Close()
	sup.SetReadDeadline(time.Now().Add(wait))
	track := NewTrack(FromSupervisor, RolePool)
	receive := func(want Type) Message {
		t.Helper()
		m, err := sup.Receive()
		if err != nil {
			t.Fatalf("Receive: %v", err)
		}
		if _, err := track.Receive(m); err != nil || m.Type() != want {
			t.Fatalf("received %s (%v), want %s", m.Type(), err, want)
		}
		return m
	}
	receive(TypeReady)

	// The client's socket.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	socket, err := server.(*net.TCPConn).File()
	server.Close()
	if err != nil {
		t.Fatal(err)
	}
	// Its pair channel.
	mine, theirs, err := Pair()
	if err != nil {
		t.Fatal(err)
	}
	defer mine.Close()

	h := &Hand{Role: RoleDeliverer, Conn: "fmqtest.control." + strconv.Itoa(os.Getpid()), Remote: client.LocalAddr().String(), Generation: 1,
		Socket: socket, Pair: theirs}
	if err := track.Send(h); err != nil {
		t.Fatal(err)
	}
	if err := sup.Send(h); err != nil {
		t.Fatal(err)
	}
	socket.Close() // the worker's copies are its own now
	theirs.Close()

	client.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 128)
	n, err := client.Read(buf)
	if want := "via socket " + h.Remote; err != nil || string(buf[:n]) != want {
		t.Errorf("client read %q, %v; want %q", buf[:n], err, want)
	}
	mine.SetReadDeadline(time.Now().Add(wait))
	n, err = mine.Read(buf)
	if err != nil || string(buf[:n]) != "via pair" {
		t.Errorf("pair read %q, %v", buf[:n], err)
	}
	receive(TypeCleanupDone)
	ex := receive(TypeExiting).(*Exiting)
	if ex.Code != spawn.ExitOrderly || ex.Detail != StateCleaned.String() {
		t.Errorf("Exiting = %+v", ex)
	}
	if track.State != StateExited || track.Role != RoleDeliverer {
		t.Errorf("track ends %s %s, want deliverer exited", track.Role, track.State)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("worker: %v", err)
	}
}

// openFds counts this process's open descriptors.
func openFds(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// rawSend sends b with the given descriptors, bypassing Encode, as a broken
// or hostile peer could.
func rawSend(t testing.TB, c *Conn, b []byte, fds ...int) {
	t.Helper()
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	var serr error
	if err := c.raw.Write(func(fd uintptr) bool {
		serr = unix.Sendmsg(int(fd), b, oob, nil, unix.MSG_DONTWAIT)
		return !errors.Is(serr, unix.EAGAIN)
	}); err != nil || serr != nil {
		t.Fatal(err, serr)
	}
}

// TestMalformedDatagrams: what a peer sends wrong is refused, closes every
// descriptor it brought, and leaves the channel usable for the next message.
func TestMalformedDatagrams(t *testing.T) {
	claim, _, err := Encode(&Claim{ClientID: "client-7"})
	if err != nil {
		t.Fatal(err)
	}
	grant, _, err := Encode(&Grant{ClientID: "client-7", Replaced: true})
	if err != nil {
		t.Fatal(err)
	}
	nulls := func(n int) []int {
		fds := make([]int, n)
		for i := range fds {
			fds[i] = int(devNull(t).Fd())
		}
		return fds
	}
	cases := []struct {
		name  string
		b     []byte
		fds   []int
		err   error
		field string
	}{
		{"oversized", append([]byte{byte(TypeReady)}, make([]byte, MaxSize)...), nil, ErrOversized, ""},
		{"oversized with descriptors", append([]byte{byte(TypeHand)}, make([]byte, 2*MaxSize)...), nulls(3), ErrOversized, ""},
		{"truncated", claim[:len(claim)-3], nil, ErrTruncated, "client id"},
		{"truncated before the last field", grant[:len(grant)-1], nil, ErrTruncated, "replaced"},
		{"descriptor on a plain message", claim, nulls(1), ErrDescriptors, ""},
		{"more descriptors than any message", claim, nulls(8), ErrAncillary, ""},
		{"unknown type", []byte{0xee}, nulls(2), ErrUnknownType, "type"},
	}
	sup, wrk := connPair(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := openFds(t)
			rawSend(t, wrk, c.b, c.fds...)
			m, err := sup.Receive()
			var e *Error
			if !errors.Is(err, c.err) || !errors.As(err, &e) || e.Field != c.field {
				t.Fatalf("Receive = %v, %v; want %v in field %q", m, err, c.err, c.field)
			}
			if after := openFds(t); after != before {
				t.Errorf("%d descriptors open after the refusal, %d before", after, before)
			}
			if err := wrk.Send(&Idle{Served: 1}); err != nil {
				t.Fatal(err)
			}
			if m, err := sup.Receive(); err != nil || m.Type() != TypeIdle {
				t.Errorf("next message: %v, %v", m, err)
			}
		})
	}
}

// TestEOF: the other end's close reads as io.EOF.
func TestEOF(t *testing.T) {
	sup, wrk := connPair(t)
	wrk.Close()
	if m, err := sup.Receive(); !errors.Is(err, io.EOF) {
		t.Fatalf("Receive after close = %v, %v; want EOF", m, err)
	}
}

// TestFromFileWantsSeqpacket: a stream socket or a file is not a channel.
func TestFromFileWantsSeqpacket(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[1])
	for _, f := range []*os.File{os.NewFile(uintptr(fds[0]), "stream"), devNull(t)} {
		if c, err := FromFile(f); !errors.Is(err, ErrNotSeqpacket) {
			t.Errorf("FromFile(%s) = %v, %v; want ErrNotSeqpacket", f.Name(), c, err)
		}
	}
}

// TestKeepBuffers: a Conn that reuses its receive buffer hands out messages
// that do not change when the next one arrives in the same buffer.
func TestKeepBuffers(t *testing.T) {
	sup, wrk := connPair(t)
	wrk.KeepBuffers()
	ids := []string{"first-client-with-a-long-identifier", "second"}
	var got []Message
	for _, id := range ids {
		if err := sup.Send(&Grant{ClientID: id}); err != nil {
			t.Fatal(err)
		}
		m, err := wrk.Receive()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, m)
	}
	for i, m := range got {
		if g, ok := m.(*Grant); !ok || g.ClientID != ids[i] {
			t.Errorf("message %d is %#v, want a Grant for %q", i, m, ids[i])
		}
	}
}

// TestSendAll: messages sent in one call arrive as separate datagrams, in
// order; a message with a descriptor is refused and nothing is sent.
func TestSendAll(t *testing.T) {
	sup, wrk := connPair(t)
	sent := []Message{&CleanupDone{End: spawn.ExitOrderly}, &Idle{Served: 7}}
	if err := wrk.SendAll(sent...); err != nil {
		t.Fatal(err)
	}
	for i, want := range sent {
		got, err := sup.Receive()
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if fmt.Sprintf("%#v", got) != fmt.Sprintf("%#v", want) {
			t.Errorf("message %d is %#v, want %#v", i, got, want)
		}
	}

	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := wrk.SendAll(&Idle{Served: 8}, &Will{Topic: "t", File: f}); !errors.Is(err, ErrSendAllFiles) {
		t.Fatalf("SendAll with a descriptor: %v, want ErrSendAllFiles", err)
	}
	if err := wrk.Send(&Idle{Served: 9}); err != nil {
		t.Fatal(err)
	}
	if got, err := sup.Receive(); err != nil || got.(*Idle).Served != 9 {
		t.Fatalf("after the refused SendAll: %#v, %v; want the Idle sent after it", got, err)
	}
}

// TestInheritedEnd: a worker's end (Inherit, a quietSocket) sends and
// receives like the supervisor's, its read deadline holds, its socket
// stays blocking (out of the runtime's poller, which would wake it each
// time the supervisor reads what it sent), and the supervisor's close
// reads as EOF.
func TestInheritedEnd(t *testing.T) {
	a, b, err := Pair()
	if err != nil {
		t.Fatal(err)
	}
	sup, err := FromFile(a)
	if err != nil {
		t.Fatal(err)
	}
	defer sup.Close()
	fd, err := unix.Dup(int(b.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
	wrk, err := Inherit(fd)
	if err != nil {
		t.Fatal(err)
	}
	defer wrk.Close()
	sup.SetReadDeadline(time.Now().Add(wait))

	if err := wrk.SendAll(&CleanupDone{End: spawn.ExitOrderly}, &Idle{Served: 2}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []Type{TypeCleanupDone, TypeIdle} {
		if m, err := sup.Receive(); err != nil || m.Type() != want {
			t.Fatalf("supervisor received %v, %v; want %s", m, err, want)
		}
	}
	if fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0); err != nil || fl&unix.O_NONBLOCK != 0 {
		t.Errorf("the worker's socket flags %#x, %v: want blocking", fl, err)
	}

	wrk.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if _, err := wrk.Receive(); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("Receive with nothing sent past its deadline: %v; want os.ErrDeadlineExceeded", err)
	}
	wrk.SetReadDeadline(time.Now().Add(wait))
	if err := sup.Send(&Stop{Reason: StopTrim}); err != nil {
		t.Fatal(err)
	}
	if m, err := wrk.Receive(); err != nil || m.Type() != TypeStop {
		t.Fatalf("worker received %v, %v; want Stop", m, err)
	}
	sup.Close()
	if _, err := wrk.Receive(); !errors.Is(err, io.EOF) {
		t.Errorf("Receive after the supervisor closed: %v; want io.EOF", err)
	}
}

// TestRawHands: a Conn set to RawHands receives a Hand's descriptors as
// numbers naming the files sent (no *os.File), and a Hand it cannot
// decode leaves none of them open.
func TestRawHands(t *testing.T) {
	sup, wrk := connPair(t)
	wrk.RawHands()
	socket, pair := devNull(t), devNull(t)
	if err := sup.Send(&Hand{Role: RoleDeliverer, Conn: "q1", Remote: "a:1", Socket: socket, Pair: pair}); err != nil {
		t.Fatal(err)
	}
	m, err := wrk.Receive()
	if err != nil {
		t.Fatal(err)
	}
	h := m.(*Hand)
	if h.Socket != nil || h.Pair != nil {
		t.Fatalf("raw Hand wrapped its descriptors: socket %v, pair %v", h.Socket, h.Pair)
	}
	for _, c := range []struct {
		name string
		fd   int
		sent *os.File
	}{{"socket", h.SocketFd, socket}, {"pair", h.PairFd, pair}} {
		got := os.NewFile(uintptr(c.fd), c.name)
		if c.fd < 0 || got == nil || !sameFile(t, got, c.sent) {
			t.Errorf("%s: descriptor %d does not name the file sent", c.name, c.fd)
		}
		if got != nil {
			got.Close()
		}
	}

	// A Hand with a bad role: both descriptors taken and closed.
	fds := []int{dupFd(t, devNull(t)), dupFd(t, devNull(t))}
	b := []byte{byte(TypeHand), 9}
	if _, err := decodeAs(b, fds, true); err == nil {
		t.Fatal("a Hand with role 9 decoded")
	}
	for _, fd := range fds {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); !errors.Is(err, unix.EBADF) {
			t.Errorf("descriptor %d of a refused Hand still open (%v)", fd, err)
		}
	}
	// Decoded without RawHands, the numbers say there are none.
	b, _, err = Encode(&Hand{Role: RoleRouter, Conn: "q", Socket: socket, Pair: pair})
	if err != nil {
		t.Fatal(err)
	}
	m, err = Decode(b, []int{dupFd(t, devNull(t)), dupFd(t, devNull(t))})
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if h := m.(*Hand); h.SocketFd != -1 || h.PairFd != -1 {
		t.Errorf("wrapped Hand: SocketFd %d, PairFd %d, want -1", h.SocketFd, h.PairFd)
	} else {
		h.Socket.Close()
		h.Pair.Close()
	}
}

// TestSendRawDescriptors: a Hand whose Socket and Pair are nil sends the
// descriptors SocketFd and PairFd name (the supervisor's copies are plain
// descriptors), received as the same open files; with neither a file nor
// a number the Hand is refused before anything is sent.
func TestSendRawDescriptors(t *testing.T) {
	sup, wrk := connPair(t)
	socket, pair := devNull(t), devNull(t)
	sfd, pfd := dupFd(t, socket), dupFd(t, pair)
	defer unix.Close(sfd)
	defer unix.Close(pfd)
	if err := sup.Send(&Hand{Role: RoleRouter, Conn: "q1", SocketFd: sfd, PairFd: pfd}); err != nil {
		t.Fatal(err)
	}
	m, err := wrk.Receive()
	if err != nil {
		t.Fatal(err)
	}
	h := m.(*Hand)
	for _, c := range []struct {
		name string
		got  *os.File
		sent *os.File
	}{{"socket", h.Socket, socket}, {"pair", h.Pair, pair}} {
		if c.got == nil || !sameFile(t, c.got, c.sent) {
			t.Errorf("%s: received %v, not the file sent", c.name, c.got)
		}
		if c.got != nil {
			c.got.Close()
		}
	}

	err = sup.Send(&Hand{Role: RoleRouter, Conn: "q2", SocketFd: sfd, PairFd: -1})
	if !errors.Is(err, ErrMissingFile) {
		t.Errorf("Hand without a pair: %v; want ErrMissingFile", err)
	}
}
