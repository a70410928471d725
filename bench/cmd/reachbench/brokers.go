package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/forkmq/forkmq/bench/internal/proctree"
	"github.com/forkmq/forkmq/internal/testpki"
)

// running is one broker this tool started.
type running struct {
	name  string
	cmd   *exec.Cmd
	tree  *proctree.Tree
	addr  map[string]string // by listener kind: plain, tls
	quiet bool              // its log is not worth showing (mosquitto's, a line a connection)
}

// freePort is a TCP port free a moment ago.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port), nil
}

// certs is a CA and a server certificate for localhost, written to dir.
type certs struct {
	ca             *testpki.CA
	certFile, keyF string
}

func makeCerts(dir string) (*certs, error) {
	ca, err := testpki.NewCA("reachbench CA")
	if err != nil {
		return nil, err
	}
	srv, err := ca.Server("reachbench")
	if err != nil {
		return nil, err
	}
	cf, kf, err := srv.Write(dir, "server")
	if err != nil {
		return nil, err
	}
	return &certs{ca: ca, certFile: cf, keyF: kf}, nil
}

// startForkmq starts bin/broker of engine with a plain and a TLS listener
// (and extra arguments), pinned to CPU 0, and waits until both listen.
func startForkmq(bin, dir, engine string, c *certs, extra ...string) (*running, error) {
	plain, err := freePort()
	if err != nil {
		return nil, err
	}
	tlsPort, err := freePort()
	if err != nil {
		return nil, err
	}
	state := filepath.Join(dir, engine+"-state")
	args := []string{"-c", "0", filepath.Join(bin, "broker"), "-engine", engine, "-listen", "127.0.0.1:" + plain,
		"-state-dir", state, "-max-accept-rate", "0", "-log-level", logLevel,
		"-tls-listen", "127.0.0.1:" + tlsPort, "-certfile", c.certFile, "-keyfile", c.keyF}
	if engine == "process" {
		args = append(args, "-max-clients", "200")
	}
	args = append(args, extra...)
	r := &running{name: "forkmq-" + engine, addr: map[string]string{"plain": "127.0.0.1:" + plain, "tls": "127.0.0.1:" + tlsPort}}
	if err := r.start("taskset", args...); err != nil {
		return nil, err
	}
	return r, r.waitListening(r.addr["plain"], r.addr["tls"])
}

// startMosquitto starts mosquitto on a free port, pinned to CPU 0.
func startMosquitto(dir string) (*running, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "mosquitto.conf")
	text := fmt.Sprintf("listener %s 127.0.0.1\nallow_anonymous true\nuser root\nmax_queued_messages 100000\nmax_inflight_messages 100\n", port)
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		return nil, err
	}
	r := &running{name: "mosquitto", addr: map[string]string{"plain": "127.0.0.1:" + port}, quiet: true}
	if err := r.start("taskset", "-c", "0", "mosquitto", "-c", conf); err != nil {
		return nil, err
	}
	return r, r.waitListening(r.addr["plain"])
}

func (r *running) start(name string, args ...string) error {
	r.cmd = exec.Command(name, args...)
	if !r.quiet {
		r.cmd.Stderr = os.Stderr
	}
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := r.cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", r.name, err)
	}
	r.tree = proctree.New(r.cmd.Process.Pid) // taskset execs: the pid is the broker's
	return nil
}

func (r *running) waitListening(addrs ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for _, a := range addrs {
		for {
			c, err := net.Dial("tcp", a)
			if err == nil {
				c.Close()
				break
			}
			if ctx.Err() != nil {
				r.stop()
				return fmt.Errorf("%s does not listen on %s: %w", r.name, a, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	time.Sleep(500 * time.Millisecond) // the pool fills
	return nil
}

// cpu is the broker tree's CPU seconds so far.
func (r *running) cpu() float64 {
	c, err := r.tree.CPU()
	if err != nil {
		return 0
	}
	return c.Seconds
}

// stop ends the broker with SIGTERM (SIGKILL after 10 s).
func (r *running) stop() {
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	r.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { r.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		syscall.Kill(-r.cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
}

// logLevel is the brokers' -log-level (REACHBENCH_LOG_LEVEL, default warn).
var logLevel = func() string {
	if l := os.Getenv("REACHBENCH_LOG_LEVEL"); l != "" {
		return l
	}
	return "warn"
}()
