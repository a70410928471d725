package goengine

import (
	"github.com/forkmq/forkmq/internal/packet"
	"github.com/forkmq/forkmq/internal/topictrie"
)

// Index is the in-memory subscription index: a copy-on-write topic trie
// (package topictrie, made by NewShared). Router goroutines match in it
// without any lock while others subscribe: a writer publishes a new version
// with one atomic store, and a reader walks a version nobody changes again.
// Writers are serialised; a batch (Remove, a client's cleanup) copies each
// node at most once.
//
// K identifies a subscriber (the engine uses *session; tests use strings).
type Index[K comparable] struct {
	root *topictrie.Trie[K]
}

// Sub is one subscriber of a filter, or one match of a topic.
type Sub[K comparable] = topictrie.Sub[K]

// Matcher matches topics against an Index. It keeps scratch space, so it is
// not safe for concurrent use: each router goroutine has its own.
type Matcher[K comparable] = topictrie.Matcher[K]

// NewIndex returns an empty index.
func NewIndex[K comparable]() *Index[K] {
	return &Index[K]{root: topictrie.NewShared[K]()}
}

// Subscribe records that key subscribes to filter (which must be valid) with
// qos. A second subscription of the same key to the same filter replaces the
// first [MQTT-3.8.4-3]; replaced says so.
func (x *Index[K]) Subscribe(filter string, key K, qos packet.QoS) (replaced bool) {
	return x.root.Subscribe(filter, key, qos)
}

// Unsubscribe removes key's subscription to filter and reports whether there
// was one. Nodes left empty are pruned.
func (x *Index[K]) Unsubscribe(filter string, key K) bool {
	return x.root.Unsubscribe(filter, key)
}

// Remove removes key's subscriptions to each of filters in one write and
// returns how many there were.
func (x *Index[K]) Remove(key K, filters ...string) int {
	removed := 0
	x.root.Update(func(w *topictrie.Writer[K]) {
		for _, f := range filters {
			if w.Unsubscribe(f, key) {
				removed++
			}
		}
	})
	return removed
}

// Empty reports whether the index holds no subscription.
func (x *Index[K]) Empty() bool { return x.root.Empty() }

// NewMatcher returns a Matcher of x. Its Match appends every key whose
// filters match a topic, once, at the highest QoS of those filters
// [MQTT-3.3.5-1], reading one version of the index without a lock.
func (x *Index[K]) NewMatcher() *Matcher[K] { return x.root.NewMatcher() }
