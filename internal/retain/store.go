package retain

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/renameio/v2"

	"github.com/forkmq/forkmq/internal/filelock"
	"github.com/forkmq/forkmq/internal/fsname"
	"github.com/forkmq/forkmq/internal/topic"
)

// Names inside the retained directory.
const (
	lockName = "lock" // flock taken by every writer to commit
	msgsName = "msgs" // one file per retained topic
	// topicPrefix starts the plain name of a message file (package fsname):
	// "t_" + the encoded topic. Changing it would orphan every stored
	// message.
	topicPrefix = "t_"
)

// staleTemp is how old an unlocked temporary file must be before Open
// removes it as left by a killed writer.
const staleTemp = time.Minute

// maxTries bounds how often Set writes its file outside the lock before it
// gives up on optimism and writes under the lock. Tests lower it.
var maxTries = 3

// ErrInvalid reports a topic, filter or QoS the store cannot hold.
var ErrInvalid = errors.New("retain: invalid argument")

// Message is one retained message.
//
// Set stores Payload. Get returns the payload read whole in Payload. Match
// leaves Payload nil and hands its callback a Message whose payload is read
// from the file on demand through Open, so a subscription matching large
// payloads does not hold them in memory; that Message is only valid until
// the callback returns.
type Message struct {
	Topic   string
	QoS     byte
	Payload []byte

	body *io.SectionReader // the payload in a file Match holds open
}

// Open returns a reader of the payload from its start and the payload's
// size. Closing the reader is not required (it does nothing) but allowed.
// Read errors of a file-backed payload surface from Read.
func (m Message) Open() (io.ReadCloser, int64) {
	if m.body != nil {
		return io.NopCloser(io.NewSectionReader(m.body, 0, m.body.Size())), m.body.Size()
	}
	return io.NopCloser(bytes.NewReader(m.Payload)), int64(len(m.Payload))
}

// Store is an open retained-message directory. Its methods are safe for
// concurrent use by many goroutines and many processes.
type Store struct {
	root  *os.Root        // the retained directory
	lock  *filelock.Lock  // taken by writers to commit
	names fsname.Encoding // file names of msgs/
}

// Open opens the retained directory at dir, creating it (mode 0700) if
// missing, and removes temporary files that killed writers left.
func Open(dir string) (s *Store, err error) {
	if err := os.MkdirAll(filepath.Join(dir, msgsName), 0o770); err != nil {
		return nil, err
	}
	s = &Store{names: fsname.Encoding{Prefix: topicPrefix}}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if s.root, err = os.OpenRoot(dir); err != nil {
		return nil, err
	}
	if s.lock, err = filelock.Open(filepath.Join(dir, lockName)); err != nil {
		return nil, err
	}
	return s, s.lock.Do(s.removeStaleTemps)
}

// Close releases the store.
func (s *Store) Close() error {
	var errs []error
	if s.root != nil {
		errs = append(errs, s.root.Close())
	}
	if s.lock != nil {
		errs = append(errs, s.lock.Close())
	}
	return errors.Join(errs...)
}

// removeStaleTemps removes renameio's temporary files ("." + name + digits,
// at the top of the directory) whose writer is gone: nobody holds their
// flock and they are older than staleTemp. Called under the lock, so no
// writer is between closing its file and renaming it.
func (s *Store) removeStaleTemps() error {
	names, err := s.readNames(".")
	if err != nil {
		return err
	}
	var errs []error
	for _, name := range names {
		if !strings.HasPrefix(name, ".") {
			continue
		}
		f, err := s.root.Open(name)
		if err != nil {
			continue // committed or removed meanwhile
		}
		st, err := f.Stat()
		if err == nil && time.Since(st.ModTime()) > staleTemp && filelock.TryLock(f) == nil {
			if err := s.root.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
		}
		f.Close()
	}
	return errors.Join(errs...)
}

