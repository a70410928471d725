package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestMosquittoClients: Debian's mosquitto_sub receives through the broker
// what mosquitto_pub sends, at QoS 0 without retain, on an exact and on a
// wildcard subscription, including several messages over one connection.
func TestMosquittoClients(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"mosquitto_sub", "mosquitto_pub", "stdbuf"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is missing: run scripts/install-deps.sh (%v)", tool, err)
		}
	}
	forEachEngine(t, func(t *testing.T, engine string) {
		b := startBroker(t, withEngine(engine))
		host, port, _ := strings.Cut(b.Addr, ":")
		conn := []string{"-h", host, "-p", port, "-V", "mqttv311"}
		want := []string{
			"interop/a hello",
			"interop/b/c world",
			"exact/topic exact",
			"interop/lines one",
			"interop/lines two",
			"interop/last bye",
		}

		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		defer cancel()
		sub := startMosquittoSub(t, ctx, append(slices.Clone(conn),
			"-i", newClientID("mosqsub"), "-t", "interop/#", "-t", "exact/topic",
			"-v", "-C", strconv.Itoa(len(want)), "-W", "15")...)

		pubRun := func(stdin string, args ...string) {
			t.Helper()
			cmd := exec.CommandContext(ctx, "mosquitto_pub", append(slices.Clone(conn), args...)...)
			cmd.Stdin = strings.NewReader(stdin)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("mosquitto_pub %q: %v\n%s", args, err, out)
			}
		}
		pubRun("", "-t", "interop/a", "-m", "hello", "-q", "0")
		pubRun("", "-t", "interop/b/c", "-m", "world")
		pubRun("", "-t", "other/x", "-m", "not subscribed")
		pubRun("", "-t", "exact/topic", "-m", "exact")
		pubRun("one\ntwo\n", "-t", "interop/lines", "-l")
		pubRun("", "-t", "interop/last", "-m", "bye")

		got, err := sub.rest()
		if err != nil {
			t.Error(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("mosquitto_sub printed %q, want %q", got, want)
		}
		b.assertClean(t, 0)
	})
}

// mosquittoSub is a running mosquitto_sub, subscribed.
type mosquittoSub struct {
	cmd    *exec.Cmd
	lines  chan string
	stderr strings.Builder
}

// startMosquittoSub starts mosquitto_sub with args (and -d) and waits until
// it has its SUBACK. -d prints "Client … received SUBACK" once subscribed;
// stdbuf makes its stdout line-buffered: it does not flush the debug lines
// itself when writing to a pipe.
func startMosquittoSub(t *testing.T, ctx context.Context, args ...string) *mosquittoSub {
	t.Helper()
	s := &mosquittoSub{lines: make(chan string, 64)}
	s.cmd = exec.CommandContext(ctx, "stdbuf", append([]string{"-oL", "mosquitto_sub", "-d"}, args...)...)
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	s.cmd.Stderr = &s.stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(s.lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			s.lines <- sc.Text()
		}
	}()
	var debug []string
	waitSuback := time.After(ioTimeout)
	for subscribed := false; !subscribed; {
		select {
		case l, ok := <-s.lines:
			if !ok {
				t.Fatalf("mosquitto_sub ended before SUBACK: %q %s", debug, s.stderr.String())
			}
			debug = append(debug, l)
			subscribed = strings.Contains(l, "SUBACK")
		case <-waitSuback:
			t.Fatalf("mosquitto_sub got no SUBACK within %v: %q", ioTimeout, debug)
		}
	}
	return s
}

// rest waits for mosquitto_sub to exit (-C, -W) and returns the lines it
// printed since SUBACK, without -d's.
func (s *mosquittoSub) rest() ([]string, error) {
	var got []string
	for l := range s.lines {
		if !strings.HasPrefix(l, "Client ") && !strings.HasPrefix(l, "Subscribed ") { // -d lines
			got = append(got, l)
		}
	}
	if err := s.cmd.Wait(); err != nil {
		return got, fmt.Errorf("mosquitto_sub: %v (stderr %q)", err, s.stderr.String())
	}
	return got, nil
}
