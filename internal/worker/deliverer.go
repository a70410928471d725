package worker

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/forkmq/forkmq/internal/core"
	"github.com/forkmq/forkmq/internal/envelope"
	"github.com/forkmq/forkmq/internal/nowait"
	"github.com/forkmq/forkmq/internal/pollset"
	"github.com/forkmq/forkmq/internal/queue"
	"github.com/forkmq/forkmq/internal/scoreboard"
	"github.com/forkmq/forkmq/internal/spawn"
	"github.com/forkmq/forkmq/internal/spool"
	"github.com/forkmq/forkmq/internal/stall"
)

// deliverer is a worker in the deliverer role, for one client: the socket's
// only writer. It is one loop on one goroutine, waiting in an epoll set of
// its own on four descriptors: the pair channel (what the router sends for
// this client alone), the client's queue (other clients' publications), the
// socket (when output waits for room) and the supervisor's orders (the
// control channel's eventfd). Each turn it reads the pair channel, takes what the queue holds while the backlog has room,
// and writes everything with one write (or writev, or sendfile) — nothing
// moves between goroutines. What to write, in which order and under which
// bounds is a core.Deliverer's; this loop is its transport: envelopes in,
// bytes out.
//
// When the backlog is full the loop stops taking from the queue, the queue
// fills, and publishers wait: back-pressure. Once the client has stalled
// (the socket took nothing for the stall timeout) it takes from the queue
// again and the slow-consumer policy applies (core.Deliverer.Refuse).
type deliverer struct {
	args    spawn.Args
	log     zerolog.Logger
	sock    int             // the client's socket, non-blocking
	q       *queue.Receiver // the connection's queue, then the adopted one
	pair    int             // the pair channel, non-blocking
	spool   *spool.Spool
	segment *spool.SegmentReader // its queue's spool segment, opened when a copy first comes through it
	set     *pollset.Set         // the worker's (deliverers), lent for the client
	core    *core.Deliverer
	conn    string // the connection's queue name

	// The supervisor's orders: the control eventfd in set is counted when
	// one arrives (tagControl), orders takes them (nil, or an error that
	// ends the client).
	orders func() error
	title  func(clientID string)

	// identity is the queue whose spool folder holds this client's copies:
	// the connection's, or the persistent session's once adopted.
	identity string
	mailbox  *mailbox  // a persistent session's, once adopted
	routed   time.Time // the time of the batch being decoded (zero: none)
	reader   *os.File  // holds the session's reader lock (see readSession)

	// What the descriptors may have ready; epoll is edge-triggered, so a
	// flag is cleared only when a call finds nothing (EAGAIN).
	pairReady, queueReady, sockWritable bool
	sockInSet                           bool  // sock is in set: only once a write found it full (watchSock)
	routerGone                          bool  // the pair channel ended without a close request
	hungry                              bool  // said so to the router since the pair channel last brought anything (see pair)
	closing                             error // core.ErrClose once seen
	// routerPooled: the close request said the router is back in the pool
	// already (envelope.AppendClosePooled); this worker says so for it as it
	// ends, whatever ends it (control.PartnerIdle).
	routerPooled bool
	routerSent   uint32 // the control messages the router had sent by then

	msg    []byte // one queue message
	pmsg   []byte // one pair message (the worker's, see buffers)
	batch  []core.Item
	events []unix.EpollEvent
}

// Why a deliverer ends its client other than by the core's verdicts.
var (
	errRouterGone = errors.New("the router ended the client")
	errStopped    = errors.New("stopped by the supervisor")
)

// Tags of the descriptors in the epoll set.
const (
	tagPair = iota + 1
	tagQueue
	tagSock
	tagControl
)

// delivererFds are the descriptors of one client, which the deliverer owns
// (and closes, see close) from newDeliverer on: the socket and the pair
// channel's end, both non-blocking (nonBlocking) and owned by no os.File.
type delivererFds struct {
	sock, pair int
}

