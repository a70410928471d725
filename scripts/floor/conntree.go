//go:build linux

package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// The descriptors of a connect-floor worker: its control socket to the
// supervisor and its socket to the other worker of its pair.
const (
	fdCtl  = 3
	fdMate = 4
)

// connack is what the deliverer writes: CONNACK, session not present,
// accepted [MQTT-3.2.2-1] [MQTT-3.2.2-3].
var connack = []byte{0x20, 0x02, 0, 0}

// A connPair is what the supervisor holds of one pair: the control socket
// of each worker, and the socket its router holds until it claims it.
type connPair struct {
	router, deliverer *ctlSock
	pending           chan int
}

// runConnSupervisor is the connect floor's supervisor: it starts pool
// pairs of workers (router, deliverer), says "ready" on stdout, and then
// accepts on the inherited listener, handing each socket to an idle
// pair's router, and to its deliverer when the router claims it, until
// stdin closes.
func runConnSupervisor(pool int, calls sockCalls, callsName string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	var cmds []*exec.Cmd
	defer func() {
		for _, c := range cmds {
			c.Process.Kill()
			c.Wait()
		}
	}()
	idle := make(chan int, pool)
	errc := make(chan error, 2*pool+2)
	pairs := make([]connPair, pool)
	for i := range pairs {
		p, err := startConnPair(self, i, calls, callsName, &cmds)
		if err != nil {
			return err
		}
		pairs[i] = p
		go func() { errc <- serveRouterCtl(p) }()
		go func() { errc <- serveDelivererCtl(p, i, idle) }()
		idle <- i
	}
	if err := calls.setNonblock(fdListener); err != nil {
		return fmt.Errorf("listener: %w", err)
	}
	ln, err := os.NewFile(fdListener, "listener").SyscallConn()
	if err != nil {
		return err
	}
	go func() { errc <- acceptLoop(ln, calls, idle, pairs) }()
	if _, err := fmt.Printf("ready %d\n", len(cmds)); err != nil {
		return err
	}
	go func() { io.Copy(io.Discard, os.Stdin); errc <- nil }() // until the load closes it
	return <-errc
}

// startConnPair starts pair i's router and deliverer, each with a control
// socket to the supervisor and one to the other.
func startConnPair(self string, i int, calls sockCalls, callsName string, cmds *[]*exec.Cmd) (connPair, error) {
	var p connPair
	var socks [3][2]int // supervisor–router, supervisor–deliverer, router–deliverer
	for k := range socks {
		s, err := seqpacketPair()
		if err != nil {
			return p, err
		}
		socks[k] = s
	}
	// The workers' ends, closed here once the workers hold them.
	child := func(k, end int) *os.File { return os.NewFile(uintptr(socks[k][end]), "ctl") }
	routerFiles, delivererFiles := []*os.File{child(0, 1), child(2, 0)}, []*os.File{child(1, 1), child(2, 1)}
	defer func() {
		for _, f := range append(routerFiles, delivererFiles...) {
			f.Close()
		}
	}()
	for _, w := range []struct {
		role  string
		files []*os.File
	}{
		{"conn-router", routerFiles},
		{"conn-deliverer", delivererFiles},
	} {
		cmd := exec.Command(self, "-role", w.role, "-calls", callsName)
		cmd.Args[0] = fmt.Sprintf("floor-%s-%d", w.role, i) // the title ps shows
		cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
		cmd.ExtraFiles = w.files
		cmd.Stderr = os.Stderr
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			return p, fmt.Errorf("start %s %d: %w", w.role, i, err)
		}
		*cmds = append(*cmds, cmd)
	}
	var err error
	if p.router, err = openCtl(socks[0][0], "router-ctl-"+strconv.Itoa(i), calls); err != nil {
		return p, err
	}
	if p.deliverer, err = openCtl(socks[1][0], "deliverer-ctl-"+strconv.Itoa(i), calls); err != nil {
		return p, err
	}
	p.pending = make(chan int, 1)
	return p, nil
}

// acceptLoop accepts, waits for an idle pair, and hands it the socket;
// the supervisor keeps its copy until the router's claim.
func acceptLoop(ln syscall.RawConn, calls sockCalls, idle chan int, pairs []connPair) error {
	for {
		var fd int
		var aerr error
		err := ln.Read(func(l uintptr) bool {
			fd, aerr = calls.accept(int(l))
			return aerr != unix.EAGAIN
		})
		if err == nil {
			err = aerr
		}
		if errors.Is(err, unix.ECONNABORTED) {
			continue
		}
		if err != nil {
			return fmt.Errorf("accept: %w", err)
		}
		p := pairs[<-idle]
		p.pending <- fd
		if err := p.router.send(wordHand, fd); err != nil {
			return err
		}
	}
}

