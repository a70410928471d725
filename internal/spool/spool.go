package spool

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Spool is a spool directory.
type Spool struct {
	dir string
	tmp string // where Write makes its files: tmp/, or a worker's own folder in it
	seq atomic.Uint64
	pid string
}

// Open opens (and creates) the spool directory. Folders are made mode 0770
// and files 0660, less the umask: the broker's umask keeps them its own
// user's, unless workers run under several user ids sharing a group.
func Open(dir string) (*Spool, error) {
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o770); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	return &Spool{dir: dir, tmp: filepath.Join(dir, "tmp"), pid: strconv.Itoa(os.Getpid())}, nil
}

// OpenWorker opens the spool for a worker in slot: its temporary files go
// to a folder of its own, tmp/<slot>, which the supervisor removes when
// the worker is gone (RemoveTemp), whatever a worker killed mid-write left.
func OpenWorker(dir string, slot int) (*Spool, error) {
	s, err := Open(dir)
	if err != nil {
		return nil, err
	}
	s.tmp = filepath.Join(s.tmp, strconv.Itoa(slot))
	if err := os.Mkdir(s.tmp, 0o770); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("spool: %w", err)
	}
	return s, nil
}

// RemoveTemp removes the temporary folder of the worker in slot, and what
// it holds.
func (s *Spool) RemoveTemp(slot int) error {
	if err := os.RemoveAll(filepath.Join(s.dir, "tmp", strconv.Itoa(slot))); err != nil {
		return fmt.Errorf("spool: remove tmp/%d: %w", slot, err)
	}
	return nil
}

// Dir is the spool directory.
func (s *Spool) Dir() string { return s.dir }

// AddQueue creates the spool folder of a queue. Only the queue's own
// router makes it, before the queue's first subscription (nobody can route
// to the queue before that), or a persistent session's as it adopts it:
// routers that spool to a queue never make its folder, so one removed with
// its client (RemoveQueue) stays removed, and a copy that comes too late
// finds no folder (os.ErrNotExist). A queue that never subscribed has no
// folder: most connections cost the spool nothing.
func (s *Spool) AddQueue(queue string) error {
	if err := os.Mkdir(s.queueDir(queue), 0o770); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("spool: add queue %s: %w", queue, err)
	}
	return nil
}

// RemoveQueue deletes a queue's spool folder and every copy waiting in it.
// A router that matched the queue just before it left may still be linking
// a copy into the folder; RemoveAll then fails on a folder that is not
// empty, so it tries again (once the folder is gone, no link can land).
func (s *Spool) RemoveQueue(queue string) error {
	if s.RemoveEmptyQueue(queue) {
		return nil
	}
	var err error
	for try := 0; try < 5; try++ {
		if err = os.RemoveAll(s.queueDir(queue)); err == nil {
			return nil
		}
		time.Sleep(time.Duration(try+1) * 5 * time.Millisecond)
	}
	return fmt.Errorf("spool: remove queue %s: %w", queue, err)
}

// RemoveEmptyQueue removes a queue's spool folder if it is empty, and
// reports whether the queue has none now. The folder of a queue that never
// subscribed does not exist, and that of one that was spooled nothing (or
// whose copies were all taken) is empty: one rmdir settles both, where
// RemoveAll takes a few calls for each.
func (s *Spool) RemoveEmptyQueue(queue string) bool {
	err := unix.Rmdir(s.queueDir(queue))
	return err == nil || errors.Is(err, unix.ENOENT)
}

// Queues lists the queues that have a spool folder.
func (s *Spool) Queues() ([]string, error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	var qs []string
	for _, e := range entries {
		if e.IsDir() && e.Name() != "tmp" {
			qs = append(qs, e.Name())
		}
	}
	return qs, nil
}

// ClearTemp removes temporary files left by routers that died mid-write.
// Only the supervisor calls it, at start, when no router runs.
func (s *Spool) ClearTemp() error {
	tmp := filepath.Join(s.dir, "tmp")
	if err := os.RemoveAll(tmp); err != nil {
		return fmt.Errorf("spool: clear tmp: %w", err)
	}
	return os.MkdirAll(tmp, 0o770)
}

func (s *Spool) queueDir(queue string) string { return filepath.Join(s.dir, queue) }

// QueueDir is the folder of a queue's copies.
func (s *Spool) QueueDir(queue string) string { return s.queueDir(queue) }

// Item is one publication written to the spool by a router.
type Item struct {
	s    *Spool
	name string
}

// Write stores a publication body in a new temporary spool file. It makes
// the three system calls a file takes (open, write, close) and no more:
// os.WriteFile also registers the file with the runtime's poller and sets
// it non-blocking, four more calls per spooled message for a file that
// never waits.
func (s *Spool) Write(body []byte) (*Item, error) {
	name := fmt.Sprintf("%016x-%s-%d", time.Now().UnixNano(), s.pid, s.seq.Add(1))
	path := filepath.Join(s.tmp, name)
	if err := writeFile(path, body); err != nil {
		unix.Unlink(path)
		return nil, fmt.Errorf("spool: write: %w", err)
	}
	return &Item{s: s, name: name}, nil
}

