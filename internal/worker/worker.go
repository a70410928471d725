package worker

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/forkmq/forkmq/internal/control"
	"github.com/forkmq/forkmq/internal/logging"
	"github.com/forkmq/forkmq/internal/nowait"
	"github.com/forkmq/forkmq/internal/pollset"
	"github.com/forkmq/forkmq/internal/proctitle"
	"github.com/forkmq/forkmq/internal/retain"
	"github.com/forkmq/forkmq/internal/scoreboard"
	"github.com/forkmq/forkmq/internal/spawn"
	"github.com/forkmq/forkmq/internal/spool"
	"github.com/forkmq/forkmq/internal/state"
	"github.com/forkmq/forkmq/internal/topicdir"
)

// worker is one worker process: it waits in the pool until the supervisor
// hands it a client (or a will), serves it in the role it is given, drops
// everything of that client, and waits again — until it is stopped.
//
// What outlives a client is what belongs to no client: the options, the
// log, the control channel, the spool, the topic files and the retained
// store with their in-memory views, and the access files. Everything a
// client brought — its socket, its queue, the pair channel, its session,
// its will, its subscriptions' cache of queue descriptors, its limits, its
// credentials — lives in values made for that client and dropped with it.
type worker struct {
	args spawn.Args
	log  zerolog.Logger
	pid  int // os.Getpid's, once: a system call at every call
	// memDump is MemDumpEnv's directory, read once: looked up for every
	// client, the environment showed in the connect scenario's profile.
	memDump string
	link    *link
	title   *proctitle.Title
	spool   *spool.Spool
	bufs    buffers      // lent to each client in turn
	dset    *pollset.Set // the deliverers' epoll set (delivererSet), lent to each

	routing  *routing           // opened by the first router, will or sys role
	access   *access            // loaded by the first router role
	slot     *scoreboard.Writer // its scoreboard slot, for its life (nil: it counts nothing)
	gen      uint64             // the options' generation
	served   uint32
	stopping atomic.Bool   // told to Stop while serving: exit after the client
	trim     *time.Timer   // returns the heap's free pages once the worker is quiet (quiet, trimHeap); made once
	trimAt   atomic.Uint32 // served when trim was last armed
	trimmed  atomic.Uint32 // served when they were last returned
	// partnerPooled: the client a deliverer served ended with its router
	// back in the pool already; served1 says so for it (control.PartnerIdle).
	partnerPooled bool
	partnerSent   uint32 // control.PartnerIdle.RouterSent
}

// trimAfter is how long a worker stays with one client, or in the pool,
// before it gives the kernel back what its heap holds and does not use,
// if it has served trimEvery clients since it last did. A worker reused
// for client after client grows its heap towards the runtime's first goal
// (4 MiB) and keeps the freed pages (2.3–2.5 MiB each after 60 clients,
// scripts/idlepss -churn 3000 -n 50); freeing them each time a client
// leaves costs a collection per client. Once per quiet spell costs one per
// long-lived client or pool wait, and none for the clients of a busy pool,
// which leave before it fires. A worker that has served fewer has little
// to give back, and a forced collection would add the collector's own
// pages (a worker fresh from exec: +360 KiB).
const (
	trimAfter = 10 * time.Second
	trimEvery = 4
)

// Main runs a worker with the given arguments (argv[0] excluded; the caller
// passes copies, see proctitle.Take) and returns its exit code.
func Main(argv []string, stderr io.Writer, title *proctitle.Title) spawn.ExitCode {
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
	pid := os.Getpid()
	log = log.With().Int("pid", pid).Int("slot", args.Slot).Logger()

	if err := ignoreTerminalSignals(); err != nil {
		log.Error().Err(err).Msg("worker start")
		return spawn.ExitUsage
	}
	if stopProfile, on := startProfile("worker", log); on {
		defer stopProfile()
		watchTerm(stopProfile)
	}

	sp, err := spool.OpenWorker(state.Layout{Root: args.StateDir, Instance: args.Instance}.Spool(), args.Slot)
	if err != nil {
		log.Error().Err(err).Msg("worker start")
		return spawn.ExitUsage
	}
	l, err := newLink(log)
	if err != nil {
		log.Error().Err(err).Msg("worker start")
		return spawn.ExitUsage
	}
	// Made now, before the first client, as a part of the worker like its
	// control channel: no client's end leaves it behind.
	dset, err := delivererSet(l.wake)
	if err != nil {
		log.Error().Err(err).Msg("worker start")
		return spawn.ExitUsage
	}
	w := &worker{args: args, log: log, pid: pid, memDump: os.Getenv(MemDumpEnv), link: l, title: title, spool: sp, dset: dset, gen: args.Generation, slot: attachSlot(args, log)}
	defer w.slot.Close()
	return w.run()
}

