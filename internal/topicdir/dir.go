package topicdir

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync/atomic"
	"unsafe"

	"github.com/google/renameio/v2"
	"golang.org/x/sys/unix"

	"github.com/forkmq/forkmq/internal/filelock"
	"github.com/forkmq/forkmq/internal/fsname"
)

// Names inside the topics directory.
const (
	lockName    = "lock"    // flock taken by every writer
	counterName = "counter" // mmapped: change counter, log epoch
	logName     = "changes" // change log
	filtersName = "filters" // one file per filter
	queuesName  = "queues"  // one record per queue
)

const (
	counterSize = 64 // one cache line; the counter at 0, the epoch at 8
	logMagic    = "forkmq-changes v1 epoch "
	maxFilter   = 65535
	// filterPrefix starts the plain name of a filter file (package fsname).
	filterPrefix = "f_"
)

// logLimit is the size past which a writer compacts the change log (starts
// a new epoch) instead of appending to it. Tests lower it.
var logLimit int64 = 1 << 20

// ErrInvalid reports a queue name, filter or QoS the directory cannot hold.
var ErrInvalid = errors.New("topicdir: invalid argument")

// Dir is an open topics directory. Its methods are safe for concurrent use
// by many goroutines and many processes.
type Dir struct {
	path    string
	logPath string
	filters *os.Root
	queues  *os.Root
	lock    *filelock.Lock  // taken by every writer
	names   fsname.Encoding // file names of filters/

	shm     []byte         // mmap of the counter file
	changes *atomic.Uint64 // odd while a writer is changing files
	epoch   *atomic.Uint64 // epoch of the current change log
}

// Subscriber is one queue that a filter delivers to.
type Subscriber struct {
	Queue string
	QoS   byte
}

// Subscription is one filter a queue is subscribed to.
type Subscription struct {
	Filter string
	QoS    byte
}

// Open opens the topics directory at path, creating it (mode 0700) and its
// layout if missing. Many processes may open the same path at once.
func Open(path string) (d *Dir, err error) {
	if err := os.MkdirAll(path, 0o770); err != nil {
		return nil, err
	}
	for _, sub := range []string{filtersName, queuesName} {
		if err := os.Mkdir(filepath.Join(path, sub), 0o770); err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, err
		}
	}
	d = &Dir{path: path, logPath: filepath.Join(path, logName), names: fsname.Encoding{Prefix: filterPrefix}}
	defer func() {
		if err != nil {
			d.Close()
		}
	}()
	if d.filters, err = os.OpenRoot(filepath.Join(path, filtersName)); err != nil {
		return nil, err
	}
	if d.queues, err = os.OpenRoot(filepath.Join(path, queuesName)); err != nil {
		return nil, err
	}
	if d.lock, err = filelock.Open(filepath.Join(path, lockName)); err != nil {
		return nil, err
	}
	return d, d.lock.Do(d.initShared)
}

// initShared maps the counter and makes sure there is a change log. Called
// under the lock, so only one process sizes the counter or starts the log.
func (d *Dir) initShared() error {
	if err := d.mapCounter(); err != nil {
		return err
	}
	if _, err := os.Stat(d.logPath); errors.Is(err, fs.ErrNotExist) {
		// First open (or a lost log): start an epoch and tell Matchers.
		if err := d.newEpoch(); err != nil {
			return err
		}
		d.changes.Add(2 - d.changes.Load()&1)
	} else if err != nil {
		return err
	}
	return nil
}

// mapCounter maps the counter file, sizing it first if new. Called under the
// lock, so only one process sizes it.
func (d *Dir) mapCounter() error {
	f, err := os.OpenFile(filepath.Join(d.path, counterName), os.O_RDWR|os.O_CREATE, 0o660)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if st.Size() < counterSize {
		if err := f.Truncate(counterSize); err != nil {
			return err
		}
	}
	d.shm, err = unix.Mmap(int(f.Fd()), 0, counterSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("topicdir: mmap %s: %w", counterName, err)
	}
	d.changes = (*atomic.Uint64)(unsafe.Pointer(&d.shm[0]))
	d.epoch = (*atomic.Uint64)(unsafe.Pointer(&d.shm[8]))
	return nil
}

