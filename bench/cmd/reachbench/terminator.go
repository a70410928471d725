package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/forkmq/forkmq/bench/internal/proctree"
	"github.com/forkmq/forkmq/internal/rawmqtt"
)

// The terminator decision (issue 14): the process engine terminates TLS in
// its supervisor, one process for every session. The alternative measured
// here is a prototype of one terminator process per client: a front
// accepts each TLS connection and starts a process (this binary with
// -terminator-child, pinned to the brokers' CPU) that completes the
// handshake and pumps between the session and a plain TCP connection to
// the broker — what a per-client tlsproxy would cost, short of the
// SCM_RIGHTS hand-over, which costs the same in both designs.

// terminatorChoice measures both designs on one process-engine broker:
// memory per TLS client (PSS over plain clients), CPU per delivery, and
// what a terminator's crash takes down.
func terminatorChoice(ctx context.Context, o opts) error {
	b, err := startForkmq(o.bin, o.dir, "process", o.certs)
	if err != nil {
		return err
	}
	defer b.stop()
	f, err := startFront(o, b.addr["plain"])
	if err != nil {
		return err
	}
	defer f.close()
	tlsD := dialer{addr: b.addr["tls"], tls: o.tlsConfig()}
	kinds := []struct {
		name string
		d    dialer
	}{
		{"plain", dialer{addr: b.addr["plain"]}},
		{"tls-supervisor", tlsD},
		{"tls-per-client", dialer{addr: f.ln.Addr().String(), tls: o.tlsConfig()}},
	}
	// Memory: o.clients idle clients of each kind, one kind at a time,
	// plain first. The worker pairs cost the same in both designs (each
	// gets a socket), so a terminator's memory is what the supervisor
	// alone holds over plain clients, or the per-client processes' PSS.
	var sup = map[string]float64{}
	var kids = map[string]float64{}
	for _, k := range kinds {
		var conns []*rawmqtt.Conn
		for i := range o.clients {
			c, err := k.d.mqtt(ctx, fmt.Sprintf("idle-%s-%d", k.name, i))
			if err != nil {
				return fmt.Errorf("%s client %d: %w", k.name, i, err)
			}
			conns = append(conns, c)
		}
		time.Sleep(time.Second)
		sup[k.name], kids[k.name] = ownPSS(b.cmd.Process.Pid), f.pss()
		fmt.Printf("terminator %-15s %d idle clients: supervisor PSS %6.0f KiB, per-client terminators' PSS %6.0f KiB\n",
			k.name, o.clients, sup[k.name]/1024, kids[k.name]/1024)
		if k.name == "tls-per-client" {
			// A crash of one terminator: how many clients go with it.
			f.killOne()
			time.Sleep(500 * time.Millisecond)
			lost := 0
			for _, c := range conns {
				c.NetConn().SetReadDeadline(time.Now().Add(50 * time.Millisecond))
				if _, err := c.ReadPacket(); err != nil && !isTimeout(err) {
					lost++
				}
			}
			fmt.Printf("terminator %-15s SIGKILL of one terminator process: %d of %d clients lost\n", k.name, lost, o.clients)
		}
		for _, c := range conns {
			c.Disconnect()
			c.Close()
		}
		f.reap()
		time.Sleep(2 * time.Second) // the pairs are cleaned up and back in the pool
	}
	perSup := (sup["tls-supervisor"] - sup["plain"]) / float64(o.clients)
	perKid := (sup["tls-per-client"] - sup["plain"] + kids["tls-per-client"]) / float64(o.clients)
	fmt.Printf("terminator memory per TLS client: supervisor %.0f KiB, per-client process %.0f KiB (%.0f×)\n",
		perSup/1024, perKid/1024, perKid/max(perSup, 1))
	// CPU per delivery, 1→1 QoS 0, both designs.
	cpu := map[string]float64{}
	for _, k := range kinds {
		f.resetCPU()
		before := b.cpu()
		sub, err := subscribe(ctx, k.d, "sub-"+k.name, "t/"+k.name, nil)
		if err != nil {
			return err
		}
		pub, err := k.d.mqtt(ctx, "pub-"+k.name)
		if err != nil {
			return err
		}
		got, _, err := stream(pub, sub, "t/"+k.name, o.n, o.size)
		used := b.cpu() - before + f.cpu()
		pub.Close()
		sub.c.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", k.name, err)
		}
		cpu[k.name] = used / float64(got) * 1e6
		fmt.Printf("terminator %-15s 1→1 QoS0 %d msgs: %.2f µs CPU per delivery (broker tree + terminators)\n", k.name, got, cpu[k.name])
		f.reap()
		time.Sleep(time.Second)
	}
	fmt.Printf("terminator CPU per delivery over plain: supervisor %.2f×, per-client process %.2f×\n",
		cpu["tls-supervisor"]/cpu["plain"], cpu["tls-per-client"]/cpu["plain"])
	return nil
}

