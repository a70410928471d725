package goengine

import (
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/forkmq/forkmq/internal/packet"
)

// Index is the in-memory subscription index: a trie of filter levels, one
// node per level, with '+' and '#' on their own fields so that a walk never
// looks at unrelated filters. It replaces the process engine's topic files.
//
// Readers never lock. The trie is persistent (copy-on-write): a writer
// copies the nodes on the path it changes, links them into a new root and
// publishes that root with one atomic store. A reader loads the root once and
// walks a version that no one will change again. Writers are serialised by
// mu; within one write a node already copied by that write (same gen) is
// changed in place, so a batch such as a client's cleanup copies each node
// at most once.
//
// The price of lock-free reads is paid by writers: each copy of a node also
// copies its map of literal children, so a subscription costs O(depth ×
// width of the nodes on its path). Subscriptions change rarely compared with
// publications, which is the trade this engine makes.
//
// K identifies a subscriber (the engine uses *client; tests use strings).
type Index[K comparable] struct {
	mu   sync.Mutex // serialises writers; readers never take it
	gen  uint64     // generation of the last write, under mu
	root atomic.Pointer[node[K]]
}

// Sub is one subscriber of a filter, or one match of a topic.
type Sub[K comparable] struct {
	Key K
	QoS packet.QoS
}

// node is one filter level. A node reachable from a published root is never
// changed again; only a node whose gen is the running write's may be.
type node[K comparable] struct {
	gen      uint64
	children map[string]*node[K]
	plus     *node[K]
	hash     *node[K]
	subs     []Sub[K] // of the filter ending here; replaced, never changed in place
}

func (n *node[K]) empty() bool {
	return len(n.subs) == 0 && len(n.children) == 0 && n.plus == nil && n.hash == nil
}

// NewIndex returns an empty index.
func NewIndex[K comparable]() *Index[K] {
	x := &Index[K]{}
	x.root.Store(&node[K]{})
	return x
}

// Subscribe records that key subscribes to filter (which must be valid) with
// qos. A second subscription of the same key to the same filter replaces the
// first [MQTT-3.8.4-3]; replaced says so.
func (x *Index[K]) Subscribe(filter string, key K, qos packet.QoS) (replaced bool) {
	x.write(func(w *txn[K]) {
		n := w.root
		for level := range strings.SplitSeq(filter, "/") {
			n = w.child(n, level)
		}
		subs := slices.Clone(n.subs) // readers of older versions may hold n.subs
		if i := indexOf(subs, key); i >= 0 {
			subs[i].QoS = qos
			replaced = true
		} else {
			subs = append(subs, Sub[K]{Key: key, QoS: qos})
		}
		n.subs = subs
	})
	return replaced
}

// Unsubscribe removes key's subscription to filter and reports whether there
// was one. Nodes left empty are pruned.
func (x *Index[K]) Unsubscribe(filter string, key K) bool {
	return x.Remove(key, filter) == 1
}

// Remove removes key's subscriptions to each of filters in one write and
// returns how many there were.
func (x *Index[K]) Remove(key K, filters ...string) int {
	removed := 0
	x.write(func(w *txn[K]) {
		for _, f := range filters {
			if w.remove(f, key) {
				removed++
			}
		}
	})
	return removed
}

func (x *Index[K]) write(fn func(*txn[K])) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.gen++
	w := &txn[K]{gen: x.gen}
	w.root = w.own(x.root.Load())
	fn(w)
	x.root.Store(w.root)
}

// txn is one write: the new root being built and the generation that marks
// the nodes it owns.
type txn[K comparable] struct {
	gen  uint64
	root *node[K]
	path []*node[K] // scratch of remove
}

// own returns n if this write made it, else a copy this write may change.
func (w *txn[K]) own(n *node[K]) *node[K] {
	switch {
	case n == nil:
		return &node[K]{gen: w.gen}
	case n.gen == w.gen:
		return n
	}
	c := *n
	c.gen = w.gen
	c.children = maps.Clone(n.children)
	return &c
}

// child returns an owned child of the owned node n for level, creating it
// if needed.
func (w *txn[K]) child(n *node[K], level string) *node[K] {
	switch level {
	case "+":
		n.plus = w.own(n.plus)
		return n.plus
	case "#":
		n.hash = w.own(n.hash)
		return n.hash
	}
	c := w.own(n.children[level])
	if n.children == nil {
		n.children = make(map[string]*node[K])
	}
	n.children[level] = c
	return c
}

