package worker

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/forkmq/forkmq/internal/envelope"
	"github.com/forkmq/forkmq/internal/packet"
	"github.com/forkmq/forkmq/internal/queue"
	"github.com/forkmq/forkmq/internal/spawn"
	"github.com/forkmq/forkmq/internal/spool"
	"github.com/forkmq/forkmq/internal/stall"
)

// deliverer is the only writer to the client's socket. It is one loop on
// one goroutine, waiting in an epoll set of its own on four descriptors: the
// pair channel (what the router sends for this client alone), the client's
// queue (other clients' publications), the socket (when output waits for
// room) and the lifeline. Each turn it reads the pair channel, takes what
// the queue holds while the backlog has room, and writes everything with
// one write (or writev, or sendfile) — nothing moves between goroutines.
//
// It also owns the server-to-client half of the QoS 1 and 2 flows (packet
// identifiers, the in-flight window, PUBREL), since it is what sends them.
//
// The backlog is what it has taken from the queue and not yet written,
// with the QoS 1/2 messages waiting for room in the window: at most
// -max-queued-messages and -max-queued-bytes. When it is full the loop
// stops taking from the queue, the queue fills, and publishers wait:
// back-pressure. Only when the client has stalled — the socket took nothing
// for the stall timeout, or the window stayed full without an
// acknowledgement that long — does the slow-consumer policy apply: it takes
// from the queue again, dropping QoS 0 publications (counted, logged) and
// ending the connection at the first QoS 1/2 one.
type deliverer struct {
	args  spawn.Args
	log   zerolog.Logger
	sock  int          // the client's socket (fd 3), non-blocking
	out   sockOut      // what waits to be written to it
	q     *queue.Queue // the connection's queue, then the adopted one
	pair  int          // the pair channel (fd 6), non-blocking
	spool *spool.Spool
	epfd  int

	// identity is the queue whose spool folder holds this client's copies:
	// the connection's, or the persistent session's once adopted.
	identity       string
	adopted        bool // the router said which queue to read (after CONNACK)
	persistent     bool
	flights        *outbound
	watch          *stall.Watch
	mailboxDropped uint64
	mailboxNews    bool // a doorbell rang since the mailbox was last read
	missed         bool // a doorbell was dropped: rescan the mailbox
	dropped        uint64

	// hold is set while the router edits subscriptions (KindHold until
	// KindRelease): publications taken from the queue meanwhile wait in
	// held, so SUBACK goes out before anything the new subscription brought.
	hold bool
	held [][]byte

	// What the descriptors may have ready; epoll is edge-triggered, so a
	// flag is cleared only when a call finds nothing (EAGAIN).
	pairReady, queueReady, sockWritable bool
	closing                             error // errClose once seen
	routerGone                          bool  // the pair channel ended without errClose

	msg    []byte // one queue message
	pmsg   []byte // one pair message
	header []byte // a PUBLISH header being built
	batch  [][]byte
	events []unix.EpollEvent
}

// errClose is returned by handle for a KindClose envelope, errSlowConsumer
// when the client stalled with a QoS 1/2 message for it waiting,
// errParentGone when the lifeline closed.
var (
	errClose        = errors.New("close requested")
	errSlowConsumer = errors.New("slow consumer: stalled with a full backlog")
	errParentGone   = errors.New("lifeline closed")
)

// Tags of the descriptors in the epoll set.
const (
	tagPair = iota + 1
	tagQueue
	tagSock
	tagLifeline
)

