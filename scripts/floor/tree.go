//go:build linux

package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// fdListener is where the tree finds the listening socket the load
// connects to.
const fdListener = 3

// hello is what the load sends first on each connection to the floor, in
// place of CONNECT and SUBSCRIBE: which client of which pair it is.
func hello(sub bool, pair int) []byte {
	role := byte('P')
	if sub {
		role = 'S'
	}
	return []byte{role, 0, byte(pair >> 8), byte(pair)}
}

// A shape is the processes the tree starts for one pair of clients, each
// with its hops (parseHops) and descriptors (fdConn, fdPair, fdQueue).
type shape struct {
	pairSockets bool // a socket pair per client between its two processes
	pub, sub    []workerSpec
}

type workerSpec struct {
	title, hops string
	pairEnd     int  // which end of the client's socket pair (0 or 1), -1 for none
	queue       bool // the pair's queue, read side for a subscriber, write side for a publisher
}

var shapes = map[string]shape{
	// forkmq's: a router and a deliverer per client. The publisher's router
	// reads the PUBLISH, sends it to the subscriber's queue and a PUBACK to
	// its deliverer on the socket pair; the deliverer writes the PUBACK;
	// the subscriber's deliverer writes what the queue brings; its router
	// reads the client's PUBACK.
	"pair": {pairSockets: true,
		pub: []workerSpec{
			{title: "pub-router", hops: "conn:send+ack-pair", pairEnd: 0, queue: true},
			{title: "pub-deliverer", hops: "pair:copy-conn", pairEnd: 1},
		},
		sub: []workerSpec{
			{title: "sub-router", hops: "conn:drop", pairEnd: 0},
			{title: "sub-deliverer", hops: "queue:copy-conn", pairEnd: 1, queue: true},
		}},
	// One process per client, as a C server that forks per connection
	// would have it: the publisher's reads the PUBLISH, sends it to the
	// subscriber's queue and writes the PUBACK itself; the subscriber's
	// waits on its queue and its socket.
	"client": {
		pub: []workerSpec{{title: "pub", hops: "conn:send+ack-conn", pairEnd: -1, queue: true}},
		sub: []workerSpec{{title: "sub", hops: "queue:copy-conn,conn:drop", pairEnd: -1, queue: true}},
	},
}

// runTree is the floor's process tree, the supervisor's place: it accepts
// 2n connections, learns from each hello which client it is, creates the
// queues and socket pairs, starts the workers, says "ready" on stdout, and
// then sleeps until stdin closes, when it kills the workers.
func runTree(n int, shapeName, wait string, gomaxprocs int) error {
	sh, ok := shapes[shapeName]
	if !ok {
		return fmt.Errorf("unknown shape %q", shapeName)
	}
	if wait == "rawblock" && shapeName == "client" && gomaxprocs < 2 {
		return fmt.Errorf("rawblock holds the only P: a client-shaped subscriber's second hop would never run")
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	subs, pubs, err := acceptClients(n)
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
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("floor-%d-%d", os.Getpid(), i)
		qr, err := mqOpen(name, unix.O_RDONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NONBLOCK, &mqAttr{maxMsg: queueMsgs, msgSize: queueMsgSize})
		if err != nil {
			return err
		}
		qw, err := mqOpen(name, unix.O_WRONLY|unix.O_NONBLOCK, nil)
		if err != nil {
			return err
		}
		if err := mqUnlink(name); err != nil {
			return err
		}
		files := []*os.File{os.NewFile(uintptr(pubs[i]), "pub"), os.NewFile(uintptr(subs[i]), "sub"),
			os.NewFile(uintptr(qr), "queue-r"), os.NewFile(uintptr(qw), "queue-w")}
		for c, specs := range [][]workerSpec{sh.pub, sh.sub} {
			conn, q := files[c], files[3-c] // the publisher writes the queue, the subscriber reads it
			var pair [2]*os.File
			if sh.pairSockets {
				fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
				if err != nil {
					return fmt.Errorf("socketpair: %w", err)
				}
				pair = [2]*os.File{os.NewFile(uintptr(fds[0]), "pair0"), os.NewFile(uintptr(fds[1]), "pair1")}
			}
			for _, w := range specs {
				extra := []*os.File{conn, nil, nil}
				if w.pairEnd >= 0 {
					extra[1] = pair[w.pairEnd]
				}
				if w.queue {
					extra[2] = q
				}
				cmd := exec.Command(self, "-role", "worker", "-hops", w.hops, "-wait", wait)
				cmd.Args[0] = fmt.Sprintf("floor-%s-%d", w.title, i) // the title ps shows
				cmd.Env = append(os.Environ(), "GOMAXPROCS="+strconv.Itoa(gomaxprocs))
				cmd.ExtraFiles = extra
				cmd.Stderr = os.Stderr
				cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
				if err := cmd.Start(); err != nil {
					return fmt.Errorf("start %s %d: %w", w.title, i, err)
				}
				cmds = append(cmds, cmd)
			}
			for _, f := range pair {
				if f != nil {
					f.Close()
				}
			}
		}
		for _, f := range files {
			f.Close()
		}
	}
	if _, err := fmt.Printf("ready %d\n", len(cmds)); err != nil {
		return err
	}
	io.Copy(io.Discard, os.Stdin) // until the load closes it
	return nil
}

// acceptClients accepts 2n connections and sorts them by their hello into
// subscribers and publishers, indexed by pair.
func acceptClients(n int) (subs, pubs []int, err error) {
	subs, pubs = make([]int, n), make([]int, n)
	for k := 0; k < 2*n; k++ {
		fd, _, err := unix.Accept4(fdListener, unix.SOCK_CLOEXEC)
		if err != nil {
			return nil, nil, fmt.Errorf("accept: %w", err)
		}
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1); err != nil {
			return nil, nil, fmt.Errorf("TCP_NODELAY: %w", err)
		}
		var h [4]byte
		if _, err := io.ReadFull(fdReader(fd), h[:]); err != nil {
			return nil, nil, fmt.Errorf("hello: %w", err)
		}
		i := int(h[2])<<8 | int(h[3])
		if i >= n || (h[0] != 'S' && h[0] != 'P') {
			return nil, nil, fmt.Errorf("bad hello %q", h)
		}
		if h[0] == 'S' {
			subs[i] = fd
		} else {
			pubs[i] = fd
		}
	}
	return subs, pubs, nil
}

// fdReader reads a descriptor with plain read(2).
type fdReader int

func (fd fdReader) Read(p []byte) (int, error) {
	n, err := unix.Read(int(fd), p)
	if n == 0 && err == nil {
		return 0, io.EOF
	}
	return max(n, 0), err
}