// pairBuf and queueBuf are the buffers pair and queue messages are read
// into (buffers.pairIn, buffers.queueIn), lent for the client.
// set is the worker's epoll set for its deliverers (delivererSet), with
// the control eventfd in it; the client's descriptors are added to it now,
// and taken out again by close.
func newDeliverer(args spawn.Args, log zerolog.Logger, conn string, fds delivererFds, pairBuf, queueBuf []byte, sp *spool.Spool, counts *scoreboard.Writer, set *pollset.Set, orders func() error) (*deliverer, error) {
	lim := core.Limits{Window: args.MaxInflight, BacklogMsgs: args.BacklogMsgs, BacklogBytes: args.BacklogBytes}
	d := &deliverer{
		args:     args,
		log:      log,
		sock:     fds.sock,
		pair:     fds.pair,
		spool:    sp,
		conn:     conn,
		set:      set,
		orders:   orders,
		core:     core.NewDeliverer(lim, stall.NewWatch(args.StallTimeout), log),
		identity: conn,
		msg:      queueBuf,
		pmsg:     pairBuf,
		events:   make([]unix.EpollEvent, 8),
		// Everything may be ready at the start.
		pairReady: true, sockWritable: true,
	}
	d.core.Counts = counts
	// The socket is added only when a write finds it full (watchSock).
	if err := set.Add(d.pair, unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLET, tagPair); err != nil {
		return d, fmt.Errorf("deliverer: pair channel: %w", err)
	}
	return d, nil
}

// delivererSet makes the epoll set a worker's deliverers wait in, with the
// control eventfd wake in it for good. One set serves client after client
// (each deliverer adds its descriptors and takes them out at its end):
// making and closing one per client cost an epoll_create1, two fcntls,
// the poller's registration and an os.File close, the last two system
// calls the scheduler is told of, and the close woke the runtime's sysmon
// thread at every client's end (package nowait).
func delivererSet(wake int) (*pollset.Set, error) {
	set, err := pollset.New()
	if err != nil {
		return nil, fmt.Errorf("deliverer: %w", err)
	}
	if err := set.Add(wake, unix.EPOLLIN|unix.EPOLLET, tagControl); err != nil {
		set.Close()
		return nil, fmt.Errorf("deliverer: control eventfd: %w", err)
	}
	return set, nil
}

// close closes every descriptor of the client: the deliverer keeps nothing
// of it. Each is taken out of the set first: closing a descriptor takes it
// out of an epoll set only once every descriptor of its open file is
// closed, and the socket's is the router's too — its events would come to
// the next client's deliverer. The queue's is not taken out: its
// descriptor is the deliverer's own (its mq_open, close-on-exec, never
// handed on), so its close takes it out, and an epoll_ctl per client is
// spared.
func (d *deliverer) close() {
	// Raw: the end of a client wakes no sysmon for them.
	for _, fd := range []*int{&d.sock, &d.pair} {
		if *fd >= 0 {
			if *fd != d.sock || d.sockInSet {
				d.set.Remove(*fd)
			}
			nowait.Close(*fd)
			*fd = -1
		}
	}
	if d.q != nil {
		d.q.Close()
		d.q = nil
	}
	if err := d.set.ClearDeadline(); err != nil {
		d.log.Debug().Err(err).Msg("deliverer end")
	}
	// The session's reader lock goes with the client, not the process: a
	// pool worker lives on, and a session it held would look online to
	// every router (sessionOnline) — which would wait on its full queue.
	if d.mailbox != nil {
		d.mailbox.Close()
	}
	if d.reader != nil {
		d.reader.Close()
		d.reader = nil
	}
}

// run is the deliverer's loop; it returns the exit code.
func (d *deliverer) run() spawn.ExitCode {
	for {
		err := d.turn()
		if err == nil {
			err = d.wait()
		}
		if err != nil {
			return d.exit(err)
		}
	}
}

// turn does everything there is to do without waiting.
func (d *deliverer) turn() error {
	for {
		if err := d.readPair(); err != nil {
			return err
		}
		took, err := d.readQueue()
		if err != nil {
			return err
		}
		if d.mailbox != nil && d.mailbox.takeMissed() {
			if err := d.core.Take(core.Item{Kind: core.Bell}); err != nil {
				return err
			}
		}
		if err := d.core.Settle(); err != nil {
			return err
		}
		// Before the socket write: the client may acknowledge what it is
		// about to get at once, and the router must then find the ask.
		d.askForAcks()
		if err := d.flush(); err != nil {
			return err
		}
		if d.closing != nil {
			return d.closing
		}
		d.core.Judge(!d.sockWritable)
		// Go round again while the queue may hold more the backlog takes.
		if !took || !d.queueReady || !d.core.Room(0, 0) && !d.core.Stalled() {
			return nil
		}
	}
}

