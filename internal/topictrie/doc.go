// Package topictrie maps MQTT topic filters to their subscribers and finds,
// for a topic name, every subscriber whose filters match it. Both engines
// route with it: topicdir's Matcher (one per router process, rebuilt from
// the topic files) and the goroutine engine's Index (one for the broker,
// read by every router goroutine at once).
//
// # Shape
//
// A Trie has one node per filter level. Literal levels hang in a map; '+'
// and '#' have a field each, so that matching a topic is a walk over the
// topic's levels that never looks at unrelated filters: its cost depends on
// the topic and on the wildcards on its path, not on how many filters exist.
// The subscribers of a filter sit on its last node. The matching rules live
// in Matcher.walk, in one place: '+' matches exactly one level, which may be
// empty [MQTT-4.7.1-3]; '#' matches its parent level and any number of
// levels below [MQTT-4.7.1-2]; neither matches a first level starting with
// '$' [MQTT-4.7.2-1] (topic.HiddenFromWildcards). A subscriber matched by
// several filters is returned once, with the highest QoS of those filters
// [MQTT-3.3.5-1].
//
// # Writers and readers
//
// Writes go through Update (or the one-change shorthands Subscribe and
// Unsubscribe), serialised by a mutex. A Matcher reads without any lock.
//
// A trie made by NewShared is persistent (copy-on-write): a write copies the
// nodes on the paths it changes, links them into a new root and publishes it
// with one atomic store, so a Matcher in another goroutine walks a version
// that nobody changes again. Within one Update a node already copied is
// changed in place, so a batch copies each node at most once. The price is
// paid by writers: a copied node also copies its map of literal children.
//
// A trie made by New changes its nodes in place, for an owner that writes
// and matches on one goroutine (a router process rebuilding from files): no
// copying at all, but no Match may run during an Update.
//
// A Matcher keeps scratch space so that a warm Match with a reused dst does
// not allocate; it is not safe for concurrent use (one per goroutine).
package topictrie
