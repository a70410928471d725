package supervisor

import (
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// stateDir is the broker's directory on disk (mode 0700):
//
//	broker.lock          flock held while this broker runs
//	clients/<queue>      one record per client being served (its remote address)
//	clients/<queue>.id   the client identifier, written by the router after CONNECT
//	topics/              per-topic files (package topicdir)
//	spool/               large publications in flight (package spool)
type stateDir struct {
	path     string
	instance string
	lock     *os.File
}

func openStateDir(path string) (*stateDir, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("state dir %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Join(abs, "clients"), 0o700); err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	if err := os.Chmod(abs, 0o700); err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(abs, "broker.lock"), os.O_CREATE|os.O_RDWR, 0o600)
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
	h := fnv.New32a()
	h.Write([]byte(abs))
	return &stateDir{path: abs, instance: fmt.Sprintf("%08x", h.Sum32()), lock: lock}, nil
}

func (d *stateDir) close() {
	os.Remove(d.lock.Name())
	d.lock.Close()
}

func (d *stateDir) clientPath(queue string) string { return filepath.Join(d.path, "clients", queue) }

// addClient records a client before its queue exists, so that a sweep after
// a crash finds every queue this broker may have created.
func (d *stateDir) addClient(queue, remote string) error {
	if err := os.WriteFile(d.clientPath(queue), []byte(remote+"\n"), 0o600); err != nil {
		return fmt.Errorf("client record: %w", err)
	}
	return nil
}

func (d *stateDir) removeClient(queue string) {
	os.Remove(d.clientPath(queue) + ".id")
	os.Remove(d.clientPath(queue))
}

// clientID is the identifier the router recorded, "" if none yet.
func (d *stateDir) clientID(queue string) string {
	b, err := os.ReadFile(d.clientPath(queue) + ".id")
	if err != nil {
		return ""
	}
	return string(b)
}

// recordedQueues lists the queues that have client records.
func (d *stateDir) recordedQueues() ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(d.path, "clients"))
	if err != nil {
		return nil, fmt.Errorf("client records: %w", err)
	}
	var qs []string
	for _, e := range entries {
		if n := e.Name(); !strings.HasSuffix(n, ".id") {
			qs = append(qs, n)
		}
	}
	return qs, nil
}

// sweep removes every queue, topic entry, spool file and record left by a
// broker that used this state directory before (killed, or just stopped).
func (s *Supervisor) sweep() error {
	names, err := s.state.recordedQueues()
	if err != nil {
		return err
	}
	spooled, err := s.spool.Queues()
	if err != nil {
		return err
	}
	names = append(names, spooled...)
	for _, n := range names {
		s.removeClientState(n)
	}
	removed, err := s.topics.Sweep(func(string) bool { return false })
	if err != nil {
		return fmt.Errorf("sweep topic files: %w", err)
	}
	if err := s.spool.ClearTemp(); err != nil {
		return err
	}
	if len(names) > 0 || removed > 0 {
		s.log.Info().Int("clients", len(names)).Int("topic_entries", removed).Msg("swept state left by an earlier broker")
	}
	return nil
}