// readPair takes what the router sent, in order — while the output not yet
// written is under the backlog's bounds. Past them the router's replies
// wait in the pair channel, and once that is full the router stops reading
// its client: a client that sends and never reads slows itself down.
func (d *deliverer) readPair() error {
	for d.pairReady && d.closing == nil && !d.routerGone && !d.core.OutputFull() {
		n, err := nowait.Recv(d.pair, d.pmsg, unix.MSG_DONTWAIT)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EAGAIN):
			d.pairReady = false
			return nil
		case err != nil || n == 0:
			// EOF without a close request: the router ended the client
			// abnormally (it shut the socket down) or died (the supervisor
			// then stops this worker). Nothing more will come to write.
			d.routerGone, d.pairReady = true, false
			d.set.Remove(d.pair)
			return errRouterGone
		}
		d.hungry = false
		if err := d.each(d.pmsg[:n], d.control); err != nil {
			return err
		}
	}
	return nil
}

// askForAcks tells the router, once until it next sends anything, that
// messages wait for room in the window: it then sends the acknowledgements
// it holds (see pair). It is called before each write to the socket, so
// that an acknowledgement the client sends for what it then reads finds
// the ask at the router: asked only on the way to sleep, a router quick
// to read that acknowledgement held it, and with the rest of the window
// waiting for new messages to acknowledge (TestQoSBurst/WindowWithoutAcks)
// nothing woke it again. A full pair channel is no matter: the router has
// the earlier bytes still to read. A persistent session's router holds
// none: it is not asked.
func (d *deliverer) askForAcks() {
	if d.hungry || d.routerGone || d.mailbox != nil || !d.core.WindowFull() {
		return
	}
	_, _ = nowait.Sendmsg(d.pair, []byte{1}, nil, unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL) // the channel may be blocking: see pair.write
	d.hungry = true
}

// control acts on one envelope from the pair channel.
func (d *deliverer) control(env []byte) error {
	if envelope.Kind(env[0]) == envelope.KindAdopt {
		return d.adopt(string(env[1:]))
	}
	if sent, ok := envelope.Pooled(env); ok {
		d.routerPooled, d.routerSent = true, sent
	}
	it, err := d.decode(env)
	if err != nil {
		return err
	}
	if core.Catches(it) {
		if err := d.catchUp(); err != nil {
			return err
		}
	}
	if err := d.core.Control(it); err != nil {
		if errors.Is(err, core.ErrClose) {
			d.closing = err
			return nil
		}
		return err
	}
	return nil
}

// each calls fn with the envelope in msg, or each of a batch's.
func (d *deliverer) each(msg []byte, fn func(env []byte) error) error {
	if len(msg) == 0 {
		return fmt.Errorf("%w: empty", envelope.ErrBadEnvelope)
	}
	if envelope.Kind(msg[0]) != envelope.KindBatch {
		return fn(msg)
	}
	at, envs, err := envelope.SplitBatch(msg[1:])
	if err != nil {
		return err
	}
	if at > 0 {
		d.routed = time.Unix(0, at)
	}
	defer func() { d.routed = time.Time{} }()
	return envelope.Unbatch(envs, fn)
}

// readQueue takes what the queue holds while the backlog has room (or, once
// the client has stalled, everything, refusing what does not fit). What it
// took is handed over after the pair channel has been read again: whatever
// the router sent before those messages were routed (a hold for a
// subscription being made) is thus seen first.
func (d *deliverer) readQueue() (bool, error) {
	if !d.core.Started() || !d.queueReady {
		return false, nil
	}
	d.batch = d.batch[:0]
	var bytes int64
	for taken := 0; d.queueReady && taken < 256; taken++ {
		room := d.core.Room(len(d.batch), bytes)
		if !room && !d.core.Stalled() {
			break
		}
		err := d.receive(func(it core.Item) error {
			if !room {
				return d.core.Refuse(it)
			}
			d.batch = append(d.batch, it)
			if it.Msg != nil {
				bytes += it.Msg.Weight()
			}
			return nil
		})
		if err != nil {
			return false, err
		}
	}
	if len(d.batch) == 0 {
		return false, nil
	}
	if err := d.readPair(); err != nil {
		return false, err
	}
	for _, it := range d.batch {
		if err := d.core.Take(it); err != nil {
			return false, err
		}
	}
	clear(d.batch)
	return true, nil
}