// run is the worker's life in the pool.
func (w *worker) run() spawn.ExitCode {
	w.idle()
	if err := w.link.send(&control.Ready{Generation: w.gen}); err != nil {
		return w.fail(err)
	}
	for m := range w.link.inbox {
		switch m := m.(type) {
		case *control.Hand:
			end := w.serve(m)
			if code, done := w.served1(end); done {
				return code
			}
		case *control.PublishWill:
			w.title.Set(proctitle.Format("forkmq:", "will", m.Conn), "forkmq-will")
			w.slot.Serve(scoreboard.RoleWill, m.Conn, "")
			end := w.publishWill(m)
			if code, done := w.served1(end); done {
				return code
			}
		case *control.PublishSys:
			w.title.Set("forkmq: sys", "forkmq-sys")
			return w.publishSys()
		case *control.Reload:
			w.reload(m)
		case *control.Stop:
			return w.exit(spawn.ExitStopped, m.Reason.String())
		case *control.Takeover:
			// For the client this worker served as its router: it came
			// after the router's watch ended, before its end reached the
			// supervisor. That client is gone; nothing to do.
		default:
			return w.fail(fmt.Errorf("control channel: %s while idle", m.Type()))
		}
	}
	return spawn.ExitFailure // the inbox is never closed
}

// served1 reports a client's end, then returns to the pool, or exits when
// the supervisor said so meanwhile.
func (w *worker) served1(end spawn.ExitCode) (spawn.ExitCode, bool) {
	w.served++
	w.idle()
	if w.link.role() == control.RolePool {
		// A router whose deliverer says its end (link.endInPool): it is
		// back in the pool already, and an order that came since (a
		// Stop) waits in inbox.
		return 0, false
	}
	var ms []control.Message
	if w.partnerPooled {
		// Its router's end first: the supervisor notes the router done
		// before this worker, as when each said its own.
		ms = append(ms, &control.PartnerIdle{RouterSent: w.partnerSent})
		w.partnerPooled = false
	}
	ms = append(ms, &control.CleanupDone{End: end})
	// Nothing sets stopping once the client is served (orders are taken
	// from the inbox again only in run), so it decides now between exiting
	// and returning to the pool. A Stop the watch did not take (it came
	// after the client ended) is in the track: Idle would be late then.
	if w.stopping.Load() || w.link.state() == control.StateStopping {
		if err := w.link.sendAll(ms...); err != nil {
			return w.fail(err), true
		}
		return w.exit(spawn.ExitStopped, "stopped while serving"), true
	}
	// All in one system call: the supervisor wakes once for them.
	if err := w.link.sendAll(append(ms, &control.Idle{Served: w.served})...); err != nil {
		return w.fail(err), true
	}
	return 0, false
}

// idle shows the worker as waiting in the pool, in its process title and
// its scoreboard slot.
func (w *worker) idle() {
	w.title.Set("forkmq: idle", "forkmq-idle")
	w.slot.Idle()
	w.quiet()
}

// quiet starts the wait for trimAfter anew, at a Hand and back in the
// pool: a one-shot timer, not a periodic one, so an idle worker wakes for
// it once at most. The timer is made once and reset (a new one per Hand
// cost an allocation and the runtime's timer bookkeeping twice per
// client).
func (w *worker) quiet() {
	if w.served-w.trimmed.Load() < trimEvery {
		if w.trim != nil {
			w.trim.Stop()
		}
		return
	}
	w.trimAt.Store(w.served)
	if w.trim == nil {
		w.trim = time.AfterFunc(trimAfter, w.trimHeap)
		return
	}
	w.trim.Reset(trimAfter)
}

