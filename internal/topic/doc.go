// Package topic validates MQTT 3.1.1 topic names and topic filters and
// matches names against filters.
//
// A topic name is what a PUBLISH carries; a topic filter is what a SUBSCRIBE
// or UNSUBSCRIBE carries and may hold the wildcards '+' (exactly one level)
// and '#' (this level and every level below it). Levels are separated by '/';
// empty levels are real levels, so "a//b" has three of them.
//
// The package imports only the standard library and is shared by the codec
// (internal/packet), the routing engines and the topic directory.
package topic