func pss(t *proctree.Tree) float64 {
	m, err := t.Memory()
	if err != nil {
		return 0
	}
	return float64(m.PSS)
}

// ownPSS is one process's PSS, without its children.
func ownPSS(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "Pss:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb * 1024
		}
	}
	return 0
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// front accepts TLS clients and starts one terminator process for each.
type front struct {
	ln       net.Listener
	mu       sync.Mutex
	kids     []*exec.Cmd
	cpuStart map[int]float64
}

func startFront(o opts, upstream string) (*front, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	f := &front{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			file, err := c.(*net.TCPConn).File()
			c.Close()
			if err != nil {
				continue
			}
			cmd := exec.Command("taskset", "-c", "0", self, "-terminator-child")
			cmd.ExtraFiles = []*os.File{file}
			cmd.Stderr = os.Stderr
			cmd.Env = append(os.Environ(), "REACHBENCH_CERT="+o.certs.certFile, "REACHBENCH_KEY="+o.certs.keyF, "REACHBENCH_UPSTREAM="+upstream)
			err = cmd.Start()
			file.Close()
			if err != nil {
				fmt.Fprintln(os.Stderr, "reachbench: terminator:", err)
				continue
			}
			f.mu.Lock()
			f.kids = append(f.kids, cmd)
			f.mu.Unlock()
		}
	}()
	return f, nil
}

// pss is the live terminators' PSS together.
func (f *front) pss() float64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	total := 0.0
	for _, k := range f.kids {
		total += pss(proctree.New(k.Process.Pid))
	}
	return total
}

// cpu is the live terminators' CPU seconds since resetCPU.
func (f *front) cpu() float64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	total := 0.0
	for _, k := range f.kids {
		c, err := proctree.New(k.Process.Pid).CPU()
		if err == nil {
			total += c.Seconds - f.cpuStart[k.Process.Pid]
		}
	}
	return total
}

func (f *front) resetCPU() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cpuStart = map[int]float64{}
}

func (f *front) killOne() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.kids) > 0 {
		f.kids[0].Process.Signal(syscall.SIGKILL)
	}
}

// reap waits for every terminator to end and forgets them.
func (f *front) reap() {
	f.mu.Lock()
	kids := f.kids
	f.kids = nil
	f.mu.Unlock()
	for _, k := range kids {
		done := make(chan struct{})
		go func() { k.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			k.Process.Kill()
			<-done
		}
	}
}

func (f *front) close() {
	f.ln.Close()
	f.reap()
}

// terminatorChild is one per-client terminator: the TLS session on
// descriptor 3, pumped to a plain connection to the broker.
func terminatorChild() int {
	nc, err := net.FileConn(os.NewFile(3, "client"))
	if err != nil {
		return 1
	}
	cert, err := tls.LoadX509KeyPair(os.Getenv("REACHBENCH_CERT"), os.Getenv("REACHBENCH_KEY"))
	if err != nil {
		return 1
	}
	ts := tls.Server(nc, &tls.Config{Certificates: []tls.Certificate{cert}})
	if err := ts.Handshake(); err != nil {
		return 1
	}
	up, err := net.Dial("tcp", os.Getenv("REACHBENCH_UPSTREAM"))
	if err != nil {
		return 1
	}
	go func() {
		io.Copy(up, ts)
		up.(*net.TCPConn).CloseWrite()
	}()
	io.Copy(ts, up)
	ts.Close()
	return 0
}