// remove drops key from filter's node and prunes the nodes it leaves empty.
// It copies nothing when there is nothing to remove.
func (w *txn[K]) remove(filter string, key K) bool {
	n := w.root
	for level := range strings.SplitSeq(filter, "/") {
		if n = lookup(n, level); n == nil {
			return false
		}
	}
	if indexOf(n.subs, key) < 0 {
		return false
	}
	// Own the whole path, remembering it for the pruning.
	w.path = append(w.path[:0], w.root)
	n = w.root
	for level := range strings.SplitSeq(filter, "/") {
		n = w.child(n, level)
		w.path = append(w.path, n)
	}
	i := indexOf(n.subs, key)
	n.subs = slices.Concat(n.subs[:i], n.subs[i+1:]) // a new array: readers may hold the old one
	if len(n.subs) == 0 {
		n.subs = nil
	}
	// Prune from the leaf up; the root stays.
	levels := strings.Split(filter, "/")
	for i := len(w.path) - 1; i > 0 && w.path[i].empty(); i-- {
		unlink(w.path[i-1], levels[i-1])
	}
	clear(w.path)
	return true
}

func lookup[K comparable](n *node[K], level string) *node[K] {
	switch level {
	case "+":
		return n.plus
	case "#":
		return n.hash
	}
	return n.children[level]
}

func unlink[K comparable](n *node[K], level string) {
	switch level {
	case "+":
		n.plus = nil
	case "#":
		n.hash = nil
	default:
		delete(n.children, level)
		if len(n.children) == 0 {
			n.children = nil
		}
	}
}

func indexOf[K comparable](subs []Sub[K], key K) int {
	return slices.IndexFunc(subs, func(s Sub[K]) bool { return s.Key == key })
}

// Matcher matches topics against an Index. It keeps scratch space, so it is
// not safe for concurrent use: each router goroutine has its own.
type Matcher[K comparable] struct {
	x    *Index[K]
	seen map[K]int
}

// NewMatcher returns a Matcher of x.
func (x *Index[K]) NewMatcher() *Matcher[K] { return &Matcher[K]{x: x} }

// Match appends to dst every key whose filters match topic (a valid topic
// name), once, with the maximum QoS over its matching filters
// [MQTT-3.3.5-1], and returns it. It reads one consistent version of the
// index and takes no lock.
func (m *Matcher[K]) Match(topic string, dst []Sub[K]) []Sub[K] {
	start, hits := len(dst), 0
	// [MQTT-4.7.2-1] a '+' or '#' first level does not match a '$' topic.
	wild := !strings.HasPrefix(topic, "$")
	dst = walk(m.x.root.Load(), topic, true, wild, dst, &hits)
	if hits > 1 {
		dst = m.dedupe(dst, start)
	}
	return dst
}

// walk matches the levels left in rest (none if !more) below n.
func walk[K comparable](n *node[K], rest string, more, wild bool, dst []Sub[K], hits *int) []Sub[K] {
	if wild && n.hash != nil {
		// '#' matches the levels below and the parent level itself: "a/#"
		// matches "a" [MQTT-4.7.1-2].
		dst = collect(n.hash, dst, hits)
	}
	if !more {
		return collect(n, dst, hits)
	}
	level, next, nextMore := strings.Cut(rest, "/")
	if c := n.children[level]; c != nil {
		dst = walk(c, next, nextMore, true, dst, hits)
	}
	if wild && n.plus != nil {
		// '+' matches exactly one level, which may be empty [MQTT-4.7.1-3].
		dst = walk(n.plus, next, nextMore, true, dst, hits)
	}
	return dst
}

func collect[K comparable](n *node[K], dst []Sub[K], hits *int) []Sub[K] {
	if len(n.subs) > 0 {
		*hits++
		dst = append(dst, n.subs...)
	}
	return dst
}

// dedupe keeps one entry per key in dst[start:], with the maximum QoS. The
// map is the Matcher's scratch, so a warm Matcher does not allocate.
func (m *Matcher[K]) dedupe(dst []Sub[K], start int) []Sub[K] {
	if m.seen == nil {
		m.seen = make(map[K]int)
	}
	out := dst[:start] // written behind the reading position only
	for _, s := range dst[start:] {
		if j, ok := m.seen[s.Key]; ok {
			out[j].QoS = max(out[j].QoS, s.QoS)
			continue
		}
		m.seen[s.Key] = len(out)
		out = append(out, s)
	}
	clear(m.seen)
	return out
}