// trimHeap gives the kernel back the heap's free pages (the trim timer's
// function, on a goroutine of its own).
func (w *worker) trimHeap() {
	w.trimmed.Store(w.trimAt.Load())
	debug.FreeOSMemory()
}

// exit says goodbye on the control channel and returns code.
func (w *worker) exit(code spawn.ExitCode, detail string) spawn.ExitCode {
	if err := w.link.send(&control.Exiting{Code: code, Detail: detail}); err != nil {
		w.log.Debug().Err(err).Msg("exiting")
	}
	return code
}

// fail logs why the worker cannot go on and exits.
func (w *worker) fail(err error) spawn.ExitCode {
	w.log.Error().Err(err).Msg("worker failed")
	return w.exit(spawn.ExitFailure, err.Error())
}

// reload takes the options a SIGHUP changed and re-reads the access files
// (control.Reload). Access files named anew are loaded anew, for the
// client served now too; new ones that do not load keep the previous.
func (w *worker) reload(m *control.Reload) {
	w.gen = m.Generation
	renamed := m.PasswordFile != w.args.PasswordFile || m.ACLFile != w.args.ACLFile || m.AllowAnon != w.args.AllowAnon
	w.args.PasswordFile, w.args.ACLFile, w.args.AllowAnon = m.PasswordFile, m.ACLFile, m.AllowAnon
	w.args.SysInterval = time.Duration(m.SysInterval)
	switch {
	case w.access == nil: // the next router role loads them
	case renamed:
		w.access.replace(w.args.Options, w.log)
	default:
		w.access.reload(w.log)
	}
}

// routing is what routing needs and every router and will role of this
// process shares: the topic files (with the matcher's view of them) and
// the retained store.
type routing struct {
	index    *topicFiles
	retained *retain.Store
}

// openRouting opens the topic files and the retained store, once.
func (w *worker) openRouting() (*routing, error) {
	if w.routing != nil {
		return w.routing, nil
	}
	layout := state.Layout{Root: w.args.StateDir, Instance: w.args.Instance}
	topics, err := topicdir.Open(layout.Topics())
	if err != nil {
		return nil, fmt.Errorf("routing: %w", err)
	}
	retained, err := retain.Open(layout.Retained())
	if err != nil {
		topics.Close()
		return nil, fmt.Errorf("routing: %w", err)
	}
	w.routing = &routing{index: newTopicFiles(topics, nil), retained: retained}
	return w.routing, nil
}

// outlet makes the queues one client's (or will's, or $SYS's) routing goes
// out through, and has the topic files tell it when subscriptions change:
// its cached session queue descriptors may then name discarded queues (see
// writerCache.forgetSessions). done hands the index back.
func (rt *routing) outlet(args spawn.Args, log zerolog.Logger, sp *spool.Spool, pid int) (out *queues, done func()) {
	out = newQueues(args, log, sp, pid)
	rt.index.changed = out.writers.forgetSessions
	return out, func() {
		rt.index.changed = nil
		out.close()
	}
}

// nonBlocking makes a descriptor handed over raw (control.Conn.RawHands)
// non-blocking, for a loop that works on it with the calls of package
// nowait, out of the runtime's poller: the deliverer's socket (non-blocking
// already, unless a terminator's end), which core's Output writes with
// plain writes. The pair channel and the router's reads of the socket use
// MSG_DONTWAIT instead. Raw fcntls: F_SETFL sets the status
// flags whole, so the others are read first; neither waits.
func nonBlocking(fd int, name string) error {
	flags, err := nowait.FcntlInt(fd, unix.F_GETFL, 0)
	if err == nil && flags&unix.O_NONBLOCK == 0 {
		_, err = nowait.FcntlInt(fd, unix.F_SETFL, flags|unix.O_NONBLOCK)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", name, os.NewSyscallError("fcntl", err))
	}
	return nil
}

// shutdownFd is shutdown on a raw descriptor.
func shutdownFd(fd int, log zerolog.Logger) {
	if err := nowait.Shutdown(fd, unix.SHUT_RDWR); err != nil && !errors.Is(err, unix.ENOTCONN) {
		log.Debug().Err(err).Msg("socket shutdown")
	}
}
