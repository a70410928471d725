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

	"github.com/rs/zerolog"

	"github.com/forkmq/forkmq/internal/envelope"
	"github.com/forkmq/forkmq/internal/packet"
	"github.com/forkmq/forkmq/internal/protocol"
	"github.com/forkmq/forkmq/internal/queue"
	"github.com/forkmq/forkmq/internal/spawn"
	"github.com/forkmq/forkmq/internal/spool"
	"github.com/forkmq/forkmq/internal/state"
	"github.com/forkmq/forkmq/internal/topicdir"
)

// takeoverWait bounds how long a new connection waits for an earlier one
// with the same client identifier to end (and its will to be published).
const takeoverWait = 5 * time.Second

// files is the process engine's core.Sessions: a client identifier is a
// flocked file in ids/, a persistent session a record in sessions/ and a
// queue named from the identifier, a will a file in clients/, and a
// persistent session's unreleased QoS 2 identifiers files in sessions/.
type files struct {
	args   spawn.Args
	log    zerolog.Logger
	layout state.Layout
	topics *topicdir.Dir
	spool  *spool.Spool
	client *clientState
	hash   string   // the client identifier's hash (state package)
	idLock *os.File // flock on ids/<hash> while this router serves the client
}

// Claim implements core.Sessions: it takes the flock of the client
// identifier's lock file, ending an earlier connection that holds it
// [MQTT-3.1.4-2], and records the identifier for the supervisor.
func (st *files) Claim(clientID string) error {
	st.hash = state.HashClientID(clientID)
	if err := st.claimClientID(clientID); err != nil {
		return err
	}
	if err := os.WriteFile(st.layout.ClientID(st.args.Queue), []byte(clientID), 0o600); err != nil {
		return fmt.Errorf("record client id: %w", err)
	}
	return nil
}

// Open implements core.Sessions.
func (st *files) Open(clientID string, clean bool) (string, bool, error) {
	if clean {
		// [MQTT-3.1.2-6] a clean session discards any earlier one.
		return st.args.Queue, false, st.discardSession(clientID)
	}
	present, err := st.adoptSession(clientID)
	return st.client.identity, present, err
}

// KeepWill implements core.Sessions: the will is a file the supervisor
// publishes (with a will worker) if the connection ends without DISCONNECT
// [MQTT-3.1.2-8].
func (st *files) KeepWill(w *packet.Will) error {
	env := envelope.AppendPublish(nil, publishFlags(w.QoS, w.Retain), w.Topic, w.Payload)
	return os.WriteFile(st.layout.Will(st.args.Queue), env, 0o600)
}

