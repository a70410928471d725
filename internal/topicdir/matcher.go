package topicdir

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
)

// Matcher routes topics to subscribers from an in-memory trie of filter
// levels kept in step with the directory. It is not safe for concurrent use:
// use one per goroutine (a router process needs one).
type Matcher struct {
	d     *Dir
	root  *node
	names map[string]string // filter file name -> filter it held when read

	built bool
	seen  uint64   // counter value the trie reflects
	epoch uint64   // epoch of the change log that log is open on
	log   *os.File // change log, read from off on
	off   int64
	dedup map[string]int // scratch for Match
}

// node is one filter level. Literal levels are in children; '+' and '#'
// have their own fields, so a walk never looks at unrelated filters.
type node struct {
	children map[string]*node
	plus     *node
	hash     *node
	subs     []Subscriber // of the filter ending here
	file     string       // the filter file subs came from
}

// NewMatcher returns a Matcher for d. It reads the directory on first use.
func (d *Dir) NewMatcher() *Matcher {
	return &Matcher{d: d, root: &node{}, names: map[string]string{}}
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
		err = m.refresh(c)
	}
	start, hits := len(dst), 0
	// [MQTT-4.7.2-1] topics starting with '$' are not matched by a first
	// level '+' or '#'.
	wild := !strings.HasPrefix(topic, "$")
	dst = m.walk(m.root, topic, true, wild, dst, &hits)
	if hits > 1 {
		dst = m.dedupe(dst, start)
	}
	return dst, err
}

// walk matches the levels left in rest (none if !more) below n.
func (m *Matcher) walk(n *node, rest string, more, wild bool, dst []Subscriber, hits *int) []Subscriber {
	if wild && n.hash != nil {
		// '#' matches the rest, and the parent level: "a/#" matches "a"
		// [MQTT-4.7.1-2].
		dst = collect(n.hash, dst, hits)
	}
	if !more {
		return collect(n, dst, hits)
	}
	level, next, nextMore := rest, "", false
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		level, next, nextMore = rest[:i], rest[i+1:], true
	}
	if c := n.children[level]; c != nil {
		dst = m.walk(c, next, nextMore, true, dst, hits)
	}
	if wild && n.plus != nil {
		dst = m.walk(n.plus, next, nextMore, true, dst, hits)
	}
	return dst
}

func collect(n *node, dst []Subscriber, hits *int) []Subscriber {
	if len(n.subs) > 0 {
		*hits++
		dst = append(dst, n.subs...)
	}
	return dst
}

// dedupe keeps one entry per queue in dst[start:], with the maximum QoS.
func (m *Matcher) dedupe(dst []Subscriber, start int) []Subscriber {
	out := dst[:start]
	if len(dst)-start <= 16 {
	next:
		for _, s := range dst[start:] {
			for j := start; j < len(out); j++ {
				if out[j].Queue == s.Queue {
					out[j].QoS = max(out[j].QoS, s.QoS)
					continue next
				}
			}
			out = append(out, s)
		}
		return out
	}
	if m.dedup == nil {
		m.dedup = map[string]int{}
	}
	for _, s := range dst[start:] {
		if j, ok := m.dedup[s.Queue]; ok {
			out[j].QoS = max(out[j].QoS, s.QoS)
			continue
		}
		m.dedup[s.Queue] = len(out)
		out = append(out, s)
	}
	clear(m.dedup)
	return out
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
	data = data[:bytes.LastIndexByte(data, '\n')+1]
	m.off += int64(len(data))
	m.seen = c
	var errs []error
	done := map[string]bool{}
	for line := range strings.Lines(string(data)) {
		name := strings.TrimSuffix(line, "\n")
		if done[name] {
			continue
		}
		done[name] = true
		errs = append(errs, m.reload(name))
	}
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
	m.log, m.epoch, m.off = f, epoch, int64(bytes.LastIndexByte(data, '\n')+1)
	m.root, m.names = &node{}, map[string]string{}
	names, err := readNames(m.d.filters)
	if err != nil {
		m.built = false
		return err
	}
	var errs []error
	for _, name := range names {
		errs = append(errs, m.reload(name))
	}
	m.built, m.seen = true, c
	return errors.Join(errs...)
}

func parseLogHeader(data []byte) (uint64, error) {
	line, _, _ := bytes.Cut(data, []byte("\n"))
	rest, ok := bytes.CutPrefix(line, []byte(logMagic))
	if !ok {
		return 0, formatError("change log header", string(line))
	}
	return strconv.ParseUint(string(rest), 10, 64)
}

// reload makes the trie agree with filter file name as it is now. A name
// can be removed, rewritten, or (after a chain move) hold another filter;
// a filter is dropped only if the trie still has it from this name.
func (m *Matcher) reload(name string) error {
	if !validFileName(name) {
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
		m.remove(m.root, old, name)
	}
	if len(subs) > 0 {
		m.names[name] = filter
		m.insert(filter, name, subs)
	}
	return err
}

func (m *Matcher) insert(filter, file string, subs []Subscriber) {
	n := m.root
	for level := range strings.SplitSeq(filter, "/") {
		next := &n.children
		var c **node
		switch level {
		case "+":
			c = &n.plus
		case "#":
			c = &n.hash
		default:
			if *next == nil {
				*next = map[string]*node{}
			}
			if (*next)[level] == nil {
				(*next)[level] = &node{}
			}
			n = (*next)[level]
			continue
		}
		if *c == nil {
			*c = &node{}
		}
		n = *c
	}
	n.subs, n.file = subs, file
}

// remove drops filter's subscribers if they came from file, and prunes the
// nodes left empty. It reports whether it deleted n's child.
func (m *Matcher) remove(n *node, filter, file string) bool {
	level, rest, more := strings.Cut(filter, "/")
	var c *node
	switch level {
	case "+":
		c = n.plus
	case "#":
		c = n.hash
	default:
		c = n.children[level]
	}
	if c == nil {
		return false
	}
	if !more {
		if c.file == file {
			c.subs, c.file = nil, ""
		}
	} else if !m.remove(c, rest, file) {
		return false
	}
	if len(c.subs) > 0 || len(c.children) > 0 || c.plus != nil || c.hash != nil {
		return false
	}
	switch level {
	case "+":
		n.plus = nil
	case "#":
		n.hash = nil
	default:
		delete(n.children, level)
	}
	return true
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
func (m *Matcher) Filters() int { return len(m.names) }
