//go:build linux

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func TestParseHops(t *testing.T) {
	for _, tc := range []struct {
		spec string
		want []hop
		bad  bool
	}{
		{spec: "conn:send+ack-pair", want: []hop{{name: "conn", src: fdConn, acts: []action{actSend, actAckPair}}}},
		{spec: "conn:drop", want: []hop{{name: "conn", src: fdConn}}},
		{spec: "queue:copy-conn,conn:drop", want: []hop{{name: "queue", src: fdQueue, acts: []action{actCopyConn}}, {name: "conn", src: fdConn}}},
		{spec: "pair:copy-conn", want: []hop{{name: "pair", src: fdPair, acts: []action{actCopyConn}}}},
		{spec: "conn", bad: true},
		{spec: "socket:drop", bad: true},
		{spec: "conn:send+shout", bad: true},
	} {
		got, err := parseHops(tc.spec)
		if tc.bad {
			if err == nil {
				t.Errorf("parseHops(%q) = %v, want an error", tc.spec, got)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("parseHops(%q) = %+v, %v; want %+v", tc.spec, got, err, tc.want)
		}
	}
}

// Every shape's hops parse: a typo there would only show as a worker
// dying at the start of a run.
func TestShapesParse(t *testing.T) {
	for name, sh := range shapes {
		for _, w := range append(sh.pub, sh.sub...) {
			if _, err := parseHops(w.hops); err != nil {
				t.Errorf("shape %s, %s: %v", name, w.title, err)
			}
		}
	}
}

func TestParseTargets(t *testing.T) {
	for _, tc := range []struct {
		list string
		want []target
		bad  bool
	}{
		{list: "pair,mosquitto", want: []target{
			{name: "pair", shape: "pair", wait: "poll", gomaxprocs: 1},
			{name: "mosquitto", broker: "mosquitto", wait: "poll", gomaxprocs: 1}}},
		{list: "client+block+gmp2", want: []target{{name: "client+block+gmp2", shape: "client", wait: "block", gomaxprocs: 2}}},
		{list: "pair+rawblock", want: []target{{name: "pair+rawblock", shape: "pair", wait: "rawblock", gomaxprocs: 1}}},
		{list: "mosquitto+block", bad: true},
		{list: "pair+fast", bad: true},
		{list: "emqx", bad: true},
	} {
		got, err := parseTargets(tc.list)
		if tc.bad {
			if err == nil {
				t.Errorf("parseTargets(%q) = %v, want an error", tc.list, got)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("parseTargets(%q) = %+v, %v; want %+v", tc.list, got, err, tc.want)
		}
	}
}

// TestTinyRun builds the program as the workers are built and runs it
// tiny: 2 pairs for 1 s, both shapes. Every message sent must be
// delivered and acknowledged, and the figures must be positive; their
// size depends on the machine, so nothing else is asserted. Unpinned, so
// that it runs on any machine.
func TestTinyRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 14 processes for a few seconds")
	}
	bin := buildFloor(t)
	out, err := exec.Command(bin, "-n", "2", "-rate", "4", "-warmup", "500ms", "-window", "1s", "-reps", "1",
		"-targets", "pair,client", "-tree-cpu", "", "-load-cpu", "").CombinedOutput()
	if err != nil {
		t.Fatalf("floor: %v\n%s", err, out)
	}
	t.Logf("%s", out)
	if strings.Contains(string(out), "NOT built like") {
		t.Errorf("the binary is not built like the workers")
	}
	runs := 0
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) != 17 || f[0] != "1" {
			continue
		}
		runs++
		// rep target procs thrds msgs CPU wakes invol CPU% sent deliv lost gen others steal cpu/s wakes/s
		num := func(i int) float64 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				t.Fatalf("%s: field %d: %v", f[1], i, err)
			}
			return v
		}
		wantProcs := map[string]float64{"pair": 1 + 2*4, "client": 1 + 2*2}[f[1]]
		if num(2) != wantProcs {
			t.Errorf("%s: %v processes, want %v (the tree and its workers)", f[1], num(2), wantProcs)
		}
		if num(4) <= 0 || num(5) <= 0 || num(6) <= 0 || num(8) <= 0 {
			t.Errorf("%s: messages, CPU per message, wake-ups per message and CPU %% must be positive: %q", f[1], line)
		}
		if num(9) == 0 || num(10) != num(9) || num(11) != 0 {
			t.Errorf("%s: sent %v, delivered %v, lost %v: want every message delivered and acknowledged", f[1], num(9), num(10), num(11))
		}
	}
	if runs != 2 {
		t.Errorf("%d runs reported, want 2", runs)
	}
}

