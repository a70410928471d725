package worker

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/forkmq/forkmq/internal/control"
	"github.com/forkmq/forkmq/internal/envelope"
	"github.com/forkmq/forkmq/internal/nowait"
	"github.com/forkmq/forkmq/internal/packet"
	"github.com/forkmq/forkmq/internal/protocol"
	"github.com/forkmq/forkmq/internal/queue"
	"github.com/forkmq/forkmq/internal/spawn"
	"github.com/forkmq/forkmq/internal/spool"
	"github.com/forkmq/forkmq/internal/state"
	"github.com/forkmq/forkmq/internal/topicdir"
)

// claimWait bounds how long a router waits for the supervisor's answer to
// a claim. The supervisor answers within its own takeover bound (an old
// connection that does not end in time is refused, not waited for), so
// this only matters if the supervisor is wedged.
const claimWait = 15 * time.Second

// files is the process engine's core.Sessions. The supervisor decides who
// serves a client identifier (a Claim on the control channel) and keeps
// the will (a sealed memfd announced with Will); a persistent session is a
// record in sessions/ and a queue named from the identifier, whose
// adoption is announced (Adopt), and its unreleased QoS 2 identifiers are
// files in sessions/.
type files struct {
	args    spawn.Args
	log     zerolog.Logger
	layout  state.Layout
	topics  *topicdir.Dir
	spool   *spool.Spool
	client  *clientState
	link    *link
	quit    <-chan struct{} // closed when the supervisor ends this client
	hash    string          // the client identifier's hash (state package)
	hasWill bool
}

// Claim implements core.Sessions: the supervisor grants the identifier
// once any earlier connection holding it has ended, been cleaned up and
// had its will published [MQTT-3.1.4-2], or refuses it.
func (st *files) Claim(clientID string) error {
	if len(clientID) > control.MaxString {
		// The server may refuse any identifier past 23 bytes [MQTT-3.1.3-5].
		return &protocol.Refusal{Code: packet.RefusedIdentifierRejected, Reason: fmt.Sprintf("client identifier of %d bytes, more than %d", len(clientID), control.MaxString)}
	}
	st.hash = state.HashClientID(clientID)
	st.client.id = clientID
	if err := st.link.send(&control.Claim{ClientID: clientID}); err != nil {
		return fmt.Errorf("claim: %w", err)
	}
	// A timer stopped once answered: time.After's would stay in the
	// runtime's timer heap and wake the idle worker claimWait later.
	wait := time.NewTimer(claimWait)
	defer wait.Stop()
	select {
	case m := <-st.link.answers:
		if r, ok := m.(*control.Refuse); ok {
			return &protocol.Refusal{Code: packet.RefusedServerUnavailable, Reason: "client id not granted: " + r.Reason.String()}
		}
		return nil
	case <-st.quit:
		return &protocol.Refusal{Code: packet.RefusedServerUnavailable, Reason: "the broker ended the connection while its client id was claimed"}
	case <-wait.C:
		return &protocol.Refusal{Code: packet.RefusedServerUnavailable, Reason: "no answer to the claim of the client id"}
	}
}

// Open implements core.Sessions.
func (st *files) Open(clientID string, clean bool) (string, bool, error) {
	if clean {
		// [MQTT-3.1.2-6] a clean session discards any earlier one.
		if err := st.discardSession(clientID); err != nil {
			return "", false, err
		}
		// The connection's queue, made now: under this worker's uid, whose
		// RLIMIT_MSGQUEUE budget it is charged to, and writable by the
		// group of worker uids, which route to it, but not readable.
		if err := st.createQueue(clientID, st.client.queue, connQueueMode); err != nil && !errors.Is(err, queue.ErrExist) {
			return "", false, err
		}
		return st.client.queue, false, nil
	}
	present, err := st.adoptSession(clientID)
	return st.client.identity, present, err
}

