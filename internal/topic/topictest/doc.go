// Package topictest holds the one table of MQTT 3.1.1 §4.7 topic matching
// cases that every test of matching in forkmq uses: topic.Match, the topic
// trie, topicdir's Matcher, goengine's Index and the retained store's Match.
// Each row names a filter, a topic name, whether the filter matches the
// name, and the normative ID or section of the specification that says so.
//
// Cases covers the spec's examples (§4.7.1.2, §4.7.1.3, §4.7.2, §4.7.3) and
// the edges implementations get wrong: '#' matching its parent level, '+'
// matching an empty level, leading and trailing '/', topics starting with
// '$'. Reference is a deliberately naive matcher over split levels, so that
// a test can also check the pairs the table does not list (every filter of
// the table against every topic) without trusting the code under test.
// CheckFilters and CheckTopics run that check for an index of filters and
// for a store of topics, the two shapes matching takes here.
//
// Bench runs the one Match benchmark (exact, '+' and '#' filters among 100
// and 10,000 unrelated ones, from Population) on any matcher, so that the
// benchmarks of every matcher measure the same thing.
//
// The package is for tests; it imports "testing" as testing/fstest does, and
// no package of the broker imports it outside tests.
package topictest
