package topictrie

import (
	"maps"
	"slices"
)

// Each calls fn for every filter that has subscribers, in filter order,
// with its subscribers (fn must not change them). In a shared trie it
// reads one version without a lock, so writers go on meanwhile; in an
// unshared one it must not run with Update. It is for observers ($SYS
// subscriptions/count, the live view), not for routing.
func (t *Trie[K]) Each(fn func(filter string, subs []Sub[K])) {
	root := t.root.Load()
	for _, level := range slices.Sorted(maps.Keys(root.children)) {
		each(root.children[level], level, fn)
	}
	if root.plus != nil {
		each(root.plus, "+", fn)
	}
	if root.hash != nil {
		each(root.hash, "#", fn)
	}
}

// each visits n, reached by filter, and the nodes under it.
func each[K comparable](n *node[K], filter string, fn func(string, []Sub[K])) {
	if len(n.subs) > 0 {
		fn(filter, n.subs)
	}
	for _, level := range slices.Sorted(maps.Keys(n.children)) {
		each(n.children[level], filter+"/"+level, fn)
	}
	if n.plus != nil {
		each(n.plus, filter+"/+", fn)
	}
	if n.hash != nil {
		each(n.hash, filter+"/#", fn)
	}
}
