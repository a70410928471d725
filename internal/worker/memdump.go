package worker

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/rs/zerolog"
)

// MemDumpEnv names a directory in the environment; when it is set, a worker
// handed a client writes there, memDumpDelay later, what its memory is made
// of: <pid>-memstats.txt (runtime.MemStats, the goroutine and thread
// counts), <pid>-heap.pprof (the live heap, for `go tool pprof
// -sample_index=inuse_space`; run with GODEBUG=memprofilerate=1 for every
// allocation, not a sample), <pid>-goroutine.txt and <pid>-threadcreate.txt
// (where each thread was started). A debugging aid for measuring an idle
// worker (scripts/idlepss -dump): a one-shot timer, not a signal handler,
// since os/signal would add two threads to what it measures (see
// ignoreTerminalSignals).
const MemDumpEnv = "FORKMQ_WORKER_MEMDUMP"

// memDumpDelay is how long after a client is handed over the dump is
// written: past the CONNECT, the claim and the CONNACK.
const memDumpDelay = 2 * time.Second

// memDumpLater writes the dump into dir (MemDumpEnv's, read once at the
// worker's start) memDumpDelay from now, if it is set.
func memDumpLater(dir string, log zerolog.Logger) {
	if dir == "" {
		return
	}
	time.AfterFunc(memDumpDelay, func() {
		if err := memDump(dir); err != nil {
			log.Warn().Err(err).Msg("memory dump")
		}
	})
}

// memDump writes the two files of MemDumpEnv.
func memDump(dir string) error {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	threads, _ := os.ReadDir("/proc/self/task")
	base := filepath.Join(dir, fmt.Sprint(os.Getpid()))
	text := fmt.Sprintf("HeapAlloc %d\nHeapInuse %d\nHeapIdle %d\nHeapReleased %d\nHeapObjects %d\n"+
		"StackInuse %d\nStackSys %d\nMSpanInuse %d\nMSpanSys %d\nMCacheInuse %d\nMCacheSys %d\n"+
		"BuckHashSys %d\nGCSys %d\nOtherSys %d\nSys %d\nNextGC %d\nNumGC %d\nGoroutines %d\nThreads %d\n",
		ms.HeapAlloc, ms.HeapInuse, ms.HeapIdle, ms.HeapReleased, ms.HeapObjects,
		ms.StackInuse, ms.StackSys, ms.MSpanInuse, ms.MSpanSys, ms.MCacheInuse, ms.MCacheSys,
		ms.BuckHashSys, ms.GCSys, ms.OtherSys, ms.Sys, ms.NextGC, ms.NumGC, runtime.NumGoroutine(), len(threads))
	if err := os.WriteFile(base+"-memstats.txt", []byte(text), 0o644); err != nil {
		return err
	}
	f, err := os.Create(base + "-heap.pprof")
	if err != nil {
		return err
	}
	defer f.Close()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		return err
	}
	for _, name := range []string{"goroutine", "threadcreate"} {
		if err := writeProfile(base+"-"+name+".txt", name); err != nil {
			return err
		}
	}
	return nil
}

// writeProfile writes the named profile as text (debug 1) into path.
func writeProfile(path, name string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return pprof.Lookup(name).WriteTo(f, 1)
}
