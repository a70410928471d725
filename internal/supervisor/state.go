package supervisor

import (
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/forkmq/forkmq/internal/conntable"
	"github.com/forkmq/forkmq/internal/queue"
	"github.com/forkmq/forkmq/internal/state"
)

// stateDir is the broker's directory on disk (mode 0700), laid out as
// package state describes, and the lock that makes it this broker's alone.
type stateDir struct {
	state.Layout
	lock  *os.File
	reg   *registration    // this broker's entry in the machine's registry
	conns *conntable.Table // the connections being served
	left  []uint64         // the connections an earlier broker recorded (for sweep)
}

func openStateDir(path string) (*stateDir, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("state dir %s: %w", path, err)
	}
	h := fnv.New32a()
	h.Write([]byte(abs))
	l := state.Layout{Root: abs, Instance: fmt.Sprintf("%08x", h.Sum32())}
	if err := os.MkdirAll(l.Sessions(), 0o770); err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	if err := os.Chmod(abs, 0o700); err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	lock, err := os.OpenFile(l.Lock(), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		lock.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("state dir %s is in use by another broker; give this one its own -state-dir", abs)
		}
		return nil, fmt.Errorf("state dir lock: %w", err)
	}
	d := &stateDir{Layout: l, lock: lock}
	// The record is ours now: what an earlier broker left in it is read
	// for the sweep, then a new one starts.
	if d.left, err = conntable.Read(l.Conns()); err == nil {
		d.conns, err = conntable.Create(l.Conns())
	}
	if err != nil {
		lock.Close()
		return nil, fmt.Errorf("state dir: %w", err)
	}
	return d, nil
}

func (d *stateDir) close() {
	if d.reg != nil {
		d.reg.close()
	}
	d.conns.Close()
	os.Remove(d.Conns())
	os.Remove(d.lock.Name())
	d.lock.Close()
}

// record notes a connection before it is handed to its workers, so that a
// sweep after a crash finds every queue this broker may have created; it
// returns the connection's slot in the record, for forget.
//
// It is a store into a mapped table (package conntable), no system call.
// A file per connection, made at accept and removed at the end, took four
// calls (open, write, close, unlink), each with a path walk and a blocking
// call that could wake the runtime's sysmon: 8 % of the supervisor's
// samples in one profile of a connect storm. A journal appended with one
// write per event would still take two calls, and compacting.
func (d *stateDir) record(seq uint64) (int, error) {
	slot, err := d.conns.Add(seq)
	if err != nil {
		return 0, fmt.Errorf("client record: %w", err)
	}
	return slot, nil
}

// forget removes a connection's record (slot -1: none), once its queue is
// unlinked.
func (d *stateDir) forget(slot int) {
	if slot >= 0 {
		d.conns.Remove(slot)
	}
}

// recordedConns lists the queues of the connections on record: those an
// earlier broker left (read at open), those being served (the shutdown's
// sweep), and those of the files brokers before package conntable kept in
// clients/, which it removes with every other file there (those brokers
// kept a connection's client identifier, will and adopted session there
// too) and the folder.
func (d *stateDir) recordedConns() ([]string, error) {
	var conns []string
	for _, seq := range append(d.left, d.conns.Seqs()...) {
		conns = append(conns, d.ConnQueue(strconv.FormatUint(seq, 10)))
	}
	names, err := readNames(d.Clients())
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("client records: %w", err)
	}
	for _, n := range names {
		if rest, ok := strings.CutPrefix(n, d.QueuePrefix()); ok && !strings.Contains(rest, ".") {
			conns = append(conns, n)
		}
		os.Remove(filepath.Join(d.Clients(), n))
	}
	os.Remove(d.Clients())
	slices.Sort(conns)
	return slices.Compact(conns), nil
}

// sessionQueues lists the queues of the persistent sessions on disk.
func (d *stateDir) sessionQueues() (map[string]bool, error) {
	names, err := readNames(d.Sessions())
	if err != nil {
		return nil, fmt.Errorf("session records: %w", err)
	}
	qs := make(map[string]bool)
	for _, n := range names {
		if len(n) == 64 { // a hash; ".in" folders are skipped
			qs[d.SessionQueue(n)] = true
		}
	}
	return qs, nil
}

func readNames(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
	}
	return names, nil
}

// sweep removes what earlier brokers on this state directory left of their
// connections: queues, topic entries, spool copies and records. Persistent sessions — their subscriptions, mailboxes and records —
// are kept; their kernel queues are unlinked when unlinkSessions is set (at
// shutdown: a stopped broker leaves no queue behind).
func (s *Supervisor) sweep(unlinkSessions bool) error {
	conns, err := s.state.recordedConns()
	if err != nil {
		return err
	}
	for _, c := range conns {
		s.removeConnState(c)
	}
	s.state.left = nil
	sessions, err := s.state.sessionQueues()
	if err != nil {
		return err
	}
	removed, err := s.topics.Sweep(func(q string) bool { return sessions[q] })
	if err != nil {
		return fmt.Errorf("sweep topic files: %w", err)
	}
	spooled, err := s.spool.Queues()
	if err != nil {
		return err
	}
	for _, q := range spooled {
		if !sessions[q] {
			s.spool.RemoveQueue(q)
		}
	}
	if err := s.spool.ClearTemp(); err != nil {
		return err
	}
	// Brokers before the control channel kept client-id locks in ids/.
	os.RemoveAll(filepath.Join(s.state.Root, "ids"))
	if unlinkSessions {
		for q := range sessions {
			if err := queue.Unlink(q); err != nil && !errors.Is(err, queue.ErrNotExist) {
				s.log.Warn().Err(err).Str("queue", q).Msg("unlink session queue")
			}
		}
	}
	if len(conns) > 0 || removed > 0 {
		s.log.Info().Int("connections", len(conns)).Int("topic_queues", removed).Int("sessions_kept", len(sessions)).
			Msg("swept state left by an earlier broker")
	}
	return nil
}