// writeFile creates path (it must not exist) holding b.
func writeFile(path string, b []byte) error {
	fd, err := ignoringEINTR(func() (int, error) {
		return unix.Open(path, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, 0o660)
	})
	if err != nil {
		return &os.PathError{Op: "open", Path: path, Err: err}
	}
	for len(b) > 0 {
		n, err := ignoringEINTR(func() (int, error) { return unix.Write(fd, b) })
		if err != nil {
			unix.Close(fd)
			return &os.PathError{Op: "write", Path: path, Err: err}
		}
		b = b[n:]
	}
	if err := unix.Close(fd); err != nil {
		return &os.PathError{Op: "close", Path: path, Err: err}
	}
	return nil
}

// ignoringEINTR retries call while a signal interrupts it.
func ignoringEINTR(call func() (int, error)) (int, error) {
	for {
		n, err := call()
		if !errors.Is(err, unix.EINTR) {
			return n, err
		}
	}
}

// WriteFrom stores a publication whose body starts with head and goes on
// with what r yields (a retained payload streamed from disk, say).
func (s *Spool) WriteFrom(head []byte, r io.Reader) (*Item, error) {
	name := fmt.Sprintf("%016x-%s-%d", time.Now().UnixNano(), s.pid, s.seq.Add(1))
	path := filepath.Join(s.tmp, name)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o660)
	if err != nil {
		return nil, fmt.Errorf("spool: write: %w", err)
	}
	_, err = f.Write(head)
	if err == nil {
		_, err = io.Copy(f, r)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("spool: write: %w", err)
	}
	return &Item{s: s, name: name}, nil
}

// Name is the file name that an envelope carries.
func (it *Item) Name() string { return it.name }

// LinkTo gives queue its own copy (a hard link) of the item.
func (it *Item) LinkTo(queue string) error {
	if err := os.Link(filepath.Join(it.s.tmp, it.name), filepath.Join(it.s.queueDir(queue), it.name)); err != nil {
		return fmt.Errorf("spool: link for %s: %w", queue, err)
	}
	return nil
}

// Unlink takes back queue's copy, when its envelope could not be sent.
func (it *Item) Unlink(queue string) {
	unix.Unlink(filepath.Join(it.s.queueDir(queue), it.name))
}

// Release removes the temporary name; linked copies stay. (os.Remove
// would try rmdir as well when the unlink fails.)
func (it *Item) Release() {
	unix.Unlink(filepath.Join(it.s.tmp, it.name))
}

// TakeSmall takes queue's copy of a spooled publication like Take, and
// when it holds at most limit bytes reads it whole and closes it: one
// pread instead of a file kept open and read piece by piece. Either the
// bytes or the file is returned.
func (s *Spool) TakeSmall(queue, name string, limit int64) ([]byte, *os.File, error) {
	if filepath.Base(name) != name || name == "." || name == ".." {
		return nil, nil, fmt.Errorf("spool: bad file name %q", name)
	}
	path := filepath.Join(s.queueDir(queue), name)
	fd, err := ignoringEINTR(func() (int, error) { return unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0) })
	if err != nil {
		return nil, nil, fmt.Errorf("spool: take: %w", &os.PathError{Op: "open", Path: path, Err: err})
	}
	if err := unix.Unlink(path); err != nil {
		unix.Close(fd)
		return nil, nil, fmt.Errorf("spool: take: %w", &os.PathError{Op: "unlink", Path: path, Err: err})
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, nil, fmt.Errorf("spool: take: %w", &os.PathError{Op: "fstat", Path: path, Err: err})
	}
	if st.Size > limit {
		return nil, os.NewFile(uintptr(fd), path), nil
	}
	defer unix.Close(fd)
	b := make([]byte, st.Size)
	if err := preadFull(fd, path, b, 0); err != nil {
		return nil, nil, fmt.Errorf("spool: take: %w", err)
	}
	return b, nil, nil
}

// preadFull fills b from the file at off (path names it in errors); a file
// that ends first is io.ErrUnexpectedEOF.
func preadFull(fd int, path string, b []byte, off int64) error {
	for done := 0; done < len(b); {
		n, err := ignoringEINTR(func() (int, error) { return unix.Pread(fd, b[done:], off+int64(done)) })
		if err != nil {
			return &os.PathError{Op: "pread", Path: path, Err: err}
		}
		if n == 0 {
			return fmt.Errorf("%d bytes at %d of %s: %w", len(b), off, path, io.ErrUnexpectedEOF)
		}
		done += n
	}
	return nil
}

// Take opens queue's copy of a spooled publication and unlinks it, so the
// bytes disappear when the returned file is closed.
func (s *Spool) Take(queue, name string) (*os.File, error) {
	_, f, err := s.TakeSmall(queue, name, -1)
	return f, err
}