// buildFloor builds the program as the workers are built.
func buildFloor(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "floor")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOEXPERIMENT=nogreenteagc")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func TestPacketLen(t *testing.T) {
	for _, tc := range []struct {
		b    []byte
		want int
		ok   bool
	}{
		{b: nil},
		{b: []byte{0x10}},
		{b: []byte{0xe0, 0x00}, want: 2, ok: true}, // DISCONNECT [MQTT-3.14.1-1]
		{b: connectPacket("c")[:2], want: len(connectPacket("c")), ok: true},
		{b: []byte{0x30, 0x80}}, // a continued remaining length [MQTT-2.2.3]
		{b: []byte{0x30, 0x80, 0x01}, want: 3 + 128, ok: true},
	} {
		got, ok := packetLen(tc.b)
		if got != tc.want || ok != tc.ok {
			t.Errorf("packetLen(% x) = %d, %v; want %d, %v", tc.b, got, ok, tc.want, tc.ok)
		}
	}
}

func TestParseConnTargets(t *testing.T) {
	for _, tc := range []struct {
		list   string
		broker string
		engine string
		calls  string
		bad    bool
	}{
		{list: "floor", calls: "raw"},
		{list: "floor+sched", calls: "sched"},
		{list: "mosquitto", broker: "mosquitto"},
		{list: "forkmq", broker: "forkmq", engine: "process"},
		{list: "forkmq-goroutine", broker: "forkmq", engine: "goroutine"},
		{list: "pair", bad: true},
		{list: "forkmq-threads", bad: true},
	} {
		got, err := parseConnTargets(tc.list)
		if tc.bad {
			if err == nil {
				t.Errorf("parseConnTargets(%q) = %+v, want an error", tc.list, got)
			}
			continue
		}
		if err != nil || len(got) != 1 || got[0].broker != tc.broker {
			t.Errorf("parseConnTargets(%q) = %+v, %v; want broker %q", tc.list, got, err, tc.broker)
			continue
		}
		engine := ""
		if a := got[0].brokerArgs; len(a) >= 2 && a[0] == "-engine" {
			engine = a[1]
		}
		if tc.broker == "" && got[0].wait != tc.calls {
			t.Errorf("parseConnTargets(%q): calls %q, want %q", tc.list, got[0].wait, tc.calls)
		}
		if engine != tc.engine {
			t.Errorf("parseConnTargets(%q): engine %q, want %q", tc.list, engine, tc.engine)
		}
	}
}

// TestTinyConnect runs the connect floor tiny, its calls raw and through
// the scheduler: 2 clients at a time against a pool of 3 pairs for 1 s. Every client's CONNECT must be
// answered with CONNACK 0 [MQTT-3.2.2-3] (a failed one fails the run), the
// tree must be the supervisor and its pairs, and the figures positive.
// Unpinned, so that it runs on any machine.
func TestTinyConnect(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 7 processes for a few seconds")
	}
	bin := buildFloor(t)
	out, err := exec.Command(bin, "-scenario", "connect", "-targets", "floor,floor+sched", "-conc", "2", "-pool", "3",
		"-warmup", "300ms", "-window", "1s", "-reps", "1", "-tree-cpu", "", "-load-cpu", "").CombinedOutput()
	if err != nil {
		t.Fatalf("floor: %v\n%s", err, out)
	}
	t.Logf("%s", out)
	runs := 0
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) != 16 || f[0] != "1" {
			continue
		}
		runs++
		// rep target procs thrds conns conn/s CPU wakes supCPU supWakes CPU% failed gen others steal conn/s/s
		num := func(i int) float64 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				t.Fatalf("field %d: %v", i, err)
			}
			return v
		}
		if num(2) != 1+2*3 {
			t.Errorf("%s: %v processes, want 7 (the supervisor and 3 pairs)", f[1], num(2))
		}
		if num(4) <= 0 || num(6) <= 0 || num(7) <= 0 || num(8) <= 0 || num(10) <= 0 {
			t.Errorf("connections, CPU and wake-ups per connection, the supervisor's CPU and CPU %% must be positive: %q", line)
		}
		if num(8) >= num(6) {
			t.Errorf("%s: the supervisor's CPU per connection %v is not a part of the tree's %v", f[1], num(8), num(6))
		}
		if num(11) != 0 {
			t.Errorf("%s: %v connections failed", f[1], num(11))
		}
	}
	if runs != 2 {
		t.Errorf("%d runs reported, want 2", runs)
	}
}