func newDeliverer(args spawn.Args, log zerolog.Logger, q *queue.Queue, sp *spool.Spool) (*deliverer, error) {
	d := &deliverer{
		args:     args,
		log:      log,
		sock:     spawn.FdSocket,
		q:        q,
		pair:     spawn.FdPair,
		spool:    sp,
		identity: args.Queue,
		flights:  newOutbound(args.MaxInflight),
		watch:    stall.NewWatch(args.StallTimeout),
		msg:      make([]byte, args.QueueMsgSize),
		pmsg:     make([]byte, pairMax+1),
		events:   make([]unix.EpollEvent, 8),
		// Everything may be ready at the start.
		pairReady: true, sockWritable: true,
	}
	d.out.fd = d.sock
	for _, fd := range []int{d.sock, d.pair} {
		if err := unix.SetNonblock(fd, true); err != nil {
			return nil, fmt.Errorf("deliverer: fd %d: %w", fd, err)
		}
	}
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("deliverer: epoll: %w", os.NewSyscallError("epoll_create1", err))
	}
	d.epfd = epfd
	for _, r := range []struct {
		fd     int
		events uint32
		tag    int32
	}{
		{d.pair, unix.EPOLLIN | unix.EPOLLRDHUP, tagPair},
		{d.q.Fd(), unix.EPOLLIN, tagQueue},
		{d.sock, unix.EPOLLOUT, tagSock},
		{spawn.FdLifeline, unix.EPOLLIN, tagLifeline},
	} {
		ev := unix.EpollEvent{Events: r.events | unix.EPOLLET, Fd: r.tag}
		if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, r.fd, &ev); err != nil {
			unix.Close(epfd)
			return nil, fmt.Errorf("deliverer: epoll_ctl fd %d: %w", r.fd, err)
		}
	}
	return d, nil
}

// run is the deliverer's loop; it returns the exit code.
func (d *deliverer) run() spawn.ExitCode {
	defer d.out.Close()
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
		if err := d.settleMailbox(); err != nil {
			return err
		}
		if err := d.flush(); err != nil {
			return err
		}
		if d.closing != nil {
			return d.closing
		}
		d.judge()
		// Go round again while the queue still has something we may take
		// (the backlog had room again after the flush).
		if !took || !d.queueReady || d.over() && !d.watch.Stalled() {
			return nil
		}
	}
}

// readPair takes everything the router sent, in order — while the output
// not yet written is under the backlog's bounds. Past them the router's
// replies wait in the pair channel, and once that is full the router stops
// reading its client: a client that sends and never reads slows itself
// down, and after the router's reply wait it is disconnected.
func (d *deliverer) readPair() error {
	for d.pairReady && d.closing == nil && !d.routerGone && !d.outputFull() {
		n, _, err := unix.Recvfrom(d.pair, d.pmsg, unix.MSG_DONTWAIT)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EAGAIN):
			d.pairReady = false
			return nil
		case err != nil || n == 0:
			// EOF without a close request: the router died. The supervisor
			// reaps it and stops this deliverer; until then it goes on.
			d.routerGone, d.pairReady = true, false
			_ = unix.EpollCtl(d.epfd, unix.EPOLL_CTL_DEL, d.pair, nil)
			return nil
		}
		env := d.pmsg[:n]
		if isPublication(env) {
			// A publication the router sent its own client (one of its
			// own, or a retained one) comes after everything routed to the
			// client before it: take that from the queue first.
			if err := d.catchUp(); err != nil {
				return err
			}
		}
		if err := d.handle(env); err != nil {
			if errors.Is(err, errClose) {
				d.closing = err
				return nil
			}
			return err
		}
	}
	return nil
}

// readQueue takes what the queue holds while the backlog has room (or,
// once the client has stalled, everything, applying the slow-consumer
// policy). What it took is handled after the pair channel has been read
// again: whatever the router sent before those messages were routed (a
// hold for a subscription being made) is thus seen first.
func (d *deliverer) readQueue() (bool, error) {
	if !d.adopted || !d.queueReady {
		return false, nil
	}
	d.batch = d.batch[:0]
	var batchBytes int64
	full := func() bool { return d.overBy(len(d.batch), batchBytes) }
	for taken := 0; d.queueReady && (!full() || d.watch.Stalled()) && taken < 256; taken++ {
		n, _, err := d.q.ReceiveNow(d.msg)
		switch {
		case errors.Is(err, queue.ErrEmpty):
			d.queueReady = false
			continue
		case errors.Is(err, queue.ErrMsgSize):
			d.msg = make([]byte, 2*len(d.msg))
			continue
		case err != nil:
			return false, fmt.Errorf("receive: %w", err)
		}
		env := append(make([]byte, 0, n), d.msg[:n]...)
		if full() {
			if err := d.stalledPolicy(env); err != nil {
				return false, err
			}
			continue
		}
		d.batch = append(d.batch, env)
		batchBytes += int64(n)
	}
	if len(d.batch) == 0 {
		return false, nil
	}
	if err := d.readPair(); err != nil {
		return false, err
	}
	for _, env := range d.batch {
		if d.hold {
			d.held = append(d.held, env)
			continue
		}
		if err := d.handle(env); err != nil {
			return false, err
		}
	}
	clear(d.batch)
	return true, nil
}

