package broker

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/forkmq/forkmq/internal/rawmqtt"
)

// Spec describes one broker.
type Spec struct {
	Name string
	// Command is a shell command line; {port} becomes the TCP port to
	// serve MQTT on (at 127.0.0.1) and {dir} a fresh scratch directory.
	// The shell execs the last command, so that the broker is the process
	// started and its pid the root of the measured tree.
	Command string
	// Setup, when set, prepares the scratch directory (a configuration
	// file) before the command starts.
	Setup func(dir string, port int) error `json:"-"`
	// Config, when set, returns the broker's full configuration as it
	// runs (a configuration file, or the options a program prints), for
	// the report: a reader must be able to run the same broker.
	Config func() string `json:"-"`
	// Version, when set, returns the exact version that runs.
	Version func() string `json:"-"`
	// Note says in a few words how this broker is configured and why.
	Note string `json:"note,omitempty"`
	// Family groups configurations of one broker: ratios to a family
	// are taken against its best member for each figure.
	Family string `json:"family,omitempty"`
}

// Parse reads a -broker flag value, NAME=COMMAND.
func Parse(s string) (Spec, error) {
	name, cmd, ok := strings.Cut(s, "=")
	name, cmd = strings.TrimSpace(name), strings.TrimSpace(cmd)
	if !ok || name == "" || cmd == "" {
		return Spec{}, fmt.Errorf("broker %q: want NAME='COMMAND with {port}'", s)
	}
	if !strings.Contains(cmd, "{port}") {
		return Spec{}, fmt.Errorf("broker %s: the command must contain {port}", name)
	}
	return Spec{Name: name, Command: cmd}, nil
}

// Expand fills the placeholders.
func (s Spec) Expand(port int, dir string) string {
	return strings.NewReplacer("{port}", strconv.Itoa(port), "{dir}", dir).Replace(s.Command)
}

// Available reports why the broker cannot run here, or nil: its program is
// neither a file nor found on PATH.
func (s Spec) Available() error {
	f := strings.Fields(s.Command)
	if len(f) == 0 {
		return errors.New("empty command")
	}
	prog := f[0]
	if strings.Contains(prog, "/") {
		if _, err := os.Stat(prog); err != nil {
			return fmt.Errorf("%s not built or not found: %w", prog, err)
		}
		return nil
	}
	if _, err := exec.LookPath(prog); err != nil {
		return fmt.Errorf("%s not installed: %w", prog, err)
	}
	return nil
}

// Options say how to start a broker.
type Options struct {
	ScratchRoot string        // parent of every scratch directory and log
	Pin         string        // CPU list for taskset (empty: no pinning)
	ReadyWait   time.Duration // longest wait for the first CONNACK (default 20s)
	// JoinFile, when set, is a cgroup.procs file the broker's shell joins
	// before it execs the broker, so that the broker and everything it
	// forks are measured by that cgroup from their first instruction.
	JoinFile string
}

// Instance is a running broker.
type Instance struct {
	Spec    Spec
	Port    int
	Addr    string // 127.0.0.1:port
	Dir     string
	LogPath string
	PID     int
	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error
}

// Start starts the broker on a free port and waits until it answers a
// CONNECT with CONNACK 0.
func Start(ctx context.Context, s Spec, o Options) (*Instance, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(o.ScratchRoot, s.Name+"-")
	if err != nil {
		return nil, err
	}
	inst := &Instance{Spec: s, Port: port, Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		Dir: dir, LogPath: dir + ".log", exited: make(chan struct{})}
	if s.Setup != nil {
		if err := s.Setup(dir, port); err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("set up %s: %w", s.Name, err)
		}
	}
	line := "exec " + s.Expand(port, dir)
	if o.Pin != "" {
		line = "exec taskset -c " + o.Pin + " " + s.Expand(port, dir)
	}
	if o.JoinFile != "" {
		line = "echo $$ > " + o.JoinFile + " && " + line
	}
	logf, err := os.Create(inst.LogPath)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command("/bin/sh", "-c", line)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start %s: %w", s.Name, err)
	}
	inst.cmd, inst.PID = cmd, cmd.Process.Pid
	go func() {
		inst.waitErr = cmd.Wait()
		close(inst.exited)
	}()
	wait := o.ReadyWait
	if wait <= 0 {
		wait = 20 * time.Second
	}
	if err := inst.waitReady(ctx, wait); err != nil {
		inst.Stop()
		return nil, err
	}
	return inst, nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func (i *Instance) waitReady(ctx context.Context, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	var last error
	for time.Now().Before(deadline) {
		if err := i.Exited(); err != nil {
			return err
		}
		c, err := rawmqtt.Dial(ctx, i.Addr, rawmqtt.Options{ClientID: "mqbench-probe", KeepAlive: 60, Timeout: 2 * time.Second})
		if err == nil {
			return c.Disconnect()
		}
		last = err
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s not ready after %v: %v%s", i.Spec.Name, wait, last, i.tail())
}

// Exited returns an error describing the broker's exit if it has exited.
func (i *Instance) Exited() error {
	select {
	case <-i.exited:
		return fmt.Errorf("%s exited: %v%s", i.Spec.Name, i.waitErr, i.tail())
	default:
		return nil
	}
}

// LogTail returns the last bytes of the broker's output on one line, or "".
func (i *Instance) LogTail() string {
	const keep = 600
	f, err := os.Open(i.LogPath)
	if err != nil {
		return ""
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > keep {
		_, _ = f.Seek(fi.Size()-keep, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	return strings.ReplaceAll(string(bytes.TrimSpace(b)), "\n", " | ")
}

// LogCount returns how many lines of the broker's output contain word
// (case-insensitively) and the first such line; the benchmark counts the
// lines in which a broker says it dropped messages.
func (i *Instance) LogCount(word string) (n int, first string) {
	f, err := os.Open(i.LogPath)
	if err != nil {
		return 0, ""
	}
	defer f.Close()
	word = strings.ToLower(word)
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if strings.Contains(strings.ToLower(sc.Text()), word) {
			if n == 0 {
				first = sc.Text()
			}
			n++
		}
	}
	return n, first
}

// tail is LogTail for the end of an error message.
func (i *Instance) tail() string {
	if t := i.LogTail(); t != "" {
		return "; log ends: " + t
	}
	return ""
}

// Stop ends the broker: SIGTERM, then after 10 s SIGKILL; then it kills
// whatever is left of its process group and removes the scratch directory.
// It returns an error when the broker had to be killed.
func (i *Instance) Stop() error {
	var err error
	_ = syscall.Kill(i.PID, syscall.SIGTERM)
	select {
	case <-i.exited:
	case <-time.After(10 * time.Second):
		err = fmt.Errorf("%s ignored SIGTERM for 10s; killed", i.Spec.Name)
		_ = syscall.Kill(-i.PID, syscall.SIGKILL)
		<-i.exited
	}
	_ = syscall.Kill(-i.PID, syscall.SIGKILL) // stragglers of the group
	os.RemoveAll(i.Dir)
	return err
}