// serveRouterCtl answers a router's claims: the socket goes to the
// deliverer, the grant to the router, and the supervisor's copy is closed.
func serveRouterCtl(p connPair) error {
	for {
		if _, err := p.router.expect(wordClaim); err != nil {
			return fmt.Errorf("router: %w", err)
		}
		fd := <-p.pending
		if err := p.deliverer.send(wordDeliver, fd); err != nil {
			return err
		}
		p.deliverer.calls.close(fd)
		if err := p.router.send(wordGrant, -1); err != nil {
			return err
		}
	}
}

// serveDelivererCtl puts pair i back in the pool each time its deliverer
// says it is idle.
func serveDelivererCtl(p connPair, i int, idle chan<- int) error {
	for {
		if _, err := p.deliverer.expect(wordIdle); err != nil {
			return fmt.Errorf("deliverer: %w", err)
		}
		idle <- i
	}
}

// runConnRouter serves connections one after the other: it takes a socket
// from the supervisor, reads the CONNECT, claims the client, waits for the
// grant, reads the DISCONNECT, closes its copy and tells the deliverer.
// It ends when the supervisor does.
func runConnRouter(calls sockCalls) error {
	sup, err := openCtl(fdCtl, "ctl", calls)
	if err != nil {
		return err
	}
	buf := make([]byte, 512)
	for {
		fd, err := sup.expect(wordHand)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if fd < 0 {
			return errors.New("a hand-over without a socket")
		}
		conn, err := openCtl(fd, "conn", calls)
		if err != nil {
			return err
		}
		// The CONNECT, whole; then the DISCONNECT: two bytes more.
		have, err := readPacketInto(conn, buf, 0)
		if err != nil {
			conn.f.Close()
			return fmt.Errorf("CONNECT: %w", err)
		}
		if err := sup.send(wordClaim, -1); err != nil {
			return err
		}
		if _, err := sup.expect(wordGrant); err != nil {
			return err
		}
		if _, err := readPacketInto(conn, buf, have); err != nil {
			conn.f.Close()
			return fmt.Errorf("DISCONNECT: %w", err)
		}
		conn.f.Close()
		if _, err := calls.write(fdMate, []byte{wordClose}); err != nil {
			return fmt.Errorf("to the deliverer: %w", err)
		}
	}
}

// readPacketInto reads from c until buf[start:] holds one whole MQTT
// packet, and returns where it ends. The floor's client sends nothing
// else, so the bytes after it are none.
func readPacketInto(c *ctlSock, buf []byte, start int) (int, error) {
	end := start
	for {
		if n, ok := packetLen(buf[start:end]); ok {
			if start+n > len(buf) {
				return 0, fmt.Errorf("a %d-byte packet", n)
			}
			if end >= start+n {
				return start + n, nil
			}
		}
		var n int
		var rerr error
		err := c.rc.Read(func(fd uintptr) bool {
			n, rerr = c.calls.read(int(fd), buf[end:])
			return rerr != unix.EAGAIN
		})
		if err == nil {
			err = rerr
		}
		if err != nil {
			return 0, err
		}
		if n == 0 {
			return 0, io.ErrUnexpectedEOF
		}
		end += n
	}
}

// packetLen is the length of the MQTT packet b begins with, once its fixed
// header is whole [MQTT-2.2.3].
func packetLen(b []byte) (int, bool) {
	length, shift := 0, 0
	for i := 1; i < len(b) && i <= 4; i++ {
		length |= int(b[i]&0x7f) << shift
		if b[i]&0x80 == 0 {
			return i + 1 + length, true
		}
		shift += 7
	}
	return 0, false
}

// runConnDeliverer serves connections one after the other: it takes the
// socket from the supervisor, writes the CONNACK, waits for the router's
// word that the client said DISCONNECT, closes its copy and tells the
// supervisor the pair is idle.
func runConnDeliverer(calls sockCalls) error {
	sup, err := openCtl(fdCtl, "ctl", calls)
	if err != nil {
		return err
	}
	mate, err := openCtl(fdMate, "mate", calls)
	if err != nil {
		return err
	}
	for {
		fd, err := sup.expect(wordDeliver)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if fd < 0 {
			return errors.New("a delivery without a socket")
		}
		// A 4-byte write to a socket nothing was written to never waits.
		if _, err := calls.write(fd, connack); err != nil {
			calls.close(fd)
			return fmt.Errorf("CONNACK: %w", err)
		}
		if _, err := mate.expect(wordClose); err != nil {
			calls.close(fd)
			return fmt.Errorf("router: %w", err)
		}
		calls.close(fd)
		if err := sup.send(wordIdle, -1); err != nil {
			return err
		}
	}
}
