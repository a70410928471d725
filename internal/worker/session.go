package worker

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/forkmq/forkmq/internal/envelope"
	"github.com/forkmq/forkmq/internal/packet"
	"github.com/forkmq/forkmq/internal/protocol"
	"github.com/forkmq/forkmq/internal/queue"
	"github.com/forkmq/forkmq/internal/state"
)

// takeoverWait bounds how long a new connection waits for an earlier one
// with the same client identifier to end (and its will to be published).
const takeoverWait = 5 * time.Second

// Connect implements protocol.Connector: it claims the client identifier
// (ending an earlier connection that holds it [MQTT-3.1.4-2]), then opens or
// discards the persistent session and records the will.
func (r *router) Connect(c *packet.Connect, clientID string) (bool, error) {
	r.hash = state.HashClientID(clientID)
	if err := r.claimClientID(); err != nil {
		return false, err
	}
	if err := os.WriteFile(r.layout.ClientID(r.args.Queue), []byte(clientID), 0o600); err != nil {
		return false, fmt.Errorf("record client id: %w", err)
	}
	present := false
	if c.CleanSession {
		// [MQTT-3.1.2-6] a clean session discards any earlier one.
		if err := r.discardSession(); err != nil {
			return false, err
		}
	} else {
		var err error
		if present, err = r.adoptSession(clientID); err != nil {
			return false, err
		}
	}
	if c.Will != nil {
		// [MQTT-3.1.2-8] kept until the connection ends; published then
		// unless DISCONNECT removed it first.
		w := envelope.AppendPublish(nil, byte(c.Will.QoS)<<1|boolBit(c.Will.Retain), c.Will.Topic, c.Will.Payload)
		if err := os.WriteFile(r.layout.Will(r.args.Queue), w, 0o600); err != nil {
			return false, fmt.Errorf("record will: %w", err)
		}
	}
	return present, nil
}

func boolBit(b bool) byte {
	if b {
		return 1
	}
	return 0
}

