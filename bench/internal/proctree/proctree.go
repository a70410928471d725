package proctree

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"
)

// TicksPerSecond is USER_HZ, the unit of the times in /proc/<pid>/stat; it
// is 100 on every Linux ABI Go supports.
const TicksPerSecond = 100

// Proc is what this package reads of one process's /proc/<pid>/stat.
type Proc struct {
	PID, PPID                    int
	Comm                         string
	State                        byte
	UTime, STime, CUTime, CSTime uint64 // clock ticks
}

// Ticks returns the process's CPU time including its reaped children's.
func (p Proc) Ticks() uint64 { return p.UTime + p.STime + p.CUTime + p.CSTime }

// ErrNoProcess is returned for a process that does not exist (any more).
var ErrNoProcess = errors.New("proctree: no such process")

// ReadStat reads /proc/<pid>/stat.
func ReadStat(pid int) (Proc, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ESRCH) {
			return Proc{}, fmt.Errorf("%w: %d", ErrNoProcess, pid)
		}
		return Proc{}, err
	}
	return parseStat(b)
}

// parseStat parses one stat line: "pid (comm) state ppid … utime stime
// cutime cstime …" where comm may hold spaces and parentheses, so the fields
// after it are found from the last ')'.
func parseStat(b []byte) (Proc, error) {
	open, closing := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 1 || closing < open {
		return Proc{}, fmt.Errorf("proctree: stat line without (comm): %q", b)
	}
	var p Proc
	var err error
	if p.PID, err = strconv.Atoi(string(bytes.TrimSpace(b[:open]))); err != nil {
		return Proc{}, fmt.Errorf("proctree: stat pid: %w", err)
	}
	p.Comm = string(b[open+1 : closing])
	f := bytes.Fields(b[closing+1:])
	// f[0] is field 3 (state); utime is field 14, so f[11]; cstime f[14].
	if len(f) < 15 || len(f[0]) != 1 {
		return Proc{}, fmt.Errorf("proctree: short stat line for pid %d", p.PID)
	}
	p.State = f[0][0]
	if p.PPID, err = strconv.Atoi(string(f[1])); err != nil {
		return Proc{}, fmt.Errorf("proctree: stat ppid of %d: %w", p.PID, err)
	}
	for i, dst := range []*uint64{&p.UTime, &p.STime, &p.CUTime, &p.CSTime} {
		v, err := strconv.ParseInt(string(f[11+i]), 10, 64)
		if err != nil {
			return Proc{}, fmt.Errorf("proctree: stat times of %d: %w", p.PID, err)
		}
		*dst = uint64(max(v, 0)) // cutime and cstime are signed in the ABI
	}
	return p, nil
}

// Scan reads the stat of every process, in ascending pid order (so, pid
// wrap-around aside, parents before children).
func Scan() (map[int]Proc, error) {
	d, err := os.Open("/proc")
	if err != nil {
		return nil, err
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return nil, err
	}
	procs := make(map[int]Proc, len(names))
	for _, n := range names {
		pid, err := strconv.Atoi(n)
		if err != nil {
			continue
		}
		p, err := ReadStat(pid)
		if err != nil {
			continue // gone since the directory was read
		}
		procs[pid] = p
	}
	return procs, nil
}

// Descendants returns root and every process below it in procs, root first.
// It returns nil when root is not in procs.
func Descendants(procs map[int]Proc, root int) []Proc {
	r, ok := procs[root]
	if !ok {
		return nil
	}
	children := make(map[int][]int)
	for pid, p := range procs {
		children[p.PPID] = append(children[p.PPID], pid)
	}
	tree := []Proc{r}
	for i := 0; i < len(tree); i++ {
		for _, c := range children[tree[i].PID] {
			if c != root {
				tree = append(tree, procs[c])
			}
		}
	}
	return tree
}

// Tree is the process tree under one root pid.
type Tree struct {
	Root     int
	maxTicks uint64
}

// New returns the tree rooted at pid.
func New(pid int) *Tree { return &Tree{Root: pid} }

// CPU is one sample of a tree.
type CPU struct {
	Seconds float64 // CPU time of the tree since the root started
	Procs   int     // live processes in the tree
}

// CPU samples the tree's CPU time. The root is read first and the others in
// ascending pid order, so a child reaped during the sample may be missed (its
// time not yet in the parent's) but never counted twice; such a dip is hidden
// by never reporting less than an earlier sample.
func (t *Tree) CPU() (CPU, error) {
	root, err := ReadStat(t.Root)
	if err != nil {
		return CPU{}, err
	}
	procs, err := Scan()
	if err != nil {
		return CPU{}, err
	}
	procs[t.Root] = root
	tree := Descendants(procs, t.Root)
	var ticks uint64
	for _, p := range tree {
		ticks += p.Ticks()
	}
	t.maxTicks = max(t.maxTicks, ticks)
	return CPU{Seconds: float64(t.maxTicks) / TicksPerSecond, Procs: len(tree)}, nil
}

// Memory is the memory of a tree's processes, in bytes.
type Memory struct {
	RSS, PSS uint64
	Procs    int // processes whose memory was read
}

// Memory sums RSS and PSS from /proc/<pid>/smaps_rollup over the live tree.
// PSS divides each shared page among the processes that map it, so it is
// the fair total for a tree of forked and exec'ed processes.
func (t *Tree) Memory() (Memory, error) {
	procs, err := Scan()
	if err != nil {
		return Memory{}, err
	}
	tree := Descendants(procs, t.Root)
	if tree == nil {
		return Memory{}, fmt.Errorf("%w: %d", ErrNoProcess, t.Root)
	}
	var m Memory
	for _, p := range tree {
		rss, pss, err := readRollup(p.PID)
		if err != nil {
			continue // exited meanwhile, or a kernel thread without memory
		}
		m.RSS += rss
		m.PSS += pss
		m.Procs++
	}
	return m, nil
}

func readRollup(pid int) (rss, pss uint64, err error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/smaps_rollup")
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	found := 0
	for sc.Scan() {
		line := sc.Bytes()
		var dst *uint64
		switch {
		case bytes.HasPrefix(line, []byte("Rss:")):
			dst = &rss
		case bytes.HasPrefix(line, []byte("Pss:")):
			dst = &pss
		default:
			continue
		}
		f := bytes.Fields(line)
		if len(f) < 2 {
			return 0, 0, fmt.Errorf("proctree: smaps_rollup of %d: bad line %q", pid, line)
		}
		kb, err := strconv.ParseUint(string(f[1]), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("proctree: smaps_rollup of %d: %w", pid, err)
		}
		*dst = kb * 1024
		found++
	}
	if err := sc.Err(); err != nil {
		return 0, 0, err
	}
	if found < 2 {
		return 0, 0, fmt.Errorf("proctree: smaps_rollup of %d has no Rss/Pss", pid)
	}
	return rss, pss, nil
}
