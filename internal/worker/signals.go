package worker

import (
	"os"
	"os/signal"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/forkmq/forkmq/internal/spawn"
)

// ignoreTerminalSignals sets SIGHUP and SIGINT to be ignored, with the
// kernel's sigaction and not package os/signal. The access files are
// re-read on the supervisor's control.Reload, not on a signal, so a stray
// SIGHUP must not end the process; a Ctrl-C at the terminal reaches the
// whole process group, and the supervisor decides when workers stop.
//
// Why not signal.Ignore: the first use of os/signal starts a goroutine
// locked to a thread of its own (the runtime's ensureSigM) and the
// runtime's template thread — two threads and their stacks in every worker,
// thousands of them, for two signals that only need SIG_IGN. The Go
// runtime does not re-install its handler for a signal os/signal never
// touched, so SIG_IGN set here stays.
func ignoreTerminalSignals() error {
	// struct kernel_sigaction on linux: handler, flags, restorer, mask.
	act := struct {
		handler  uintptr
		flags    uint64
		restorer uintptr
		mask     uint64
	}{handler: 1} // SIG_IGN
	for _, sig := range []syscall.Signal{syscall.SIGHUP, syscall.SIGINT} {
		if _, _, errno := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(&act)), 0, unsafe.Sizeof(act.mask), 0, 0); errno != 0 {
			return os.NewSyscallError("rt_sigaction "+sig.String(), errno)
		}
	}
	return nil
}

// watchTerm turns SIGTERM into a prompt exit with a named code after
// beforeExit (the CPU profile's end). Only a profiling worker needs it:
// the supervisor stops workers over the control channel, and SIGKILL is
// its last resort; without a handler SIGTERM ends a worker as a signal
// does, which the supervisor reports.
func watchTerm(beforeExit func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGTERM)
	go func() {
		<-ch
		beforeExit()
		os.Exit(int(spawn.ExitStopped))
	}()
}