// Close releases the directory. Matchers made from d must not be used after.
func (d *Dir) Close() error {
	var errs []error
	if d.shm != nil {
		errs = append(errs, unix.Munmap(d.shm))
		d.shm, d.changes, d.epoch = nil, nil, nil
	}
	if d.filters != nil {
		errs = append(errs, d.filters.Close())
	}
	if d.queues != nil {
		errs = append(errs, d.queues.Close())
	}
	if d.lock != nil {
		errs = append(errs, d.lock.Close())
	}
	return errors.Join(errs...)
}

// txn is one locked change. Every file change goes through it, so it knows
// when to mark the counter odd (before the first change) and which filter
// files to name in the change log.
type txn struct {
	d       *Dir
	begun   bool
	changed []string
}

// update runs fn under the lock and then publishes its changes: append the
// changed filter file names to the log (or start a new epoch), then make the
// counter even again. A counter found odd means a writer died mid-change;
// its changes are unknown, so a new epoch makes every Matcher rebuild.
func (d *Dir) update(fn func(*txn) error) error {
	return d.lock.Do(func() error {
		interrupted := d.changes.Load()&1 == 1
		tx := &txn{d: d}
		err := fn(tx)
		if !tx.begun && !interrupted {
			return err
		}
		if perr := d.publish(tx.changed, interrupted); perr != nil {
			// Leave the counter odd: the next writer starts a new epoch.
			return errors.Join(err, perr)
		}
		d.changes.Add(1)
		return err
	})
}

// publish appends names to the change log, or starts a new epoch when forced,
// when the log is missing, too big or ends in a torn line.
func (d *Dir) publish(names []string, force bool) error {
	if force {
		return d.newEpoch()
	}
	f, err := os.OpenFile(d.logPath, os.O_RDWR|os.O_APPEND, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return d.newEpoch()
	}
	if err != nil {
		return err
	}
	defer f.Close()
	var b []byte
	for _, n := range names {
		b = append(append(b, n...), '\n')
	}
	st, err := f.Stat()
	if err != nil {
		return err
	}
	last := []byte{0}
	if st.Size()+int64(len(b)) > logLimit || st.Size() == 0 {
		return d.newEpoch()
	}
	if _, err := f.ReadAt(last, st.Size()-1); err != nil || last[0] != '\n' {
		return d.newEpoch()
	}
	_, err = f.Write(b)
	return err
}

// newEpoch replaces the change log by an empty one with the next epoch.
func (d *Dir) newEpoch() error {
	e := d.epoch.Load() + 1
	data := []byte(logMagic + strconv.FormatUint(e, 10) + "\n")
	if err := renameio.WriteFile(d.logPath, data, 0o660, renameio.WithTempDir(d.path)); err != nil {
		return err
	}
	d.epoch.Store(e)
	return nil
}

func (tx *txn) begin() {
	if !tx.begun {
		tx.begun = true
		if tx.d.changes.Load()&1 == 0 {
			tx.d.changes.Add(1)
		}
	}
}

func (tx *txn) note(name string) {
	if !slices.Contains(tx.changed, name) {
		tx.changed = append(tx.changed, name)
	}
}

// replace writes a whole file atomically inside root.
func (tx *txn) replace(root *os.Root, name string, data []byte) error {
	tx.begin()
	t, err := renameio.NewPendingFile(name, renameio.WithRoot(root), renameio.WithPermissions(0o660))
	if err != nil {
		return err
	}
	defer t.Cleanup()
	if _, err := t.Write(data); err != nil {
		return err
	}
	return t.CloseAtomicallyReplace()
}

