package topictrie

import (
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/forkmq/forkmq/internal/packet"
)

// Sub is one subscriber of a filter, or one match of a topic: who, and the
// QoS granted.
type Sub[K comparable] struct {
	Key K
	QoS packet.QoS
}

// Trie maps topic filters to subscribers identified by K (see the package
// documentation for New and NewShared).
type Trie[K comparable] struct {
	mu     sync.Mutex // serialises writers; Match never takes it
	shared bool       // copy-on-write: each Update publishes a new version
	gen    uint64     // generation of the last Update, under mu
	root   atomic.Pointer[node[K]]
}

// node is one filter level. In a shared trie, a node reachable from a
// published root is never changed again; only a node whose gen is the
// running Update's may be.
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

// New returns an empty trie whose writes change it in place: Match and
// Update must not run at the same time.
func New[K comparable]() *Trie[K] { return newTrie[K](false) }

// NewShared returns an empty copy-on-write trie: Matchers in any goroutine
// may match while another goroutine writes.
func NewShared[K comparable]() *Trie[K] { return newTrie[K](true) }

func newTrie[K comparable](shared bool) *Trie[K] {
	t := &Trie[K]{shared: shared}
	t.root.Store(&node[K]{})
	return t
}

// Empty reports whether the trie holds no subscription.
func (t *Trie[K]) Empty() bool { return t.root.Load().empty() }

// Update runs fn as one write. The Writer is valid only inside fn.
func (t *Trie[K]) Update(fn func(*Writer[K])) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.shared {
		t.gen++ // nodes of earlier versions now have an older gen
	}
	w := &Writer[K]{gen: t.gen, root: t.root.Load()}
	fn(w)
	t.root.Store(w.root) // the same root if fn changed nothing
}

// Subscribe is Update with one Writer.Subscribe.
func (t *Trie[K]) Subscribe(filter string, key K, qos packet.QoS) (replaced bool) {
	t.Update(func(w *Writer[K]) { replaced = w.Subscribe(filter, key, qos) })
	return replaced
}

// Unsubscribe is Update with one Writer.Unsubscribe.
func (t *Trie[K]) Unsubscribe(filter string, key K) (existed bool) {
	t.Update(func(w *Writer[K]) { existed = w.Unsubscribe(filter, key) })
	return existed
}

// Writer changes a trie inside Update.
type Writer[K comparable] struct {
	gen  uint64
	root *node[K]   // owned once the first change copied it
	path []*node[K] // scratch of edit
}

// Subscribe records that key subscribes to filter (a valid topic filter)
// with qos. A second subscription of the same key to the same filter
// replaces the first [MQTT-3.8.4-3]; replaced says so.
func (w *Writer[K]) Subscribe(filter string, key K, qos packet.QoS) (replaced bool) {
	w.edit(filter, func(old []Sub[K]) ([]Sub[K], bool) {
		subs := slices.Clone(old)
		i := indexOf(subs, key)
		if replaced = i >= 0; replaced {
			subs[i].QoS = qos
		} else {
			subs = append(subs, Sub[K]{Key: key, QoS: qos})
		}
		return subs, true
	})
	return replaced
}

// Unsubscribe removes key's subscription to filter and reports whether
// there was one. Nodes left empty are pruned.
func (w *Writer[K]) Unsubscribe(filter string, key K) (existed bool) {
	w.edit(filter, func(old []Sub[K]) ([]Sub[K], bool) {
		i := indexOf(old, key)
		if existed = i >= 0; !existed {
			return nil, false
		}
		return slices.Concat(old[:i], old[i+1:]), true
	})
	return existed
}

// Replace makes subs the whole list of filter's subscribers; an empty list
// removes the filter. A key listed twice is kept once, at its highest QoS.
// The trie keeps its own copy of subs.
func (w *Writer[K]) Replace(filter string, subs []Sub[K]) {
	w.edit(filter, func(old []Sub[K]) ([]Sub[K], bool) {
		var out []Sub[K]
		for _, s := range subs {
			if i := indexOf(out, s.Key); i >= 0 {
				out[i].QoS = max(out[i].QoS, s.QoS)
			} else {
				out = append(out, s)
			}
		}
		return out, len(old) > 0 || len(out) > 0
	})
}

// edit sets filter's subscribers to what change makes of the current ones.
// change must not modify its argument (readers of older versions may hold
// it). Nothing is copied when change reports no change.
func (w *Writer[K]) edit(filter string, change func(old []Sub[K]) ([]Sub[K], bool)) {
	n := w.root
	for level := range strings.SplitSeq(filter, "/") {
		if n = n.lookup(level); n == nil {
			break
		}
	}
	var old []Sub[K]
	if n != nil {
		old = n.subs
	}
	subs, changed := change(old)
	if !changed {
		return
	}
	if len(subs) == 0 {
		subs = nil
	}
	// Own the whole path from the root, remembering it for the pruning.
	levels := strings.Split(filter, "/")
	w.root = w.own(w.root)
	w.path = append(w.path[:0], w.root)
	n = w.root
	for _, level := range levels {
		n = w.child(n, level)
		w.path = append(w.path, n)
	}
	n.subs = subs
	// Prune from the leaf up; the root stays.
	for i := len(w.path) - 1; i > 0 && w.path[i].empty(); i-- {
		w.path[i-1].unlink(levels[i-1])
	}
	clear(w.path)
}

// own returns n if this write may change it, else a copy it may change.
func (w *Writer[K]) own(n *node[K]) *node[K] {
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
func (w *Writer[K]) child(n *node[K], level string) *node[K] {
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

func (n *node[K]) lookup(level string) *node[K] {
	switch level {
	case "+":
		return n.plus
	case "#":
		return n.hash
	}
	return n.children[level]
}

func (n *node[K]) unlink(level string) {
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
	for i := range subs {
		if subs[i].Key == key {
			return i
		}
	}
	return -1
}
