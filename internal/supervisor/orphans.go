package supervisor

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/forkmq/forkmq/internal/queue"
	"github.com/forkmq/forkmq/internal/state"
)

// A killed broker (SIGKILL, the OOM killer, a crashed container) cannot
// unlink its queues, and POSIX queues outlive every process: they keep
// their share of the RLIMIT_MSGQUEUE budget that every broker and test of
// the same uid shares, until something unlinks them. The sweep of a state
// directory (see sweep) reclaims them only when a broker starts again on
// that directory, which a benchmark or a test with a temporary directory
// never does. So every broker registers its queue namespace on the machine,
// and each one that starts reclaims the queues of registered brokers that
// are gone — PostgreSQL's postmaster does the same with the shared memory
// of a dead postmaster, found through postmaster.pid.
//
// The registry is a directory of lock files, one per instance, named by the
// instance and holding its state directory's path; a running broker holds
// an exclusive flock on its own, which the kernel drops when it dies
// however it dies. A file whose lock can be taken belongs to a dead broker.

// registryDir is where brokers of this uid register. Root's is under /run
// (a tmpfs emptied at boot, when the queues go too).
func registryDir() string {
	if os.Getuid() == 0 {
		return "/run/forkmq"
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("forkmq-run-%d", os.Getuid()))
}

// registration is a running broker's entry in the registry.
type registration struct{ file *os.File }

// register records this broker's instance; the entry lives as long as the
// returned registration is not closed, or the process.
func register(dir, instance, stateRoot string) (*registration, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("broker registry: %w", err)
	}
	path := filepath.Join(dir, instance)
	var f *os.File
	for f == nil {
		var err error
		if f, err = lockEntry(path); err != nil {
			return nil, err
		}
	}
	err := f.Truncate(0)
	if err == nil {
		_, err = f.WriteAt([]byte(stateRoot+"\n"), 0)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("broker registry: %w", err)
	}
	return &registration{file: f}, nil
}

// lockEntry opens and locks a registry entry. The state directory's lock is
// already ours, so no live broker holds the entry; the wait covers a broker
// reclaiming our predecessor's queues, which removes the file when done: nil
// without an error then means "try again".
func lockEntry(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("broker registry: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("broker registry lock: %w", os.NewSyscallError("flock", err))
	}
	held, err1 := f.Stat()
	named, err2 := os.Stat(path)
	if err1 != nil || err2 != nil || !os.SameFile(held, named) {
		f.Close()
		return nil, nil
	}
	return f, nil
}

// close removes the entry: the broker has unlinked its queues.
func (r *registration) close() {
	os.Remove(r.file.Name())
	r.file.Close()
}

// reclaimed is what reclaimOrphans did for one dead broker.
type reclaimed struct {
	instance, stateRoot string
	queues              int
}

// reclaimOrphans unlinks the queues of every registered broker that is gone,
// except self. Queues of persistent sessions are kept while their state
// directory exists: the next broker on it owns them. Listing queues needs
// the mqueue filesystem, mounted for the moment on a private directory
// (CAP_SYS_ADMIN); without it nothing is reclaimed and the error says why.
func reclaimOrphans(dir, self string) ([]reclaimed, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("broker registry: %w", err)
	}
	var dead []*os.File
	defer func() {
		for _, f := range dead {
			f.Close()
		}
	}()
	for _, e := range entries {
		if e.Name() == self || !e.Type().IsRegular() {
			continue
		}
		f, err := os.OpenFile(filepath.Join(dir, e.Name()), os.O_RDWR, 0)
		if err != nil {
			continue // gone meanwhile, or not ours to judge
		}
		if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) != nil {
			f.Close() // its broker is running
			continue
		}
		dead = append(dead, f)
	}
	if len(dead) == 0 {
		return nil, nil
	}
	mnt, err := os.MkdirTemp("", "forkmq-mqueue-")
	if err != nil {
		return nil, fmt.Errorf("reclaim queues: %w", err)
	}
	defer os.Remove(mnt)
	if err := queue.Mount(mnt); err != nil {
		return nil, fmt.Errorf("reclaim queues of %d dead brokers: %w", len(dead), err)
	}
	defer queue.Unmount(mnt)
	var done []reclaimed
	for _, f := range dead {
		instance := filepath.Base(f.Name())
		root := readStateRoot(f)
		_, statErr := os.Stat(root)
		keepSessions := root != "" && statErr == nil
		names, err := queue.List(mnt, state.Layout{Instance: instance}.QueuePrefix())
		if err != nil {
			return done, err
		}
		r := reclaimed{instance: instance, stateRoot: root}
		for _, n := range names {
			if keepSessions && state.IsSessionQueue(n) {
				continue
			}
			if queue.Unlink(n) == nil {
				r.queues++
			}
		}
		os.Remove(f.Name()) // still locked by us: no one else judges it meanwhile
		done = append(done, r)
	}
	return done, nil
}

func readStateRoot(f *os.File) string {
	b := make([]byte, 4096)
	n, _ := f.ReadAt(b, 0)
	return strings.TrimSpace(string(b[:n]))
}

// logReclaimed reports what reclaimOrphans did.
func logReclaimed(log zerolog.Logger, done []reclaimed, err error) {
	for _, r := range done {
		log.Warn().Str("instance", r.instance).Str("state_dir", r.stateRoot).Int("queues", r.queues).
			Msg("reclaimed the queues of a broker that was killed")
	}
	if err != nil {
		log.Warn().Err(err).Msg("queues of killed brokers not reclaimed")
	}
}
