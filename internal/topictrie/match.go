package topictrie

import (
	"strings"

	"github.com/forkmq/forkmq/internal/topic"
)

// Matcher matches topics against a Trie. It keeps scratch space, so it is
// not safe for concurrent use: each goroutine that matches has its own.
type Matcher[K comparable] struct {
	t    *Trie[K]
	hits int       // filters with subscribers that matched, in one Match
	seen map[K]int // scratch of dedupe for many matches
}

// NewMatcher returns a Matcher of t.
func (t *Trie[K]) NewMatcher() *Matcher[K] { return &Matcher[K]{t: t} }

// smallDedupe is how many matches dedupe compares pairwise before it uses
// its map: below it, a scan beats hashing.
const smallDedupe = 16

// Match appends to dst every key whose filters match topic (a valid topic
// name), once, with the highest QoS over its matching filters
// [MQTT-3.3.5-1], and returns it. It reads one version of the trie and
// takes no lock; with a reused dst it does not allocate.
func (m *Matcher[K]) Match(name string, dst []Sub[K]) []Sub[K] {
	start := len(dst)
	m.hits = 0
	dst = m.walk(m.t.root.Load(), name, true, !topic.HiddenFromWildcards(name), dst)
	if m.hits > 1 {
		dst = m.dedupe(dst, start)
	}
	return dst
}

// walk matches the levels left in rest (none if !more) below n. wild is
// false only at the first level of a topic starting with '$'. It recurses
// only into '+' branches and follows the literal path in its loop.
func (m *Matcher[K]) walk(n *node[K], rest string, more, wild bool, dst []Sub[K]) []Sub[K] {
	for {
		if wild && n.hash != nil {
			// '#' matches the levels below and the parent level itself:
			// "a/#" matches "a" [MQTT-4.7.1-2].
			dst = m.collect(n.hash, dst)
		}
		if !more {
			return m.collect(n, dst)
		}
		// IndexByte, not strings.Cut: Cut goes through the general Index,
		// a fifth of a walk's time in profiles.
		level, next, nextMore := rest, "", false
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			level, next, nextMore = rest[:i], rest[i+1:], true
		}
		if wild && n.plus != nil {
			// '+' matches exactly one level, which may be empty
			// [MQTT-4.7.1-3].
			dst = m.walk(n.plus, next, nextMore, true, dst)
		}
		if n = n.children[level]; n == nil {
			return dst
		}
		rest, more, wild = next, nextMore, true
	}
}

func (m *Matcher[K]) collect(n *node[K], dst []Sub[K]) []Sub[K] {
	if len(n.subs) > 0 {
		m.hits++
		dst = append(dst, n.subs...)
	}
	return dst
}

// dedupe keeps one entry per key in dst[start:], with the highest QoS. One
// filter lists a key once, so only a Match with several hits calls it.
func (m *Matcher[K]) dedupe(dst []Sub[K], start int) []Sub[K] {
	out := dst[:start] // written behind the reading position only
	if len(dst)-start <= smallDedupe {
	next:
		for _, s := range dst[start:] {
			for j := start; j < len(out); j++ {
				if out[j].Key == s.Key {
					out[j].QoS = max(out[j].QoS, s.QoS)
					continue next
				}
			}
			out = append(out, s)
		}
		return out
	}
	if m.seen == nil {
		m.seen = make(map[K]int)
	}
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
