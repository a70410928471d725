package topicdir

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/forkmq/forkmq/internal/fsname"
	"github.com/forkmq/forkmq/internal/packet"
	"github.com/forkmq/forkmq/internal/topictrie"
)

// Matcher routes topics to subscribers from an in-memory topic trie
// (package topictrie) kept in step with the directory. It is not safe for
// concurrent use: use one per goroutine (a router process needs one).
type Matcher struct {
	d     *Dir
	trie  *topictrie.Trie[string] // keyed by queue; changed in place
	match *topictrie.Matcher[string]
	names map[string]string // filter file name -> filter it held when read
	files map[string]string // filter -> the file its subscribers came from

	built bool
	loads uint64   // times the trie was brought up to date (see Loads)
	seen  uint64   // counter value the trie reflects
	epoch uint64   // epoch of the change log that log is open on
	log   *os.File // change log, read from off on
	off   int64
	found []topictrie.Sub[string] // scratch of Match
}

// NewMatcher returns a Matcher for d. It reads the directory on first use.
func (d *Dir) NewMatcher() *Matcher {
	m := &Matcher{d: d}
	m.reset()
	return m
}

// reset empties the trie.
func (m *Matcher) reset() {
	m.trie = topictrie.New[string]()
	m.match = m.trie.NewMatcher()
	m.names, m.files = map[string]string{}, map[string]string{}
}

// Match appends to dst every queue whose filters match topic, once, with the
// maximum QoS over its matching filters [MQTT-3.3.5-1], and returns it.
//
// When no writer changed anything since the last call, Match is one atomic
// load and a walk over topic's levels. Otherwise it first reads the filter
// files named in the change log since then (or every file after a new
// epoch). A non-nil error reports files it could not read; the result still
// holds the matches of every other filter.
func (m *Matcher) Match(topic string, dst []Subscriber) ([]Subscriber, error) {
	var err error
	if c := m.d.changes.Load(); c != m.seen || !m.built {
		m.loads++
		err = m.refresh(c)
	}
	m.found = m.match.Match(topic, m.found[:0])
	for _, s := range m.found {
		dst = append(dst, Subscriber{Queue: s.Key, QoS: byte(s.QoS)})
	}
	return dst, err
}

// refresh brings the trie up to counter value c.
func (m *Matcher) refresh(c uint64) error {
	if !m.built || m.d.epoch.Load() != m.epoch {
		return m.rebuild()
	}
	data, err := io.ReadAll(io.NewSectionReader(m.log, m.off, 1<<62))
	if err != nil {
		return fmt.Errorf("topicdir: read change log: %w", err)
	}
	// Only whole lines: a writer may be appending the next one. Its counter
	// bump comes after, so the rest is read on a later call.
	data = wholeLines(data)
	m.off += int64(len(data))
	m.seen = c
	var errs []error
	done := map[string]bool{}
	m.trie.Update(func(w *topictrie.Writer[string]) {
		for line := range strings.Lines(string(data)) {
			name := strings.TrimSuffix(line, "\n")
			if !done[name] {
				done[name] = true
				errs = append(errs, m.reload(w, name))
			}
		}
	})
	return errors.Join(errs...)
}

// rebuild reads every filter file into a new trie. The log offset is taken
// before the files are read, so a change logged after it is read again
// later and none is missed.
func (m *Matcher) rebuild() error {
	c := m.d.changes.Load()
	f, err := os.Open(m.d.logPath)
	if err != nil {
		return fmt.Errorf("topicdir: open change log: %w", err)
	}
	data, err := io.ReadAll(f)
	var epoch uint64
	if err == nil {
		epoch, err = parseLogHeader(data)
	}
	if err != nil {
		f.Close()
		return fmt.Errorf("topicdir: read change log: %w", err)
	}
	if m.log != nil {
		m.log.Close()
	}
	m.log, m.epoch, m.off = f, epoch, int64(len(wholeLines(data)))
	m.reset()
	names, err := readNames(m.d.filters)
	if err != nil {
		m.built = false
		return err
	}
	var errs []error
	m.trie.Update(func(w *topictrie.Writer[string]) {
		for _, name := range names {
			errs = append(errs, m.reload(w, name))
		}
	})
	m.built, m.seen = true, c
	return errors.Join(errs...)
}

// reload makes the trie agree with filter file name as it is now. A name
// can be removed, rewritten, or (after a chain move) hold another filter;
// a filter is dropped only if its subscribers came from this name.
func (m *Matcher) reload(w *topictrie.Writer[string], name string) error {
	if !fsname.Safe(name) {
		return nil
	}
	var filter string
	var subs []Subscriber
	data, err := m.d.filters.ReadFile(name)
	if err == nil {
		filter, subs, err = decodeFilterFile(data)
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		err = fmt.Errorf("topicdir: filter file %s: %w", name, err)
	} else {
		err = nil
	}
	if old, ok := m.names[name]; ok && (old != filter || len(subs) == 0) {
		delete(m.names, name)
		if m.files[old] == name {
			delete(m.files, old)
			w.Replace(old, nil)
		}
	}
	if len(subs) > 0 {
		m.names[name], m.files[filter] = filter, name
		entries := make([]topictrie.Sub[string], len(subs))
		for i, s := range subs {
			entries[i] = topictrie.Sub[string]{Key: s.Queue, QoS: packet.QoS(s.QoS)}
		}
		w.Replace(filter, entries)
	}
	return err
}

// Close releases the Matcher's open change log.
func (m *Matcher) Close() error {
	m.built = false
	if m.log == nil {
		return nil
	}
	err := m.log.Close()
	m.log = nil
	return err
}

// Filters returns how many filters the trie holds; for tests and metrics.
func (m *Matcher) Filters() int { return len(m.files) }

// Loads counts the times Match found the directory changed and brought its
// trie up to date. A caller that keeps something per subscriber (a queue
// descriptor) can revalidate it when the count moves: every subscriber that
// appears — a session started again under an old name included — first
// changes the directory.
func (m *Matcher) Loads() uint64 { return m.loads }