// KeepWill implements core.Sessions: the will goes to the supervisor, in a
// sealed memfd (it may be larger than a control message), which publishes
// it if the connection ends without DISCONNECT [MQTT-3.1.2-8].
func (st *files) KeepWill(w *packet.Will) error {
	env := envelope.AppendPublish(nil, publishFlags(w.QoS, w.Retain), w.Topic, w.Payload)
	f, err := sealedFile("will", env)
	if err != nil {
		return fmt.Errorf("will: %w", err)
	}
	defer f.Close()
	if err := st.link.send(&control.Will{Topic: truncate(w.Topic, control.MaxString), File: f}); err != nil {
		return err
	}
	st.hasWill = true
	return nil
}

// DropWill implements core.Sessions [MQTT-3.1.2-10].
func (st *files) DropWill() error {
	if !st.hasWill {
		return nil
	}
	st.hasWill = false
	return st.link.send(&control.WillCleared{})
}

// Permission bits of the queues a router makes (less the umask, 0o077
// unless the broker runs workers under a uid range, see spawn.Args).
const (
	connQueueMode    = 0o620 // the owner reads and writes, its group writes
	sessionQueueMode = 0o660 // any worker uid of the group may be its deliverer
)

// createQueue makes a queue of the planned size; a queue the limits do not
// allow refuses the client with CONNACK 3, naming the limit.
func (st *files) createQueue(clientID, name string, perm uint32) error {
	err := queue.Make(name, queue.Attr{MaxMsg: int64(st.args.QueueMsgMax), MsgSize: int64(st.args.QueueMsgSize)}, perm)
	if err == nil {
		return nil
	}
	var le *queue.LimitError
	if errors.As(err, &le) {
		st.log.Warn().Err(err).Str("limit", le.Limit).Str("fix", le.Fix).Str("client_id", clientID).
			Msg("client refused: server unavailable")
		return &protocol.Refusal{Code: packet.RefusedServerUnavailable, Reason: le.Limit + " reached"}
	}
	if errors.Is(err, queue.ErrExist) {
		return err
	}
	return fmt.Errorf("queue: %w", err)
}

// sealedFile returns a memfd holding b that nobody can change any more.
func sealedFile(name string, b []byte) (*os.File, error) {
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, os.NewSyscallError("memfd_create", err)
	}
	f := os.NewFile(uintptr(fd), name)
	if _, err := f.Write(b); err != nil {
		f.Close()
		return nil, err
	}
	if _, err := unix.FcntlInt(f.Fd(), unix.F_ADD_SEALS, unix.F_SEAL_SEAL|unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_WRITE); err != nil {
		f.Close()
		return nil, os.NewSyscallError("fcntl(F_ADD_SEALS)", err)
	}
	return f, nil
}

// exists reports whether a session record is at path. A raw lookup
// (nowait.Exists): every clean connection asks (discardSession), and an
// os.Stat, the first call of the router's wake-up for CONNECT to go
// through the scheduler, woke its sysmon thread for it (1.0 wake-up per
// connection, ARCHITECTURE "The messages of one connection"). As with
// os.Stat before, a lookup that fails counts as no record.
func exists(path string) bool {
	ok, _ := nowait.Exists(path)
	return ok
}

// truncate cuts s to at most n bytes (for logs and titles).
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
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
		if err := os.MkdirAll(st.layout.Sessions(), 0o770); err != nil {
			return false, fmt.Errorf("session record: %w", err)
		}
		if err := os.WriteFile(rec, []byte(clientID), 0o660); err != nil {
			return false, fmt.Errorf("session record: %w", err)
		}
	}
	if err := os.MkdirAll(st.layout.Inbound(st.hash), 0o770); err != nil {
		return false, fmt.Errorf("session inbound: %w", err)
	}
	if err := st.spool.AddQueue(name); err != nil {
		return false, err
	}
	// The session's queue outlives connections: make it unless it exists.
	// The deliverer of a later connection may run under another worker
	// uid, so the group reads it too.
	if err := st.createQueue(clientID, name, sessionQueueMode); err != nil && !errors.Is(err, queue.ErrExist) {
		return false, err
	}
	if err := st.link.send(&control.Adopt{Session: name}); err != nil {
		return false, err
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
	f, err := os.OpenFile(filepath.Join(st.layout.Inbound(st.hash), strconv.Itoa(int(id))), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o660)
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
