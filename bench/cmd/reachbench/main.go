package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

func main() {
	mode := flag.String("mode", "", "tls-cpu, handshakes, terminator or bridge")
	bin := flag.String("bin", "bin", "directory holding broker and worker")
	n := flag.Int("n", 100_000, "messages per stream")
	size := flag.Int("size", 64, "payload bytes")
	clients := flag.Int("clients", 50, "TLS clients whose memory -mode terminator measures")
	rate := flag.Int("rate", 200, "TLS handshakes a second in -mode handshakes")
	dur := flag.Duration("d", 5*time.Second, "how long each latency phase lasts")
	engines := flag.String("engines", "process,goroutine", "engines to measure")
	child := flag.Bool("terminator-child", false, "internal: be one per-client terminator (-mode terminator)")
	flag.Parse()
	if *child {
		os.Exit(terminatorChild())
	}
	if os.Getenv("REACHBENCH_PINNED") == "" {
		pinSelf()
	}
	dir, err := os.MkdirTemp("", "reachbench")
	if err != nil {
		fail(err)
	}
	defer os.RemoveAll(dir)
	c, err := makeCerts(dir)
	if err != nil {
		fail(err)
	}
	ctx := context.Background()
	o := opts{bin: *bin, dir: dir, certs: c, n: *n, size: *size, clients: *clients, rate: *rate, dur: *dur, engines: splitList(*engines)}
	switch *mode {
	case "tls-cpu":
		err = tlsCPU(ctx, o)
	case "handshakes":
		err = handshakeLatency(ctx, o)
	case "terminator":
		err = terminatorChoice(ctx, o)
	case "bridge":
		err = bridgeThroughput(ctx, o)
	default:
		err = fmt.Errorf("-mode %q: want tls-cpu, handshakes, terminator or bridge", *mode)
	}
	if err != nil {
		fail(err)
	}
}

// opts is what every mode takes.
type opts struct {
	bin, dir         string
	certs            *certs
	n, size, clients int
	rate             int
	dur              time.Duration
	engines          []string
}

func (o opts) tlsConfig() *tls.Config {
	return &tls.Config{RootCAs: o.certs.ca.Pool(), ServerName: "localhost"}
}

// pinSelf runs this tool again pinned to CPU 1, away from the brokers on
// CPU 0, and exits with its status.
func pinSelf() {
	self, err := os.Executable()
	if err != nil {
		fail(err)
	}
	cmd := exec.Command("taskset", append([]string{"-c", "1", self}, os.Args[1:]...)...)
	cmd.Stdout, cmd.Stderr, cmd.Env = os.Stdout, os.Stderr, append(os.Environ(), "REACHBENCH_PINNED=1")
	err = cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		os.Exit(ee.ExitCode())
	}
	if err != nil {
		fail(err)
	}
	os.Exit(0)
}

// splitList splits a comma-separated list, spaces ignored.
func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' })
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "reachbench:", err)
	os.Exit(1)
}