// isPublication tells the envelopes that carry a publication.
func isPublication(env []byte) bool {
	switch envelope.Kind(env[0]) {
	case envelope.KindPublish, envelope.KindSpooled, envelope.KindMailbox:
		return true
	}
	return false
}

// catchUp takes everything the queue holds now, whatever the backlog's
// bounds (they are passed by at most what the queue holds): what another
// router routed to this client before its own router sent it a publication
// goes out first, as if both had come through the queue. (It takes at most
// what the queue can hold: later arrivals need not go first.)
func (d *deliverer) catchUp() error {
	if !d.adopted {
		return nil
	}
	for range max(d.args.QueueMsgMax, 1) {
		n, _, err := d.q.ReceiveNow(d.msg)
		switch {
		case errors.Is(err, queue.ErrEmpty):
			d.queueReady = false
			return nil
		case errors.Is(err, queue.ErrMsgSize):
			d.msg = make([]byte, 2*len(d.msg))
			continue
		case err != nil:
			return fmt.Errorf("receive: %w", err)
		}
		env := append(make([]byte, 0, n), d.msg[:n]...)
		if d.hold {
			d.held = append(d.held, env)
		} else if err := d.handle(env); err != nil {
			return err
		}
	}
	return nil
}

// waitingMessages counts the publications taken and not yet written out:
// held for a subscription being made, or waiting for room in the window.
func (d *deliverer) waitingMessages() int { return len(d.held) + int(d.flights.held.Load()) }

// over reports whether the backlog is full. An empty backlog takes any one
// message, however large.
func (d *deliverer) over() bool { return d.overBy(0, 0) }

// overBy is over with msgs more messages of bytes more bytes taken.
func (d *deliverer) overBy(msgs int, bytes int64) bool {
	msgs += d.out.PendingMessages() + d.waitingMessages()
	return msgs >= d.args.BacklogMsgs || msgs > 0 && d.out.Pending()+bytes >= d.args.BacklogBytes
}

// outputFull reports whether the output not yet written is at the
// backlog's bounds (replies count as messages here).
func (d *deliverer) outputFull() bool {
	return d.out.PendingMessages() >= d.args.BacklogMsgs || d.out.Pending() >= d.args.BacklogBytes
}

// stalledPolicy applies the slow-consumer policy to an envelope taken from
// the queue of a stalled client whose backlog is full.
func (d *deliverer) stalledPolicy(env []byte) error {
	switch kind := envelope.Kind(env[0]); kind {
	case envelope.KindMailbox:
		d.missed = true // the mailbox keeps the message
		return nil
	case envelope.KindSpooled:
		// Too large to have come inline: its QoS is in the file.
		f, err := d.spool.Take(d.identity, string(env[1:]))
		if err != nil {
			return nil
		}
		qos := fileQoS(f)
		f.Close()
		if qos > 0 {
			return errSlowConsumer
		}
	case envelope.KindPublish:
		if len(env) < 2 || env[1]>>1&3 > 0 {
			return errSlowConsumer
		}
	default:
		return fmt.Errorf("%w: kind %#x on the queue", envelope.ErrBadEnvelope, env[0])
	}
	if d.dropped++; d.dropped == 1 || d.dropped%1000 == 0 {
		d.log.Warn().Uint64("dropped_total", d.dropped).Int("backlog", d.out.PendingMessages()+d.waitingMessages()).
			Int64("backlog_bytes", d.out.Pending()).
			Msg("slow consumer: QoS 0 message dropped (raise -max-queued-messages / -max-queued-bytes)")
	}
	return nil
}

// settleMailbox reads a persistent session's mailbox when a doorbell rang
// or was missed.
func (d *deliverer) settleMailbox() error {
	if !d.persistent {
		return nil
	}
	if d.missed || d.takeMissedMarker() || d.mailboxNews {
		d.missed, d.mailboxNews = false, false
		return d.rescanMailbox()
	}
	return nil
}

// flush writes what waits, as far as the socket takes it.
func (d *deliverer) flush() error {
	if d.out.Pending() == 0 || !d.sockWritable {
		return nil
	}
	n, err := d.out.Flush()
	if n > 0 {
		d.watch.Progress()
	}
	if errors.Is(err, errFull) {
		d.sockWritable = false
		return nil
	}
	return err
}

