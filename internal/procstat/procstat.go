package procstat

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/forkmq/forkmq/internal/nowait"
)

// Stat is one process's CPU time and memory.
type Stat struct {
	CPU     time.Duration // user and system time
	RSS     uint64        // resident bytes
	RSSAnon uint64        // resident anonymous bytes: heap, stacks
	PSS     uint64        // proportional set size: its share of what it shares (0 when the kernel does not say)
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat's times: 100 on every
// Linux architecture Go supports.
const clockTicks = 100

// Read reads process pid's /proc entries.
func Read(pid int) (Stat, error) {
	var st Stat
	dir := "/proc/" + strconv.Itoa(pid) + "/"
	b, err := os.ReadFile(dir + "stat")
	if err != nil {
		return st, err
	}
	// The command name is in parentheses and may hold blanks: fields
	// are counted after its closing one (utime and stime are 14 and 15).
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return st, fmt.Errorf("procstat: %sstat: no command name", dir)
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 13 {
		return st, fmt.Errorf("procstat: %sstat: %d fields", dir, len(f))
	}
	utime, _ := strconv.ParseUint(string(f[11]), 10, 64)
	stime, _ := strconv.ParseUint(string(f[12]), 10, 64)
	st.CPU = time.Duration(utime+stime) * time.Second / clockTicks

	if b, err = os.ReadFile(dir + "status"); err != nil {
		return st, err
	}
	st.RSS, st.RSSAnon = kB(b, "VmRSS:"), kB(b, "RssAnon:")
	if b, err := os.ReadFile(dir + "smaps_rollup"); err == nil {
		st.PSS = kB(b, "Pss:")
	}
	return st, nil
}

// kB finds "Key:   N kB" in a /proc text and returns N KiB in bytes.
func kB(text []byte, key string) uint64 {
	i := bytes.Index(text, []byte("\n"+key))
	if i < 0 {
		return 0
	}
	line := text[i+1+len(key):]
	if j := bytes.IndexByte(line, '\n'); j >= 0 {
		line = line[:j]
	}
	f := bytes.Fields(line)
	if len(f) == 0 {
		return 0
	}
	n, _ := strconv.ParseUint(string(f[0]), 10, 64)
	return n << 10
}

// AnonRSS is process pid's resident anonymous memory (heap, stacks), read
// from /proc/PID/statm alone: resident less shared pages (file-backed and
// shmem), the same figure as status's RssAnon. It is the cheap read for
// summing over thousands of processes every few seconds ($SYS): one small
// file of counters, where Read opens three and smaps_rollup walks the
// process's page tables. It is read with raw calls (package nowait): three
// system calls, none of which wakes the Go runtime's sysmon thread, where
// os.ReadFile made eight.
func AnonRSS(pid int) (uint64, error) {
	var buf [128]byte // seven numbers
	n, err := nowait.ReadProc("/proc/"+strconv.Itoa(pid)+"/statm", buf[:])
	if err != nil {
		return 0, fmt.Errorf("procstat: /proc/%d/statm: %w", pid, err)
	}
	b := buf[:n]
	f := bytes.Fields(b)
	if len(f) < 3 {
		return 0, fmt.Errorf("procstat: /proc/%d/statm: %d fields", pid, len(f))
	}
	resident, err1 := strconv.ParseUint(string(f[1]), 10, 64)
	shared, err2 := strconv.ParseUint(string(f[2]), 10, 64)
	if err1 != nil || err2 != nil || shared > resident {
		return 0, fmt.Errorf("procstat: /proc/%d/statm: %q", pid, b)
	}
	return (resident - shared) * uint64(os.Getpagesize()), nil
}
