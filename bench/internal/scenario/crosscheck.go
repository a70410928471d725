package scenario

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The crosscheck scenario measures one capacity figure with a load tool
// forkmq did not write: mosquitto's own command-line clients (Debian's
// mosquitto-clients, written in C on libmosquitto). mosquitto_pub -l sends
// every line of a file as a message, as fast as the broker takes them;
// mosquitto_sub prints, for each message, its length and the time it
// arrived (-F '%l %U'). The delivered rate is the messages received over the
// time between the first and the last; the report puts it beside mqbench's
// own capacity figure for the same flow (CrossCheckFlow).
//
// Both tools run with their defaults (QoS 0, keep-alive 60 s, Nagle's
// algorithm on) and are pinned where mqbench is; their CPU is reported, and
// a tool that used a whole core is flagged like a saturated generator.
func crossCheckCases(cfg Config) []Case {
	fl := CrossCheckFlow
	return []Case{{
		Scenario: CrossCheck, Name: fl.Name(), Label: fl.Label() + " (mosquitto_pub → mosquitto_sub)", Group: payloadLabel(fl.Payload),
		Estimate: 3*time.Second + cfg.Drain,
		Run: func(ctx context.Context, t Target) Result {
			return runCrossCheck(ctx, t, cfg)
		},
	}}
}

// CrossCheckFlow is the flow the cross-check measures: the capacity case of
// the same name is mqbench's figure for it.
var CrossCheckFlow = Flow{Topology: "1to1", QoS: 0, Payload: 64}

// marker is the payload of the messages that tell the subscriber is ready;
// it is one byte long, so '%l' tells it from the 64-byte data.
const marker = "r"

// CrossCheckTools are the programs the scenario needs.
var CrossCheckTools = []string{"mosquitto_pub", "mosquitto_sub"}