// findFilter walks filter's chain: it returns the slot holding filter and
// its subscribers, or the first free slot and found == false.
func (tx *txn) findFilter(filter string) (s fsname.Slot, subs []Subscriber, found bool, err error) {
	s = fsname.Slot{Base: tx.d.names.Base(filter)}
	for ; s.N < fsname.MaxSlots; s = s.Next() {
		data, err := tx.d.filters.ReadFile(s.Name())
		if errors.Is(err, fs.ErrNotExist) {
			return s, nil, false, nil
		}
		if err != nil {
			return s, nil, false, err
		}
		f, subs, err := decodeFilterFile(data)
		if err != nil {
			return s, nil, false, fmt.Errorf("%s: %w", s.Name(), err)
		}
		if f == filter {
			return s, subs, true, nil
		}
	}
	return s, nil, false, fmt.Errorf("topicdir: chain of %s is full", s.Base)
}

// writeFilter stores subs as filter's file in slot s; no subscribers removes
// the file. moved reports that another filter's file moved into s.
func (tx *txn) writeFilter(s fsname.Slot, filter string, subs []Subscriber) (moved bool, err error) {
	tx.note(s.Name())
	if len(subs) == 0 {
		return tx.removeSlot(s)
	}
	return false, tx.replace(tx.d.filters, s.Name(), encodeFilterFile(filter, subs))
}