// readNames lists a directory of the store, sorted.
func (s *Store) readNames(dir string) ([]string, error) {
	d, err := s.root.Open(dir)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	slices.Sort(names)
	return slices.Compact(names), err
}

// entry is an open message file whose header has been read.
type entry struct {
	f *os.File
	h header
}

func (e *entry) message() Message {
	return Message{Topic: e.h.topic, QoS: e.h.qos, body: io.NewSectionReader(e.f, e.h.off, e.h.size)}
}

// openEntry opens msgs/name and checks its header against its length. A
// missing file is fs.ErrNotExist; a damaged one ErrCorrupt.
func (s *Store) openEntry(name string) (*entry, error) {
	f, err := s.root.Open(msgsName + "/" + name)
	if err != nil {
		return nil, err
	}
	h, err := readHeader(f)
	if err == nil {
		var st os.FileInfo
		if st, err = f.Stat(); err == nil && st.Size() != h.off+h.size {
			err = fmt.Errorf("%w: %d bytes, header says %d", ErrCorrupt, st.Size(), h.off+h.size)
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &entry{f, h}, nil
}

// walk follows topic's chain. It returns the open entry holding topic, or
// nil and the slot a new file for topic goes to: the first tombstone or
// damaged file, else the end of the chain. bad collects damaged files.
//
// Occupied slots always form a prefix of the chain (files are never moved,
// and a chain shrinks from its end), so a reader without the lock that
// stops at the first missing slot has seen every file that was there for
// the whole walk.
func (s *Store) walk(t string) (found *entry, free fsname.Slot, bad error, err error) {
	sl := fsname.Slot{Base: s.names.Base(t)}
	free.N = -1
	for ; sl.N < fsname.MaxSlots; sl = sl.Next() {
		e, err := s.openEntry(sl.Name())
		switch {
		case errors.Is(err, fs.ErrNotExist):
			if free.N < 0 {
				free = sl
			}
			return nil, free, bad, nil
		case errors.Is(err, ErrCorrupt):
			bad = errors.Join(bad, err)
		case err != nil:
			return nil, free, bad, err
		case !e.h.free && e.h.topic == t:
			return e, sl, bad, nil
		default:
			e.f.Close()
		}
		if free.N < 0 && (err != nil || e.h.free) {
			free = sl
		}
	}
	return nil, free, bad, fmt.Errorf("retain: chain of %s is full", sl.Base)
}

// slotFor is the slot topic's file goes to: its own, or a free one.
func (s *Store) slotFor(t string) (fsname.Slot, error) {
	e, sl, _, err := s.walk(t)
	if e != nil {
		e.f.Close()
	}
	return sl, err
}

func checkTopic(t string) error {
	if err := topic.ValidateName(t); err != nil {
		return fmt.Errorf("%w: topic: %v", ErrInvalid, err)
	}
	return nil
}

// Set makes m the retained message of its topic, replacing any earlier one
// whatever its QoS [MQTT-3.3.1-5, MQTT-3.3.1-7]. A zero-length payload
// removes the topic's retained message and stores nothing [MQTT-3.3.1-10,
// MQTT-3.3.1-11].
//
// The file is written (and synced) to a temporary name without the lock, so
// a large payload does not hold up other writers; the lock is taken only to
// check the file's slot and rename it into place. When the slot changed
// meanwhile (only a chain shared through a hash collision can), Set writes
// again, in the end under the lock.
func (s *Store) Set(m Message) error { return s.set(m, true) }

// SetVolatile is Set without the sync: for a message the broker makes
// again and again and a restart need not keep ($SYS, published every
// -sys-interval; mosquitto keeps it in memory only). A reader sees it as
// it sees any other; after a crash of the machine its file may be damaged,
// which readers skip and the next SetVolatile replaces.
func (s *Store) SetVolatile(m Message) error { return s.set(m, false) }

func (s *Store) set(m Message, sync bool) error {
	if err := checkTopic(m.Topic); err != nil {
		return err
	}
	if m.QoS > 2 {
		return fmt.Errorf("%w: QoS %d", ErrInvalid, m.QoS)
	}
	if len(m.Payload) == 0 {
		return s.lock.Do(func() error { return s.remove(m.Topic) })
	}
	for try := 1; ; try++ {
		underLock := try >= maxTries
		var sl fsname.Slot
		var pf pendingFile
		if !underLock {
			var err error
			if sl, err = s.slotFor(m.Topic); err == nil {
				pf, err = s.prepare(sl, m, sync)
			}
			if err != nil {
				return err
			}
		}
		done := false
		err := s.lock.Do(func() error {
			now, err := s.slotFor(m.Topic)
			if err == nil && underLock {
				sl = now
				pf, err = s.prepare(sl, m, sync)
			}
			if err != nil || now != sl {
				return err
			}
			done = true
			return pf.CloseAtomicallyReplace()
		})
		if pf != nil {
			pf.Cleanup()
		}
		if done || err != nil {
			return err
		}
	}
}

// pendingFile is a message file written to a temporary name, waiting to
// be renamed into its slot.
type pendingFile interface {
	CloseAtomicallyReplace() error
	Cleanup() error
}

// prepare writes m's file to a temporary name destined for slot sl, and
// syncs it if asked (renameio; it syncs again before its rename). The
// temporary file is flocked while it is open, so Open in another process
// never takes it for a leftover.
func (s *Store) prepare(sl fsname.Slot, m Message, sync bool) (pendingFile, error) {
	var f *os.File
	var pf pendingFile
	if sync {
		p, err := renameio.NewPendingFile(msgsName+"/"+sl.Name(), renameio.WithRoot(s.root), renameio.WithPermissions(0o660))
		if err != nil {
			return nil, err
		}
		f, pf = p.File, p
	} else {
		v, err := s.createVolatile(msgsName + "/" + sl.Name())
		if err != nil {
			return nil, err
		}
		f, pf = v.f, v
	}
	err := filelock.TryLock(f)
	if err == nil {
		_, err = f.Write(encodeHeader(m.Topic, m.QoS, len(m.Payload)))
	}
	if err == nil {
		_, err = f.Write(m.Payload)
	}
	if err == nil && sync {
		err = f.Sync()
	}
	if err != nil {
		pf.Cleanup()
		return nil, err
	}
	return pf, nil
}

// volatileFile is a pendingFile that is never synced (SetVolatile): named
// as renameio names its temporary files ("." + name + digits, at the top
// of the store), so removeStaleTemps treats both alike.
type volatileFile struct {
	root      *os.Root
	f         *os.File
	tmp, path string
	done      bool
}

func (s *Store) createVolatile(path string) (*volatileFile, error) {
	for try := 0; ; try++ {
		tmp := "." + filepath.Base(path) + strconv.FormatUint(rand.Uint64()%1e12, 10)
		f, err := s.root.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o660)
		if err == nil {
			return &volatileFile{root: s.root, f: f, tmp: tmp, path: path}, nil
		}
		if !errors.Is(err, fs.ErrExist) || try == 100 {
			return nil, err
		}
	}
}

// CloseAtomicallyReplace closes the file and renames it into place.
func (v *volatileFile) CloseAtomicallyReplace() error {
	if err := v.f.Close(); err != nil {
		return err
	}
	v.done = true
	if err := v.root.Rename(v.tmp, v.path); err != nil {
		v.root.Remove(v.tmp)
		return err
	}
	return nil
}

// Cleanup closes and removes the file unless it was renamed into place.
func (v *volatileFile) Cleanup() error {
	if v.done {
		return nil
	}
	v.done = true
	v.f.Close()
	return v.root.Remove(v.tmp)
}

// remove deletes topic's file, under the lock. A file with a successor in
// its chain becomes a tombstone (so the chain keeps no hole); the last file
// of a chain is removed, and so are the tombstones then ending the chain,
// from the end backwards.
func (s *Store) remove(t string) error {
	e, sl, _, err := s.walk(t)
	if e == nil {
		return err
	}
	e.f.Close()
	if _, err := s.root.Lstat(msgsName + "/" + sl.Next().Name()); err == nil {
		return renameio.WriteFile(msgsName+"/"+sl.Name(), tombstone, 0o660, renameio.WithRoot(s.root))
	}
	for {
		if err := s.root.Remove(msgsName + "/" + sl.Name()); err != nil {
			return err
		}
		if sl.N == 0 {
			return nil
		}
		sl.N--
		prev, err := s.openEntry(sl.Name())
		if err != nil {
			return nil // damaged: leave it for Set to reuse
		}
		prev.f.Close()
		if !prev.h.free {
			return nil
		}
	}
}

// Get returns topic's retained message, its payload read whole. It takes no
// lock.
func (s *Store) Get(t string) (Message, bool, error) {
	if err := checkTopic(t); err != nil {
		return Message{}, false, err
	}
	e, _, bad, err := s.walk(t)
	if e == nil {
		return Message{}, false, errors.Join(err, bad)
	}
	defer e.f.Close()
	m := Message{Topic: t, QoS: e.h.qos, Payload: make([]byte, e.h.size)}
	if _, err := e.f.ReadAt(m.Payload, e.h.off); err != nil {
		return Message{}, false, fmt.Errorf("retain: %s: %w", t, err)
	}
	return m, true, nil
}

// Match calls fn with every retained message whose topic matches filter
// [MQTT-3.3.1-6], each topic once, in no particular order; an error from fn
// stops it. The payload is read lazily through Message.Open. It takes no
// lock: a message set or removed while Match runs may or may not be seen.
//
// A filter without wildcards is looked up directly. Otherwise Match lists
// msgs/ and opens only the files whose names can match: a plain name is the
// topic itself; a hashed name keeps a prefix of it, enough to rule most
// files out. Damaged files are skipped and reported in the error after
// every other message was handed to fn.
func (s *Store) Match(filter string, fn func(Message) error) error {
	if err := topic.ValidateFilter(filter); err != nil {
		return fmt.Errorf("%w: filter: %v", ErrInvalid, err)
	}
	if strings.IndexByte(filter, '+') < 0 && strings.IndexByte(filter, '#') < 0 {
		e, _, bad, err := s.walk(filter)
		if e == nil {
			return errors.Join(err, bad)
		}
		defer e.f.Close()
		return errors.Join(fn(e.message()), bad)
	}
	names, err := s.readNames(msgsName)
	if err != nil {
		return err
	}
	var bad error
	seen := map[string]bool{}
	for _, name := range names {
		if t, exact, ok := s.names.Parse(name); ok && (exact && !topic.Match(filter, t) || !exact && !topic.MayMatchPrefix(filter, t)) {
			continue
		}
		e, err := s.openEntry(name)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			continue // removed since the listing
		case errors.Is(err, ErrCorrupt):
			bad = errors.Join(bad, err)
			continue
		case err != nil:
			return err
		}
		if !e.h.free && !seen[e.h.topic] && topic.Match(filter, e.h.topic) {
			seen[e.h.topic] = true
			err = fn(e.message())
		}
		e.f.Close()
		if err != nil {
			return err
		}
	}
	return bad
}

// Count returns how many topics have a retained message. It reads only the
// files that have a successor in their chain (the only ones that can be
// tombstones).
func (s *Store) Count() (int, error) {
	names, err := s.readNames(msgsName)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, name := range names {
		if _, more := slices.BinarySearch(names, fsname.ParseSlot(name).Next().Name()); more {
			e, err := s.openEntry(name)
			if err != nil {
				continue // removed meanwhile, or damaged
			}
			e.f.Close()
			if e.h.free {
				continue
			}
		}
		n++
	}
	return n, nil
}