// busy reports whether the client has something to take: output not yet
// written, or messages waiting for room in the window.
func (d *deliverer) busy() bool { return d.out.Pending() > 0 || d.waitingMessages() > 0 }

// judge gives the stall verdict: nothing written and nothing acknowledged
// for the stall timeout while the client had something to take — right
// after a write the socket refused, so the deliverer's own delays do not
// count against the client.
func (d *deliverer) judge() {
	if !d.busy() || d.watch.Stalled() || !d.watch.Due() {
		return
	}
	if d.out.Pending() > 0 && d.sockWritable {
		return // not refused yet: the next flush decides
	}
	d.watch.MarkStalled()
}

// wait blocks until a descriptor has something, or until the stall timeout
// is due for a busy client.
func (d *deliverer) wait() error {
	if d.pairReady && !d.routerGone && !d.outputFull() || d.adopted && d.queueReady && (!d.over() || d.watch.Stalled()) ||
		d.out.Pending() > 0 && d.sockWritable {
		return nil // work left: no waiting
	}
	timeout := -1
	if d.busy() && !d.watch.Stalled() {
		timeout = int(d.watch.Left()/time.Millisecond) + 1
	}
	if !d.busy() {
		d.watch.Progress() // the clock starts when the client has something to take
	}
	for {
		n, err := unix.EpollWait(d.epfd, d.events, timeout)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("epoll_wait: %w", err)
		}
		for _, ev := range d.events[:n] {
			switch ev.Fd {
			case tagPair:
				d.pairReady = true
			case tagQueue:
				d.queueReady = true
			case tagSock:
				d.sockWritable = true
			case tagLifeline:
				return errParentGone
			}
		}
		return nil
	}
}

// exit ends the deliverer the way err calls for and returns the exit code.
func (d *deliverer) exit(err error) spawn.ExitCode {
	switch {
	case errors.Is(err, errClose):
		// The router has answered for the last time: write what is left
		// (the supervisor gives it a grace period), then close the
		// connection for both workers.
		d.drain()
		shutdownFd(d.sock, d.log)
		return spawn.ExitOrderly
	case errors.Is(err, errParentGone):
		return spawn.ExitParentGone
	case errors.Is(err, errSlowConsumer):
		d.log.Warn().Int("backlog_limit", d.args.BacklogMsgs).Int64("backlog_bytes_limit", d.args.BacklogBytes).
			Dur("stalled_for", d.watch.Idle()).
			Msg("disconnecting a slow consumer: it stopped reading with its backlog full (see -stall-timeout, -max-queued-messages, -max-queued-bytes)")
		shutdownFd(d.sock, d.log)
		return spawn.ExitSlowConsumer
	case isConnGone(err):
		d.log.Debug().Err(err).Msg("socket closed while writing")
		return spawn.ExitSocketClosed
	}
	d.log.Error().Err(err).Msg("deliverer failed")
	return spawn.ExitFailure
}

// drain writes what is left, waiting for the socket as long as it takes.
func (d *deliverer) drain() {
	for d.out.Pending() > 0 {
		if _, err := d.out.Flush(); err != nil && !errors.Is(err, errFull) {
			return
		}
		if d.out.Pending() > 0 {
			fds := []unix.PollFd{{Fd: int32(d.sock), Events: unix.POLLOUT}}
			if _, err := unix.Poll(fds, -1); err != nil && !errors.Is(err, unix.EINTR) {
				return
			}
		}
	}
}

// isConnGone tells the errors of a connection the client closed or reset.
func isConnGone(err error) bool {
	return errors.Is(err, unix.EPIPE) || errors.Is(err, unix.ECONNRESET) || errors.Is(err, unix.ENOTCONN) ||
		errors.Is(err, unix.ETIMEDOUT) || errors.Is(err, unix.EBADF)
}