// removeSlot removes the file in slot s and keeps the chain without holes by
// moving its last file into s. A Matcher sees both names in the log and
// reads each file for the filter it holds now.
func (tx *txn) removeSlot(s fsname.Slot) (moved bool, err error) {
	tx.begin()
	tx.note(s.Name())
	if err := tx.d.filters.Remove(s.Name()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	last := s
	for next := s.Next(); next.N < fsname.MaxSlots; next = next.Next() {
		if _, err := tx.d.filters.Lstat(next.Name()); err != nil {
			break
		}
		last = next
	}
	if last == s {
		return false, nil
	}
	tx.note(last.Name())
	return true, tx.d.filters.Rename(last.Name(), s.Name())
}

func (tx *txn) readRecord(queue string) ([]Subscription, error) {
	return tx.d.Subscriptions(queue)
}

// writeRecord stores queue's record; no subscriptions removes it.
func (tx *txn) writeRecord(queue string, subs []Subscription) error {
	if len(subs) == 0 {
		tx.begin()
		if err := tx.d.queues.Remove(queue); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	}
	return tx.replace(tx.d.queues, queue, encodeRecord(queue, subs))
}

// setEntry sets (qos >= 0) or removes (qos < 0) queue's entry in filter's
// file and reports whether it was there.
func (tx *txn) setEntry(queue, filter string, qos int) (existed bool, err error) {
	s, subs, _, err := tx.findFilter(filter)
	if err != nil {
		return false, err
	}
	i := slices.IndexFunc(subs, func(e Subscriber) bool { return e.Queue == queue })
	existed = i >= 0
	switch {
	case qos < 0 && !existed:
		return false, nil
	case qos < 0:
		subs = slices.Delete(subs, i, i+1)
	case existed && subs[i].QoS == byte(qos):
		return true, nil
	case existed:
		subs[i].QoS = byte(qos)
	default:
		subs = append(subs, Subscriber{Queue: queue, QoS: byte(qos)})
	}
	_, err = tx.writeFilter(s, filter, subs)
	return existed, err
}

func checkArgs(queue, filter string, qos byte) error {
	if !validQueue(queue) {
		return fmt.Errorf("%w: queue name %q", ErrInvalid, queue)
	}
	if filter == "" || len(filter) > maxFilter {
		return fmt.Errorf("%w: filter of %d bytes", ErrInvalid, len(filter))
	}
	if qos > 2 {
		return fmt.Errorf("%w: QoS %d", ErrInvalid, qos)
	}
	return nil
}

// Subscribe adds queue's entry for filter, or replaces the QoS of an
// existing one (replaced == true). The queue's record is written before the
// filter file, so a record always lists at least the entries that exist.
func (d *Dir) Subscribe(queue, filter string, qos byte) (replaced bool, err error) {
	if err := checkArgs(queue, filter, qos); err != nil {
		return false, err
	}
	err = d.update(func(tx *txn) error {
		subs, err := tx.readRecord(queue)
		if err != nil {
			return err
		}
		i := slices.IndexFunc(subs, func(s Subscription) bool { return s.Filter == filter })
		if i < 0 {
			subs = append(subs, Subscription{Filter: filter, QoS: qos})
		}
		if i < 0 || subs[i].QoS != qos {
			if i >= 0 {
				subs[i].QoS = qos
			}
			if err := tx.writeRecord(queue, subs); err != nil {
				return err
			}
		}
		replaced, err = tx.setEntry(queue, filter, int(qos))
		return err
	})
	return replaced, err
}

// Unsubscribe removes queue's entry for filter (the filter file first, then
// the record) and reports whether there was one.
func (d *Dir) Unsubscribe(queue, filter string) (existed bool, err error) {
	if err := checkArgs(queue, filter, 0); err != nil {
		return false, err
	}
	err = d.update(func(tx *txn) error {
		if existed, err = tx.setEntry(queue, filter, -1); err != nil {
			return err
		}
		subs, err := tx.readRecord(queue)
		if err != nil {
			return err
		}
		i := slices.IndexFunc(subs, func(s Subscription) bool { return s.Filter == filter })
		if i < 0 {
			return nil
		}
		existed = true
		return tx.writeRecord(queue, slices.Delete(subs, i, i+1))
	})
	return existed, err
}

// Subscriptions returns what queue is subscribed to, from its record,
// sorted by filter. It takes no lock.
func (d *Dir) Subscriptions(queue string) ([]Subscription, error) {
	if !validQueue(queue) {
		return nil, fmt.Errorf("%w: queue name %q", ErrInvalid, queue)
	}
	data, err := d.queues.ReadFile(queue)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	q, subs, err := decodeRecord(data)
	if err == nil && q != queue {
		err = formatError("record names another queue", q)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", queue, err)
	}
	return subs, nil
}

// RemoveQueue removes every entry its record lists, then the record.
// Entries without a record are left to Sweep.
//
// It is meant for a queue nobody subscribes for any more (its client is
// gone), and most such queues never subscribed: a writer makes the record
// before any entry and removes it after the last one, so a queue without a
// record has no entry, and one look without the lock (one failed lookup)
// is all RemoveQueue does for it — not the lock every router waits on, a
// file open and the lock's release.
func (d *Dir) RemoveQueue(queue string) error {
	if !validQueue(queue) {
		return fmt.Errorf("%w: queue name %q", ErrInvalid, queue)
	}
	if !d.HasRecord(queue) {
		return nil
	}
	return d.update(func(tx *txn) error {
		subs, err := tx.readRecord(queue)
		if err != nil || len(subs) == 0 {
			return err
		}
		for _, s := range subs {
			if _, err := tx.setEntry(queue, s.Filter, -1); err != nil {
				return err
			}
		}
		return tx.writeRecord(queue, nil)
	})
}

// HasRecord reports whether queue has a record, that is whether it may
// have entries (a writer makes the record first and removes it last). It
// takes no lock and makes one system call; an error other than the
// record's absence counts as a record, so a caller removes too much rather
// than too little.
func (d *Dir) HasRecord(queue string) bool {
	if !validQueue(queue) {
		return false
	}
	err := unix.Access(filepath.Join(d.path, queuesName, queue), unix.F_OK)
	return !errors.Is(err, unix.ENOENT)
}

// Queues returns, sorted, every queue that has a record or an entry. It
// reads every filter file and takes no lock.
func (d *Dir) Queues() ([]string, error) {
	seen := map[string]bool{}
	names, err := readNames(d.queues)
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		seen[n] = true
	}
	err = d.eachFilterFile(func(_ string, _ string, subs []Subscriber) error {
		for _, s := range subs {
			seen[s.Queue] = true
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(seen))
	for q := range seen {
		out = append(out, q)
	}
	slices.Sort(out)
	return out, nil
}

// Sweep removes the entries and records of every queue keep rejects,
// including entries whose record is missing, leftover temporary files and
// filter files that cannot be parsed (reported in err after the sweep). It
// moves the files of format v1 whose names v2 spells differently into their
// filter's chain. It returns how many distinct queues it removed something
// of. Meant for broker start; it reads every file.
func (d *Dir) Sweep(keep func(queue string) bool) (removed int, err error) {
	gone := map[string]bool{}
	var bad []error
	err = d.update(func(tx *txn) error {
		for {
			moved, err := tx.sweepFilters(keep, gone, &bad)
			if err != nil || !moved {
				break
			}
		}
		names, err := readDir(d.queues)
		if err != nil {
			return err
		}
		for _, n := range names {
			if !validQueue(n) || !keep(n) {
				tx.begin()
				if err := d.queues.Remove(n); err != nil {
					return err
				}
				if validQueue(n) {
					gone[n] = true
				}
			}
		}
		return nil
	})
	return len(gone), errors.Join(append([]error{err}, bad...)...)
}

// sweepFilters makes one pass over the filter files. A chain move can carry
// an unvisited file into a visited slot, so the caller repeats the pass
// while moved.
func (tx *txn) sweepFilters(keep func(string) bool, gone map[string]bool, bad *[]error) (moved bool, err error) {
	names, err := readDir(tx.d.filters)
	if err != nil {
		return false, err
	}
	for _, name := range names {
		if !fsname.Safe(name) {
			tx.begin()
			tx.d.filters.Remove(name)
			continue
		}
		data, err := tx.d.filters.ReadFile(name)
		if errors.Is(err, fs.ErrNotExist) {
			continue // moved away earlier in this pass
		}
		if err != nil {
			return moved, err
		}
		filter, subs, err := decodeFilterFile(data)
		if err != nil {
			*bad = append(*bad, fmt.Errorf("removed %s: %w", name, err))
			subs = nil
		}
		kept := slices.DeleteFunc(slices.Clone(subs), func(s Subscriber) bool { return !keep(s.Queue) })
		sl := fsname.ParseSlot(name)
		// A file outside its filter's chain was named by format v1, whose
		// names kept upper case: its entries move to the chain v2 names.
		misplaced := err == nil && sl.Base != tx.d.names.Base(filter)
		if len(kept) == len(subs) && len(kept) > 0 && !misplaced {
			continue
		}
		for _, s := range subs {
			if !keep(s.Queue) {
				gone[s.Queue] = true
			}
		}
		if misplaced {
			for _, s := range kept {
				if _, err := tx.setEntry(s.Queue, filter, int(s.QoS)); err != nil {
					return moved, err
				}
			}
			kept = nil
		}
		m, err := tx.writeFilter(sl, filter, kept)
		if err != nil {
			return moved, err
		}
		moved = moved || m
	}
	return moved, nil
}

// eachFilterFile calls fn for every filter file, skipping files that vanish
// while it reads.
func (d *Dir) eachFilterFile(fn func(name, filter string, subs []Subscriber) error) error {
	names, err := readNames(d.filters)
	if err != nil {
		return err
	}
	for _, name := range names {
		data, err := d.filters.ReadFile(name)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		filter, subs, err := decodeFilterFile(data)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if err := fn(name, filter, subs); err != nil {
			return err
		}
	}
	return nil
}

// readDir lists every name in root's directory.
func readDir(root *os.Root) ([]string, error) {
	f, err := root.Open(".")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.Readdirnames(-1)
}

// readNames lists the names that are real files (not temporary ones).
func readNames(root *os.Root) ([]string, error) {
	names, err := readDir(root)
	return slices.DeleteFunc(names, func(n string) bool { return !fsname.Safe(n) }), err
}