// DropWill implements core.Sessions.
func (st *files) DropWill() error {
	err := os.Remove(st.layout.Will(st.args.Queue))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// claimClientID takes the flock of the client identifier's lock file. If
// another router holds it, that connection is ended first: its router gets
// SIGTERM, and we wait until its supervisor has cleaned up after the pair and
// published its will.
func (st *files) claimClientID(clientID string) error {
	path := st.layout.IDLock(st.hash)
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
			st.idLock = f
			break
		}
		if err == nil || errors.Is(err, unix.EWOULDBLOCK) {
			if previous == "" {
				old, _ := os.ReadFile(path)
				previous = string(old)
				st.endPrevious(clientID, previous)
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
	if err := st.idLock.Truncate(0); err == nil {
		fmt.Fprintf(st.idLock, "%s %d\n", st.args.Queue, os.Getpid())
	}
	return st.awaitCleanup(previous, deadline)
}

// endPrevious stops the router named in a lock file, after checking that
// the pid still is that router (pids are reused).
func (st *files) endPrevious(clientID, owner string) {
	conn, pid, ok := parseOwner(owner)
	if !ok || conn == st.args.Queue {
		return
	}
	cmdline, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
	if err != nil || !bytes.Contains(cmdline, []byte(conn)) {
		return
	}
	st.log.Info().Str("client_id", clientID).Str("previous", conn).Int("previous_router_pid", pid).
		Msg("client id already connected; ending the earlier connection")
	_ = syscall.Kill(pid, syscall.SIGTERM)
}

// awaitCleanup waits until the supervisor has removed the previous
// connection's record and will: its session state is settled then.
func (st *files) awaitCleanup(owner string, deadline time.Time) error {
	conn, _, ok := parseOwner(owner)
	if !ok || conn == st.args.Queue {
		return nil
	}
	for _, p := range []string{st.layout.ClientRecord(conn), st.layout.Will(conn)} {
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
func (st *files) releaseClientID() {
	if st.idLock == nil {
		return
	}
	os.Remove(st.idLock.Name()) // while we hold the lock: see claimClientID's inode check
	st.idLock.Close()
	st.idLock = nil
}

// discardSession removes a persistent session of this client identifier:
// its subscriptions, queue, mailbox and records.
func (st *files) discardSession(clientID string) error {
	rec := st.layout.Session(st.hash)
	if !exists(rec) {
		return nil
	}
	name := st.layout.SessionQueue(st.hash)
	if err := st.topics.RemoveQueue(name); err != nil {
		return fmt.Errorf("discard session: %w", err)
	}
	if err := queue.Unlink(name); err != nil && !errors.Is(err, queue.ErrNotExist) {
		return fmt.Errorf("discard session: %w", err)
	}
	if err := st.spool.RemoveQueue(name); err != nil {
		return fmt.Errorf("discard session: %w", err)
	}
	os.RemoveAll(st.layout.Inbound(st.hash))
	os.Remove(rec)
	st.log.Debug().Str("client_id", clientID).Str("session", name).Msg("earlier session discarded")
	return nil
}

// adoptSession opens (or starts) the persistent session: its queue becomes
// this connection's subscriber identity, and the deliverer is told to read
// it. It reports whether the session existed [MQTT-3.2.2-2].
func (st *files) adoptSession(clientID string) (bool, error) {
	name := st.layout.SessionQueue(st.hash)
	rec := st.layout.Session(st.hash)
	present := exists(rec)
	if !present {
		if err := os.MkdirAll(st.layout.Sessions(), 0o700); err != nil {
			return false, fmt.Errorf("session record: %w", err)
		}
		if err := os.WriteFile(rec, []byte(clientID), 0o600); err != nil {
			return false, fmt.Errorf("session record: %w", err)
		}
	}
	if err := os.MkdirAll(st.layout.Inbound(st.hash), 0o700); err != nil {
		return false, fmt.Errorf("session inbound: %w", err)
	}
	if err := st.spool.AddQueue(name); err != nil {
		return false, err
	}
	// The session's queue outlives connections: make it unless it exists.
	q, err := queue.Create(name, queue.Attr{MaxMsg: int64(st.args.QueueMsgMax), MsgSize: int64(st.args.QueueMsgSize)})
	if err == nil {
		q.Close()
	}
	if err != nil && !errors.Is(err, queue.ErrExist) {
		var le *queue.LimitError
		if errors.As(err, &le) {
			st.log.Warn().Err(err).Str("limit", le.Limit).Str("fix", le.Fix).Str("client_id", clientID).
				Msg("client refused: server unavailable")
			return false, &protocol.Refusal{Code: packet.RefusedServerUnavailable, Reason: le.Limit + " reached"}
		}
		return false, fmt.Errorf("session queue: %w", err)
	}
	if err := os.WriteFile(st.layout.AdoptedSession(st.args.Queue), []byte(name), 0o600); err != nil {
		return false, fmt.Errorf("record adopted session: %w", err)
	}
	// Right after CONNACK (see Send) the deliverer is told to read the
	// session's queue, whose waiting messages thus come after CONNACK
	// [MQTT-3.2.0-1].
	st.client.identity, st.client.persistent = name, true
	return present, nil
}

// Received implements core.Sessions: a persistent session keeps its
// unreleased QoS 2 identifiers on disk, so a publisher that resends after
// reconnecting still causes one delivery [MQTT-4.3.3-2]. (Within one
// connection the session's own set answers; a clean session needs no more.)
func (st *files) Received(id uint16) (bool, error) {
	if !st.client.persistent {
		return false, nil
	}
	f, err := os.OpenFile(filepath.Join(st.layout.Inbound(st.hash), strconv.Itoa(int(id))), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if errors.Is(err, os.ErrExist) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	return false, f.Close()
}

// Released implements core.Sessions.
func (st *files) Released(id uint16) error {
	if !st.client.persistent {
		return nil
	}
	err := os.Remove(filepath.Join(st.layout.Inbound(st.hash), strconv.Itoa(int(id))))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}
