package filelock

import (
	"errors"
	"fmt"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// Lock is a lock file shared by processes, with the mutex that orders this
// process's goroutines. Its methods are safe for concurrent use.
type Lock struct {
	mu sync.Mutex
	f  *os.File
}

// Open opens (creating it, mode 0600) the lock file at path.
func Open(path string) (*Lock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o660)
	if err != nil {
		return nil, fmt.Errorf("filelock: %w", err)
	}
	return &Lock{f: f}, nil
}

// Do runs fn holding the mutex, then the flock; it returns fn's error, or
// the error that kept it from taking the flock (fn then does not run).
func (l *Lock) Do(fn func() error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := flock(l.f, unix.LOCK_EX); err != nil {
		return fmt.Errorf("filelock: flock %s: %w", l.f.Name(), err)
	}
	// Unlocking cannot fail on a descriptor we hold open; closing would
	// release it anyway.
	defer flock(l.f, unix.LOCK_UN)
	return fn()
}

// Close closes the lock file. A Do in progress keeps its flock until the
// file is closed.
func (l *Lock) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f.Close()
}

// ErrHeld reports that TryLock found the flock held by another open file.
var ErrHeld = errors.New("filelock: held by another")

// TryLock takes an exclusive flock on f without waiting: ErrHeld when
// another open file holds it. The flock lasts until f is closed.
func TryLock(f *os.File) error {
	err := flock(f, unix.LOCK_EX|unix.LOCK_NB)
	if errors.Is(err, unix.EWOULDBLOCK) {
		return ErrHeld
	}
	if err != nil {
		return fmt.Errorf("filelock: flock %s: %w", f.Name(), err)
	}
	return nil
}

// flock is flock(2), retried when a signal interrupts it.
func flock(f *os.File, how int) error {
	for {
		if err := unix.Flock(int(f.Fd()), how); err != unix.EINTR {
			return err
		}
	}
}