// receive takes one message off the queue, if it holds any, and calls got
// with each Item it carries (a batch carries several; an envelope naming a
// spool file gone meanwhile, none).
func (d *deliverer) receive(got func(core.Item) error) error {
	n, err := d.q.ReceiveNow(d.msg)
	switch {
	case errors.Is(err, queue.ErrEmpty):
		d.queueReady = false
		return nil
	case errors.Is(err, queue.ErrMsgSize):
		d.msg = make([]byte, 2*len(d.msg))
		return d.receive(got)
	case err != nil:
		return fmt.Errorf("receive: %w", err)
	}
	return d.each(d.msg[:n], func(env []byte) error {
		it, err := d.decode(env)
		if errors.Is(err, errSpoolGone) {
			return nil
		}
		if err != nil {
			return err
		}
		return got(it)
	})
}

// catchUp takes everything the queue holds now, whatever the backlog's
// bounds (they are passed by at most what the queue holds): what another
// router routed to this client before its own router sent it a publication
// goes out first, as if both had come through the queue. (It takes at most
// what the queue can hold: later arrivals need not go first.)
func (d *deliverer) catchUp() error {
	if !d.core.Started() {
		return nil
	}
	for range max(d.args.QueueMsgMax, 1) {
		if err := d.receive(d.core.Take); err != nil {
			return err
		}
		if !d.queueReady {
			return nil
		}
	}
	return nil
}

// flush writes what waits, as far as the socket takes it.
func (d *deliverer) flush() error {
	out := d.core.Output()
	if out.Pending() == 0 || !d.sockWritable {
		return nil
	}
	n, err := out.Flush(d.sock)
	d.core.Wrote(n)
	if errors.Is(err, core.ErrFull) {
		d.sockWritable = false
		return d.watchSock()
	}
	return err
}

// watchSock adds the socket to the set, for its room (edge-triggered), the
// first time a write finds it full. Why not at the start: most clients
// never fill it (a CONNACK, a few packets), and the add and its removal at
// the end were two epoll_ctl calls per client. Nothing is missed: an add
// reports the readiness the socket has then, so room made between the
// full write and the add comes as the first event. The deliverer needs
// the socket in the set for nothing else: the client's end reaches it
// through the router (the pair channel).
func (d *deliverer) watchSock() error {
	if d.sockInSet {
		return nil
	}
	if err := d.set.Add(d.sock, unix.EPOLLOUT|unix.EPOLLET, tagSock); err != nil {
		return fmt.Errorf("deliverer: socket: %w", err)
	}
	d.sockInSet = true
	return nil
}

// wait blocks until a descriptor has something, or until the stall timeout
// is due for a busy client.
func (d *deliverer) wait() error {
	if d.pairReady && !d.routerGone && !d.core.OutputFull() ||
		d.core.Started() && d.queueReady && (d.core.Room(0, 0) || d.core.Stalled()) ||
		d.core.Output().Pending() > 0 && d.sockWritable {
		return nil // work left: no waiting
	}
	var deadline time.Time // zero: none
	if d.core.Busy() && !d.core.Stalled() {
		// A millisecond past the stall timeout, and never in the past: a
		// deadline that has passed would make the wait return at once.
		deadline = d.core.Watch().Deadline().Add(time.Millisecond)
		if soon := time.Now().Add(time.Millisecond); deadline.Before(soon) {
			deadline = soon
		}
	}
	d.core.Idle()
	n, err := d.set.Wait(d.events, deadline)
	if err != nil {
		return err
	}
	for _, ev := range d.events[:n] {
		switch ev.Fd {
		case tagPair:
			d.pairReady = true
		case tagQueue:
			d.queueReady = true
		case tagSock:
			d.sockWritable = true
		case tagControl:
			if err := d.orders(); err != nil {
				return err
			}
		}
	}
	return nil
}

