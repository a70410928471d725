//go:build linux

package main

import (
	"os"
	"runtime"
	"strconv"
	"time"
)

// A windowSnap is one sample of a measured window: every thread of the
// tree and of the load, and the load's count (messages delivered,
// connections served).
type windowSnap struct {
	tree, gen sample
	count     int64
	at        time.Time
}

// A measuredWindow is what sampleWindow saw of a window.
type measuredWindow struct {
	first, last         windowSnap
	d                   threadStat // the tree's threads over the window
	genNS               uint64     // the load's own CPU, without the sampling's
	othersPct, stealPct float64    // the tree's CPU: busy with anything but the tree, and stolen; -1 unknown
}

func (m measuredWindow) length() time.Duration { return m.last.at.Sub(m.first.at) }
func (m measuredWindow) count() int64          { return m.last.count - m.first.count }

// sampleWindow samples the tree under root and the load every second for
// window, calling eachSecond with each second's first and last samples:
// the figures of the whole window, and whatever median of its seconds the
// caller wants, which a slowed stretch of a few seconds does not move.
// The load's own CPU leaves out what the sampling costs (it runs on this
// locked thread, which clocks itself). treeCPU is the CPU the tree is
// pinned to, for what else ran there.
func sampleWindow(root int, window time.Duration, treeCPU string, count func() int64, eachSecond func(prev, cur windowSnap)) measuredWindow {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	self := []int{os.Getpid()}
	var samplerNS uint64
	take := func() windowSnap {
		c := threadCPU()
		s := windowSnap{tree: sampleTree(root), gen: sampleProcs(self), count: count(), at: time.Now()}
		samplerNS += threadCPU() - c
		return s
	}
	cpu, cpuErr := strconv.Atoi(treeCPU)
	c0, ok0 := readCPU(cpu)
	m := measuredWindow{first: take()}
	samplerNS = 0
	prev := m.first
	for k := 1; k <= int(window/time.Second); k++ {
		time.Sleep(time.Until(m.first.at.Add(time.Duration(k) * time.Second)))
		cur := take()
		eachSecond(prev, cur)
		prev = cur
	}
	m.last = prev
	c1, ok1 := readCPU(cpu)
	m.d = m.last.tree.since(m.first.tree)
	gen := m.last.gen.since(m.first.gen).cpuNS
	m.genNS = gen - min(samplerNS, gen)
	m.othersPct, m.stealPct = -1, -1
	if cpuErr == nil && ok0 && ok1 {
		ticks := m.length().Seconds() * ticksPerSecond
		treePct := 100 * float64(m.d.cpuNS) / float64(m.length().Nanoseconds())
		m.othersPct = max(0, 100*float64(c1.busy-c0.busy)/ticks-treePct)
		m.stealPct = 100 * float64(c1.steal-c0.steal) / ticks
	}
	return m
}
