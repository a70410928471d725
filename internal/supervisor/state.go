package supervisor

import (
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/forkmq/forkmq/internal/queue"
	"github.com/forkmq/forkmq/internal/state"
)

// stateDir is the broker's directory on disk (mode 0700), laid out as
// package state describes, and the lock that makes it this broker's alone.
type stateDir struct {
	state.Layout
	lock *os.File
	reg  *registration // this broker's entry in the machine's registry
}

func openStateDir(path string) (*stateDir, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("state dir %s: %w", path, err)
	}
	h := fnv.New32a()
	h.Write([]byte(abs))
	l := state.Layout{Root: abs, Instance: fmt.Sprintf("%08x", h.Sum32())}
	for _, dir := range []string{l.Clients(), l.Sessions()} {
		if err := os.MkdirAll(dir, 0o770); err != nil {
			return nil, fmt.Errorf("state dir: %w", err)
		}
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
	return &stateDir{Layout: l, lock: lock}, nil
}

func (d *stateDir) close() {
	if d.reg != nil {
		d.reg.close()
	}
	os.Remove(d.lock.Name())
	d.lock.Close()
}

// addClient records a connection before its queue exists, so that a sweep
// after a crash finds every queue this broker may have created.
// It is written with three system calls (os.WriteFile took eight: package
// os tries to make every file it opens non-blocking and to poll it).
func (d *stateDir) addClient(conn, remote string) error {
	path := d.ClientRecord(conn)
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC|unix.O_CLOEXEC, 0o660)
	if err != nil {
		return fmt.Errorf("client record: %w", &os.PathError{Op: "open", Path: path, Err: err})
	}
	_, err = unix.Write(fd, []byte(remote+"\n"))
	if cerr := unix.Close(fd); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("client record: %w", &os.PathError{Op: "write", Path: path, Err: err})
	}
	return nil
}

// removeClient removes the record of a connection.
func (d *stateDir) removeClient(conn string) {
	os.Remove(d.ClientRecord(conn))
}

// recordedConns lists the connections that have records, and removes
// every other file in clients/ (brokers before the control channel kept a
// connection's client identifier, will and adopted session there).
func (d *stateDir) recordedConns() ([]string, error) {
	names, err := readNames(d.Clients())
	if err != nil {
		return nil, fmt.Errorf("client records: %w", err)
	}
	var conns []string
	for _, n := range names {
		if rest, ok := strings.CutPrefix(n, d.QueuePrefix()); ok && !strings.Contains(rest, ".") {
			conns = append(conns, n)
		} else {
			os.Remove(filepath.Join(d.Clients(), n))
		}
	}
	return conns, nil
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
		s.state.removeClient(c)
	}
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