// claimClientID takes the flock of the client identifier's lock file. If
// another router holds it, that connection is ended first: its router gets
// SIGTERM, and we wait until its supervisor has cleaned up after the pair and
// published its will.
func (r *router) claimClientID() error {
	path := r.layout.IDLock(r.hash)
	deadline := time.Now().Add(takeoverWait)
	var previous string
	for {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return fmt.Errorf("client id lock: %w", err)
		}
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil && sameFile(f, path) {
			if old, _ := os.ReadFile(path); len(old) > 0 && previous == "" {
				previous = string(old)
			}
			r.idLock = f
			break
		}
		if err == nil || errors.Is(err, unix.EWOULDBLOCK) {
			if previous == "" {
				old, _ := os.ReadFile(path)
				previous = string(old)
				r.endPrevious(previous)
			}
		} else {
			f.Close()
			return fmt.Errorf("client id lock: %w", err)
		}
		f.Close()
		if time.Now().After(deadline) {
			return &protocol.Refusal{Code: packet.RefusedServerUnavailable, Reason: "an earlier connection with this client id did not end"}
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := r.idLock.Truncate(0); err == nil {
		fmt.Fprintf(r.idLock, "%s %d\n", r.args.Queue, os.Getpid())
	}
	return r.awaitCleanup(previous, deadline)
}

// endPrevious stops the router named in a lock file, after checking that
// the pid still is that router (pids are reused).
func (r *router) endPrevious(owner string) {
	conn, pid, ok := parseOwner(owner)
	if !ok || conn == r.args.Queue {
		return
	}
	cmdline, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
	if err != nil || !bytes.Contains(cmdline, []byte(conn)) {
		return
	}
	r.log.Info().Str("client_id", r.session.ClientID()).Str("previous", conn).Int("previous_router_pid", pid).
		Msg("client id already connected; ending the earlier connection")
	_ = syscall.Kill(pid, syscall.SIGTERM)
}

// awaitCleanup waits until the supervisor has removed the previous
// connection's record and will: its session state is settled then.
func (r *router) awaitCleanup(owner string, deadline time.Time) error {
	conn, _, ok := parseOwner(owner)
	if !ok || conn == r.args.Queue {
		return nil
	}
	for _, p := range []string{r.layout.ClientRecord(conn), r.layout.Will(conn)} {
		for exists(p) {
			if time.Now().After(deadline) {
				return &protocol.Refusal{Code: packet.RefusedServerUnavailable, Reason: "the earlier connection was not cleaned up in time"}
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	return nil
}

func parseOwner(s string) (conn string, pid int, ok bool) {
	f := strings.Fields(s)
	if len(f) != 2 {
		return "", 0, false
	}
	pid, err := strconv.Atoi(f[1])
	return f[0], pid, err == nil && pid > 0
}

func sameFile(f *os.File, path string) bool {
	a, err1 := f.Stat()
	b, err2 := os.Stat(path)
	return err1 == nil && err2 == nil && os.SameFile(a, b)
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// releaseClientID gives the identifier up as the router exits.
func (r *router) releaseClientID() {
	if r.idLock == nil {
		return
	}
	os.Remove(r.idLock.Name()) // while we hold the lock: see claimClientID's inode check
	r.idLock.Close()
	r.idLock = nil
}

// discardSession removes a persistent session of this client identifier:
// its subscriptions, queue, mailbox and records.
func (r *router) discardSession() error {
	rec := r.layout.Session(r.hash)
	if !exists(rec) {
		return nil
	}
	name := r.layout.SessionQueue(r.hash)
	if err := r.topics.RemoveQueue(name); err != nil {
		return fmt.Errorf("discard session: %w", err)
	}
	if err := queue.Unlink(name); err != nil && !errors.Is(err, queue.ErrNotExist) {
		return fmt.Errorf("discard session: %w", err)
	}
	if err := r.spool.RemoveQueue(name); err != nil {
		return fmt.Errorf("discard session: %w", err)
	}
	os.RemoveAll(r.layout.Inbound(r.hash))
	os.Remove(rec)
	r.log.Debug().Str("client_id", r.session.ClientID()).Str("session", name).Msg("earlier session discarded")
	return nil
}

// adoptSession opens (or starts) the persistent session: its queue becomes
// this connection's subscriber identity, and the deliverer is told to read
// it. It reports whether the session existed [MQTT-3.2.2-2].
func (r *router) adoptSession(clientID string) (bool, error) {
	name := r.layout.SessionQueue(r.hash)
	rec := r.layout.Session(r.hash)
	present := exists(rec)
	if !present {
		if err := os.MkdirAll(r.layout.Sessions(), 0o700); err != nil {
			return false, fmt.Errorf("session record: %w", err)
		}
		if err := os.WriteFile(rec, []byte(clientID), 0o600); err != nil {
			return false, fmt.Errorf("session record: %w", err)
		}
	}
	if err := os.MkdirAll(r.layout.Inbound(r.hash), 0o700); err != nil {
		return false, fmt.Errorf("session inbound: %w", err)
	}
	if err := r.spool.AddQueue(name); err != nil {
		return false, err
	}
	// The session's queue outlives connections: make it unless it exists.
	q, err := queue.Create(name, queue.Attr{MaxMsg: int64(r.args.QueueMsgMax), MsgSize: int64(r.args.QueueMsgSize)})
	if err == nil {
		q.Close()
	}
	if err != nil && !errors.Is(err, queue.ErrExist) {
		var le *queue.LimitError
		if errors.As(err, &le) {
			r.log.Warn().Err(err).Str("limit", le.Limit).Str("fix", le.Fix).Str("client_id", clientID).
				Msg("client refused: server unavailable")
			return false, &protocol.Refusal{Code: packet.RefusedServerUnavailable, Reason: le.Limit + " reached"}
		}
		return false, fmt.Errorf("session queue: %w", err)
	}
	if err := os.WriteFile(r.layout.AdoptedSession(r.args.Queue), []byte(name), 0o600); err != nil {
		return false, fmt.Errorf("record adopted session: %w", err)
	}
	// Right after CONNACK (see Send) the deliverer is told to read the
	// session's queue, whose waiting messages thus come after CONNACK
	// [MQTT-3.2.0-1].
	r.identity, r.persistent = name, true
	return present, nil
}

// startDelivery runs once CONNACK accepting the connection is on its way:
// it tells the deliverer which queue to read from now on — the
// connection's own, or the persistent session's (whose mailbox it replays
// first). A connection that adopted a session gives up its own queue:
// unlinked now, its share of RLIMIT_MSGQUEUE returns as soon as the
// deliverer closes it (the supervisor's later unlink of the name finds
// nothing, which is fine).
func (r *router) startDelivery() error {
	if err := r.toPair(envelope.AppendNamed(nil, envelope.KindAdopt, r.identity)); err != nil {
		return err
	}
	if r.identity != r.args.Queue {
		if err := queue.Unlink(r.args.Queue); err != nil && !errors.Is(err, queue.ErrNotExist) {
			r.log.Debug().Err(err).Msg("unlink connection queue after adopting the session's")
		}
	}
	return nil
}

// Received implements protocol.InboundStore: a persistent session keeps its
// unreleased QoS 2 identifiers on disk, so a publisher that resends after
// reconnecting still causes one delivery [MQTT-4.3.3-2]. (Within one
// connection the session's own set answers; a clean session needs no more.)
func (r *router) Received(id uint16) (bool, error) {
	if !r.persistent {
		return false, nil
	}
	f, err := os.OpenFile(filepath.Join(r.layout.Inbound(r.hash), strconv.Itoa(int(id))), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if errors.Is(err, os.ErrExist) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	return false, f.Close()
}

// Released implements protocol.InboundStore.
func (r *router) Released(id uint16) error {
	if !r.persistent {
		return nil
	}
	err := os.Remove(filepath.Join(r.layout.Inbound(r.hash), strconv.Itoa(int(id))))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// DiscardWill implements protocol.WillKeeper.
func (r *router) DiscardWill() error {
	err := os.Remove(r.layout.Will(r.args.Queue))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// Acknowledge implements protocol.Acknowledger: the deliverer keeps the
// state of messages sent to the client, so their acknowledgements go to it.
func (r *router) Acknowledge(p packet.Packet) error {
	var id uint16
	switch p := p.(type) {
	case *packet.Puback:
		id = p.PacketID
	case *packet.Pubrec:
		id = p.PacketID
	case *packet.Pubcomp:
		id = p.PacketID
	default:
		return fmt.Errorf("not an acknowledgement: %s", p.Type())
	}
	return r.toPair(envelope.AppendAck(nil, byte(p.Type()), id))
}
