package worker

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/forkmq/forkmq/internal/logging"
	"github.com/forkmq/forkmq/internal/queue"
	"github.com/forkmq/forkmq/internal/spawn"
	"github.com/forkmq/forkmq/internal/spool"
)

// Main runs a worker with the given arguments (argv[0] excluded) and returns
// its exit code.
func Main(argv []string, stderr io.Writer) spawn.ExitCode {
	args, err := spawn.Parse(argv)
	if err != nil {
		fmt.Fprintf(stderr, "forkmq worker: %v\n", err)
		return spawn.ExitUsage
	}
	log, err := logging.New(stderr, args.LogFormat, args.LogLevel)
	if err != nil {
		fmt.Fprintf(stderr, "forkmq worker: %v\n", err)
		return spawn.ExitUsage
	}
	log = log.With().Str("role", string(args.Role)).Int("pid", os.Getpid()).Str("conn", args.Queue).Str("queue", args.Queue).Logger()

	stopProfile := startProfile(string(args.Role), log)
	defer stopProfile()
	if args.Role != spawn.RoleDeliverer { // the deliverer's loop watches it
		watchLifeline(os.NewFile(spawn.FdLifeline, "lifeline"))
	}
	watchSignals(stopProfile)

	sp, err := spool.Open(filepath.Join(args.StateDir, "spool"))
	if err != nil {
		log.Error().Err(err).Msg("worker start")
		return spawn.ExitUsage
	}
	if args.Role == spawn.RoleWill {
		return publishWill(args, log, sp)
	}
	if args.Role == spawn.RoleSys {
		return publishSys(args, log, sp)
	}
	q, err := queue.FromFile(os.NewFile(spawn.FdQueue, args.Queue), args.Queue)
	if err != nil {
		log.Error().Err(err).Msg("worker start: queue")
		return spawn.ExitUsage
	}
	if args.Role == spawn.RoleDeliverer {
		d, err := newDeliverer(args, log, q, sp)
		if err != nil {
			log.Error().Err(err).Msg("deliverer start")
			return spawn.ExitUsage
		}
		return d.run()
	}
	q.Close() // what the router sends its own client goes through the pair channel
	conn, err := inheritConn[*net.TCPConn](spawn.FdSocket, "socket")
	if err != nil {
		log.Error().Err(err).Msg("worker start")
		return spawn.ExitUsage
	}
	pair, err := inheritConn[*net.UnixConn](spawn.FdPair, "pair socket")
	if err != nil {
		log.Error().Err(err).Msg("worker start")
		return spawn.ExitUsage
	}
	r, err := newRouter(args, log, conn, pair, sp)
	if err != nil {
		log.Error().Err(err).Msg("router start")
		return spawn.ExitFailure
	}
	return r.run()
}

// watchLifeline exits the process when the supervisor dies: the supervisor
// holds the only write end of the pipe, so EOF here means it is gone.
func watchLifeline(f *os.File) {
	go func() {
		var b [1]byte
		for {
			if _, err := f.Read(b[:]); err != nil {
				os.Exit(int(spawn.ExitParentGone))
			}
		}
	}()
}

// watchSignals turns SIGTERM and SIGINT from the supervisor into a prompt
// exit with a named code.
func watchSignals(beforeExit func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT)
	// SIGHUP asks a router to re-read the access files (see reloadOnHUP);
	// until a handler is installed it must not end the process.
	signal.Ignore(syscall.SIGHUP)
	// A Ctrl-C at the terminal reaches the whole process group; the
	// supervisor decides when workers stop, so SIGINT is ignored here.
	signal.Ignore(syscall.SIGINT)
	go func() {
		<-ch
		beforeExit()
		os.Exit(int(spawn.ExitStopped))
	}()
}

// inheritConn wraps an inherited socket as a connection of type C.
func inheritConn[C net.Conn](fd int, name string) (C, error) {
	var zero C
	f := os.NewFile(uintptr(fd), name)
	if f == nil {
		return zero, fmt.Errorf("no %s at fd %d", name, fd)
	}
	c, err := net.FileConn(f)
	f.Close()
	if err != nil {
		return zero, fmt.Errorf("%s at fd %d: %w", name, fd, err)
	}
	typed, ok := c.(C)
	if !ok {
		c.Close()
		return zero, fmt.Errorf("%s at fd %d is a %T, not a %T", name, fd, c, zero)
	}
	return typed, nil
}

// shutdown ends the connection for both workers at once: the socket is
// shared, so closing our descriptor alone would leave the partner's open.
func shutdown(conn *net.TCPConn, log zerolog.Logger) {
	rc, err := conn.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) { shutdownFd(int(fd), log) })
}

// shutdownFd is shutdown on a raw descriptor.
func shutdownFd(fd int, log zerolog.Logger) {
	if err := unix.Shutdown(fd, unix.SHUT_RDWR); err != nil && !errors.Is(err, unix.ENOTCONN) {
		log.Debug().Err(err).Msg("socket shutdown")
	}
}