// handle acts on one envelope, from the pair channel or the queue.
func (d *deliverer) handle(env []byte) error {
	if len(env) == 0 {
		return fmt.Errorf("%w: empty", envelope.ErrBadEnvelope)
	}
	body := env[1:]
	switch envelope.Kind(env[0]) {
	case envelope.KindPacket:
		d.out.Write(body)
		d.out.EndMessage()
		return nil
	case envelope.KindPublish:
		flags, _, _, err := envelope.ParsePublicationHeader(body)
		if err != nil {
			return err
		}
		if packet.QoS(flags>>1&3) > 0 && d.flights.full() {
			d.flights.queue(pending{env: append([]byte(nil), body...)})
			return nil
		}
		return d.writePublication(body, false)
	case envelope.KindSpooled:
		f, err := d.spool.Take(d.identity, string(body))
		if err != nil {
			d.log.Warn().Err(err).Msg("spooled message missing") // swept after a crash
			return nil
		}
		if d.flights.full() && fileQoS(f) > 0 {
			d.flights.queue(pending{file: f})
			return nil
		}
		return d.sendFile(f, "", 0, false)
	case envelope.KindMailbox:
		// A doorbell: the mailbox has news. Entries are sent in the order
		// of their names (arrival), which a doorbell that did not fit in
		// the queue would upset; so the mailbox is read once the turn's
		// envelopes are handled (see turn).
		d.mailboxNews = true
		return nil
	case envelope.KindAck:
		t, id, err := envelope.ParseAck(body)
		if err != nil {
			return err
		}
		return d.acknowledged(packet.Type(t), id)
	case envelope.KindAdopt:
		// CONNACK is written (it came before, on the pair channel): the
		// queue may be read from now on.
		return d.adopt(string(body))
	case envelope.KindHold:
		d.hold = true
		return nil
	case envelope.KindRelease:
		d.hold = false
		held := d.held
		d.held = nil
		for _, e := range held {
			if err := d.handle(e); err != nil {
				return err
			}
		}
		return nil
	case envelope.KindClose:
		return errClose
	}
	return fmt.Errorf("%w: kind %#x", envelope.ErrBadEnvelope, env[0])
}

// adopt starts reading the queue the router names: the connection's own
// (inherited), or a persistent session's, which replaces it. A persistent
// session's copies are in its spool folder, starting with what it kept
// while the client was away.
func (d *deliverer) adopt(name string) error {
	if d.adopted {
		return fmt.Errorf("%w: a second adopt (%s)", envelope.ErrBadEnvelope, name)
	}
	d.adopted, d.queueReady = true, true
	if name == d.args.Queue {
		return nil
	}
	q, err := queue.OpenReader(name)
	if err != nil {
		return fmt.Errorf("adopt session queue: %w", err)
	}
	if err := unix.EpollCtl(d.epfd, unix.EPOLL_CTL_DEL, d.q.Fd(), nil); err != nil {
		return fmt.Errorf("adopt session queue: epoll_ctl: %w", err)
	}
	d.q.Close()
	d.q = q
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLET, Fd: tagQueue}
	if err := unix.EpollCtl(d.epfd, unix.EPOLL_CTL_ADD, q.Fd(), &ev); err != nil {
		return fmt.Errorf("adopt session queue: epoll_ctl: %w", err)
	}
	if attr, err := q.Attr(); err == nil && int(attr.MsgSize) > len(d.msg) {
		d.msg = make([]byte, attr.MsgSize)
	}
	d.identity, d.persistent = name, true
	return d.replayMailbox()
}

// writePublication writes a publication held in memory. QoS 1 and 2 get a
// packet identifier and a place in the window; the caller checked there is
// room.
func (d *deliverer) writePublication(body []byte, dup bool) error {
	pub, err := envelope.ParsePublication(body)
	if err != nil {
		return err
	}
	var id uint16
	if qos := packet.QoS(pub.Flags >> 1 & 3); qos > 0 {
		id = d.flights.start(qos, "")
	}
	d.writePublishHeader(pub.Flags, pub.Topic, len(pub.Payload), id, dup)
	d.out.Write(pub.Payload)
	d.out.EndMessage()
	return nil
}

func (d *deliverer) writePublishHeader(flags byte, topic string, payloadLen int, id uint16, dup bool) {
	p := packet.Publish{
		Retain:   flags&0x01 != 0,
		QoS:      packet.QoS(flags >> 1 & 0x03),
		Dup:      dup || flags&0x08 != 0,
		Topic:    topic,
		PacketID: id,
	}
	h, err := packet.AppendPublishHeader(d.header[:0], &p, payloadLen)
	if err != nil {
		panic(fmt.Sprintf("publish header of a routed message: %v", err)) // routed messages were decoded from valid packets
	}
	d.header = h
	d.out.Write(h)
}