func runCrossCheck(ctx context.Context, t Target, cfg Config) Result {
	for _, tool := range CrossCheckTools {
		if _, err := exec.LookPath(tool); err != nil {
			return Result{Status: StatusSkipped, Error: tool + " is not installed (Debian's mosquitto-clients; make deps installs it)"}
		}
	}
	host, port, err := net.SplitHostPort(t.Addr)
	if err != nil {
		return Result{Status: StatusFailed, Error: err.Error()}
	}
	lines, err := lineFile(cfg.CrossCheckMessages, CrossCheckFlow.Payload)
	if err != nil {
		return Result{Status: StatusFailed, Error: err.Error()}
	}
	defer os.Remove(lines)
	topic := "cc/" + t.Prefix
	common := []string{"-h", host, "-p", port, "-t", topic, "-q", strconv.Itoa(int(CrossCheckFlow.QoS)), "-k", strconv.Itoa(keepAlive)}

	sub := tool(t.ToolPin, "mosquitto_sub", append(common, "-i", t.Prefix+"-ccsub", "-F", "%l %U")...)
	out, err := sub.StdoutPipe()
	if err != nil {
		return Result{Status: StatusFailed, Error: err.Error()}
	}
	var subErr strings.Builder
	sub.Stderr = &subErr
	if err := sub.Start(); err != nil {
		return Result{Status: StatusFailed, Error: "start mosquitto_sub: " + err.Error()}
	}
	rx := &receipts{}
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		rx.read(out, CrossCheckFlow.Payload)
	}()
	stopSub := func() {
		_ = sub.Process.Signal(syscall.SIGTERM)
		<-readDone
		_ = sub.Wait()
	}

	// Ready when a marker goes through: the subscription is in place.
	ready := false
	for deadline := time.Now().Add(10 * time.Second); !ready && time.Now().Before(deadline) && ctx.Err() == nil; {
		if out, err := tool(t.ToolPin, "mosquitto_pub", append(common, "-i", t.Prefix+"-ccmark", "-m", marker)...).CombinedOutput(); err != nil {
			stopSub()
			return failure(t, fmt.Errorf("mosquitto_pub (marker): %v: %s", err, out), nil)
		}
		for wait := time.Now().Add(200 * time.Millisecond); time.Now().Before(wait) && !ready; time.Sleep(5 * time.Millisecond) {
			ready = rx.markers() > 0
		}
	}
	if !ready {
		stopSub()
		return failure(t, fmt.Errorf("mosquitto_sub never received a message: %s", strings.TrimSpace(subErr.String())), nil)
	}

	a, sampleErr := cpuSnapshot(t)
	start := time.Now()
	pub := tool(t.ToolPin, "mosquitto_pub", append(common, "-i", t.Prefix+"-ccpub", "-l")...)
	in, err := os.Open(lines)
	if err != nil {
		stopSub()
		return Result{Status: StatusFailed, Error: err.Error()}
	}
	defer in.Close()
	pub.Stdin = in
	pubOut, pubErr := pub.CombinedOutput()
	pubWall := time.Since(start)

	// Wait for the stragglers as mqbench's own runs do.
	last, lastMove := -1, time.Now()
	for ctx.Err() == nil && time.Since(start) < cfg.DrainMax+pubWall {
		n := rx.count()
		if n >= cfg.CrossCheckMessages {
			break
		}
		if n != last {
			last, lastMove = n, time.Now()
		} else if time.Since(lastMove) > cfg.Drain {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	b, err := cpuSnapshot(t)
	sampleErr = firstErr(sampleErr, err)
	wall := time.Since(start)
	stopSub()

	n, first, lastAt := rx.span()
	m := map[string]float64{"received": float64(n), "lost": float64(cfg.CrossCheckMessages - n),
		"loss_pct": 100 * float64(cfg.CrossCheckMessages-n) / float64(cfg.CrossCheckMessages)}
	if n >= 2 && lastAt > first {
		m["msgs_per_s"] = float64(n-1) / (lastAt - first)
	}
	if sampleErr == nil && n > 0 {
		m["cpu_s"] = b.cpu - a.cpu
		m["cpu_s_per_million"] = m["cpu_s"] / float64(n) * 1e6
	}
	toolCPU := cpuOf(pub) + cpuOf(sub)
	m["tool_cpu_pct"] = 100 * toolCPU / wall.Seconds()
	if pubErr != nil {
		return failure(t, fmt.Errorf("mosquitto_pub: %v: %s", pubErr, strings.TrimSpace(string(pubOut))), m)
	}
	if err := firstErr(ctx.Err(), sampleErr, t.Exited()); err != nil {
		return failure(t, err, m)
	}
	return Result{Status: StatusOK, Metrics: m}
}

// tool is a command pinned with taskset to the CPUs in pin, if any.
func tool(pin, name string, args ...string) *exec.Cmd {
	if pin == "" {
		return exec.Command(name, args...)
	}
	return exec.Command("taskset", append([]string{"-c", pin, name}, args...)...)
}

// cpuOf returns the CPU seconds an exited command used.
func cpuOf(c *exec.Cmd) float64 {
	if c.ProcessState == nil {
		return 0
	}
	return (c.ProcessState.UserTime() + c.ProcessState.SystemTime()).Seconds()
}

// lineFile writes n lines of size bytes each (and a newline) to a
// temporary file: mosquitto_pub -l's input.
func lineFile(n, size int) (string, error) {
	f, err := os.CreateTemp("", "mqbench-lines-")
	if err != nil {
		return "", err
	}
	defer f.Close()
	line := []byte(strings.Repeat("0123456789abcdef", size/16+1)[:size] + "\n")
	w := bufio.NewWriterSize(f, 1<<16)
	for i := 0; i < n; i++ {
		w.Write(line)
	}
	if err := w.Flush(); err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("write mosquitto_pub's input: %w", err)
	}
	return f.Name(), nil
}

// receipts is what mosquitto_sub printed: "LENGTH UNIXTIME" per message.
type receipts struct {
	mu          sync.Mutex
	n, marks    int
	first, last float64
}

func (r *receipts) read(out interface{ Read([]byte) (int, error) }, size int) {
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		l, ts, ok := strings.Cut(sc.Text(), " ")
		at, err := strconv.ParseFloat(ts, 64)
		if !ok || err != nil {
			continue
		}
		r.mu.Lock()
		switch l {
		case strconv.Itoa(len(marker)):
			r.marks++
		case strconv.Itoa(size):
			if r.n == 0 {
				r.first = at
			}
			r.n++
			r.last = at
		}
		r.mu.Unlock()
	}
}

func (r *receipts) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n
}

func (r *receipts) markers() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.marks
}

func (r *receipts) span() (n int, first, last float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n, r.first, r.last
}