// exit ends the deliverer the way err calls for and returns the exit code.
func (d *deliverer) exit(err error) spawn.ExitCode {
	defer d.core.Stop()
	switch {
	case errors.Is(err, core.ErrClose):
		// The router has answered for the last time: write what is left
		// (the supervisor gives it a grace period), then close the
		// connection for both workers.
		d.drain()
		shutdownFd(d.sock, d.log)
		return spawn.ExitOrderly
	case errors.Is(err, errRouterGone):
		d.log.Debug().Msg("the router ended the client")
		return spawn.ExitPartnerEnded
	case errors.Is(err, errStopped):
		shutdownFd(d.sock, d.log)
		return spawn.ExitStopped
	case errors.Is(err, core.ErrSlowConsumer):
		d.log.Warn().Int("backlog_limit", d.args.BacklogMsgs).Int64("backlog_bytes_limit", d.args.BacklogBytes).
			Dur("stalled_for", d.core.Watch().Idle()).
			Msg("disconnecting a slow consumer: it stopped reading with its backlog full (see -stall-timeout, -max-queued-messages, -max-queued-bytes)")
		shutdownFd(d.sock, d.log)
		return spawn.ExitSlowConsumer
	case errors.Is(err, core.ErrProtocol):
		d.log.Info().Err(err).Msg("closing the connection: the client broke the protocol")
		shutdownFd(d.sock, d.log)
		return spawn.ExitProtocol
	case isConnGone(err):
		d.log.Debug().Err(err).Msg("socket closed while writing")
		return spawn.ExitSocketClosed
	}
	d.log.Error().Err(err).Msg("deliverer failed")
	return spawn.ExitFailure
}

// drain writes what is left, waiting for the socket at most the stop
// grace period: a client that does not read its last packets does not keep
// the worker from the pool.
func (d *deliverer) drain() {
	out := d.core.Output()
	deadline := time.Now().Add(d.args.StopGrace)
	for out.Pending() > 0 {
		if _, err := out.Flush(d.sock); err != nil && !errors.Is(err, core.ErrFull) {
			return
		}
		left := time.Until(deadline)
		if out.Pending() == 0 || left <= 0 {
			return
		}
		fds := []unix.PollFd{{Fd: int32(d.sock), Events: unix.POLLOUT}}
		if _, err := unix.Poll(fds, int(left.Milliseconds())+1); err != nil && !errors.Is(err, unix.EINTR) {
			return
		}
	}
}

// isConnGone tells the errors of a connection the client closed or reset.
func isConnGone(err error) bool {
	return errors.Is(err, unix.EPIPE) || errors.Is(err, unix.ECONNRESET) || errors.Is(err, unix.ENOTCONN) ||
		errors.Is(err, unix.ETIMEDOUT) || errors.Is(err, unix.EBADF)
}

// adopt starts the deliverer on the queue the router names: the
// connection's own, or a persistent session's, whose mailbox is attached.
func (d *deliverer) adopt(body string) error {
	name, clientID, _ := strings.Cut(body, "\x00")
	if d.core.Started() {
		return fmt.Errorf("%w: a second adopt (%s)", envelope.ErrBadEnvelope, name)
	}
	if d.title != nil {
		d.title(clientID)
	}
	// The router made the queue before it said which one to read: the
	// connection's own (created under the pair's uid), or the persistent
	// session's, whose mailbox is attached.
	d.queueReady = true
	q, err := queue.OpenReceiver(name)
	if err != nil {
		return fmt.Errorf("adopt queue: %w", err)
	}
	d.q = q
	if err := d.set.Add(q.Fd(), unix.EPOLLIN|unix.EPOLLET, tagQueue); err != nil {
		return fmt.Errorf("adopt queue: %w", err)
	}
	if name == d.conn {
		return d.core.Start(nil)
	}
	if attr, err := q.Attr(); err == nil && int(attr.MsgSize) > len(d.msg) {
		d.msg = make([]byte, attr.MsgSize)
	}
	d.identity = name
	d.mailbox = newMailbox(d.spool, name, d.log)
	if d.reader, err = readSession(d.spool.QueueDir(name)); err != nil {
		return fmt.Errorf("adopt session queue: %w", err)
	}
	return d.core.Start(d.mailbox)
}