// inlineFile is the largest spooled payload copied into the output buffer;
// larger ones are sent from their file with sendfile(2).
const inlineFile = 64 << 10

// sendFile writes a publication stored in a file (a spool copy or a mailbox
// entry): the header through the buffer, the payload from the file. A QoS
// 1/2 message enters the window under a new packet identifier — or under id,
// when it is resent — and a mailbox entry (base != "") is renamed to record
// the identifier. The deliverer takes f over.
func (d *deliverer) sendFile(f *os.File, base string, id uint16, dup bool) error {
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("spool stat: %w", err)
	}
	var head [4]byte
	if _, err := f.ReadAt(head[:1], 0); err != nil {
		f.Close()
		return fmt.Errorf("spool read: %w", err)
	}
	switch envelope.Kind(head[0]) {
	case envelope.KindPacket:
		d.out.AppendFile(f, 1, st.Size()-1)
		return nil
	case envelope.KindPublish:
	default:
		f.Close()
		return fmt.Errorf("%w: spooled kind %#x", envelope.ErrBadEnvelope, head[0])
	}
	if _, err := f.ReadAt(head[1:4], 1); err != nil {
		f.Close()
		return fmt.Errorf("spool read: %w", err)
	}
	topic := make([]byte, int(head[2])<<8|int(head[3]))
	if _, err := f.ReadAt(topic, 4); err != nil {
		f.Close()
		return fmt.Errorf("spool read: %w", err)
	}
	flags := head[1]
	if qos := packet.QoS(flags >> 1 & 3); qos > 0 && id == 0 {
		id = d.flights.start(qos, base)
		if base != "" {
			if err := d.markSent(base, id); err != nil {
				f.Close()
				return err
			}
		}
	}
	offset := int64(1 + 3 + len(topic))
	size := st.Size() - offset
	d.writePublishHeader(flags, string(topic), int(size), id, dup)
	if size <= inlineFile {
		payload := make([]byte, size)
		_, err := f.ReadAt(payload, offset)
		f.Close()
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("spool read: %w", err)
		}
		d.out.Write(payload)
	} else {
		d.out.AppendFile(f, offset, size)
	}
	d.out.EndMessage()
	return nil
}

// acknowledged settles a flow the client acknowledged, then lets waiting
// messages into the window.
func (d *deliverer) acknowledged(t packet.Type, id uint16) error {
	fl := d.flights.get(id)
	if fl == nil {
		return nil // late or unknown: nothing to settle [MQTT-4.3.2-*]
	}
	switch {
	case t == packet.TypePubrec && fl.qos == packet.ExactlyOnce:
		// [MQTT-4.3.3-1] answer PUBREC with PUBREL; from now on the
		// message is never sent again, only PUBREL is.
		if !fl.released && fl.file != "" {
			if err := d.markReleased(fl.file, id); err != nil {
				return err
			}
		}
		fl.released = true
		return d.writePubrel(id)
	case t == packet.TypePuback && fl.qos == packet.AtLeastOnce,
		t == packet.TypePubcomp && fl.qos == packet.ExactlyOnce:
		d.flights.finish(id)
		d.watch.Progress() // room in the window
		if fl.file != "" {
			d.removeSettled(fl.file, id, fl.released)
		}
		return d.pump()
	}
	d.log.Debug().Str("ack", t.String()).Uint16("id", id).Msg("acknowledgement does not fit the flow; ignored")
	return nil
}

func (d *deliverer) writePubrel(id uint16) error {
	b, err := packet.Append(d.header[:0], &packet.Pubrel{PacketID: id})
	if err != nil {
		return err
	}
	d.header = b
	d.out.Write(b)
	return nil
}

// pump sends waiting messages while the window has room.
func (d *deliverer) pump() error {
	for !d.flights.full() {
		p, ok := d.flights.next()
		if !ok {
			return nil
		}
		var err error
		switch {
		case p.env != nil:
			err = d.writePublication(p.env, false)
		case p.file != nil:
			err = d.sendFile(p.file, "", 0, false)
		default:
			err = d.mailboxMessage(p.mailbox)
		}
		if err != nil {
			return err
		}
	}
	return nil
}
