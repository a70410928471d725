package harness

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/forkmq/forkmq/bench/internal/report"
)

// environment records the machine and its limits.
func environment() report.Environment {
	e := report.Environment{
		Cores:     runtime.NumCPU(),
		CPUModel:  cpuinfoField("model name"),
		MemTotal:  strings.TrimSpace(strings.TrimPrefix(firstLine("/proc/meminfo"), "MemTotal:")),
		Kernel:    readTrim("/proc/sys/kernel/osrelease"),
		GoVersion: runtime.Version(),
		LoadStart: loadavg(),
		Limits:    map[string]string{},
	}
	for _, s := range []string{"fs/mqueue/queues_max", "fs/mqueue/msg_max", "fs/mqueue/msgsize_max",
		"kernel/pid_max", "net/core/somaxconn", "net/ipv4/ip_local_port_range", "net/ipv4/tcp_tw_reuse"} {
		e.Limits[strings.ReplaceAll(s, "/", ".")] = strings.Join(strings.Fields(readTrim("/proc/sys/"+s)), "–")
	}
	for name, res := range map[string]int{"RLIMIT_MSGQUEUE (bytes)": unix.RLIMIT_MSGQUEUE, "RLIMIT_NOFILE": unix.RLIMIT_NOFILE} {
		var rl unix.Rlimit
		if unix.Getrlimit(res, &rl) == nil {
			e.Limits[name] = fmt.Sprintf("%d (hard %d)", rl.Cur, rl.Max)
		}
	}
	return e
}

func readTrim(path string) string {
	b, _ := os.ReadFile(path)
	return strings.TrimSpace(string(b))
}

func firstOf(b []byte) string {
	line, _, _ := bytes.Cut(bytes.TrimSpace(b), []byte("\n"))
	return string(line)
}

func firstLine(path string) string { b, _ := os.ReadFile(path); return firstOf(b) }

func loadavg() string {
	f := strings.Fields(readTrim("/proc/loadavg"))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func cpuinfoField(name string) string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "?"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == name {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}
