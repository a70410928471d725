package topictest

import (
	"strings"
	"testing"
)

// Reference reports whether filter matches topic, the slow and obvious way:
// split both at '/' and compare level by level. Both must be valid. It
// shares no code with the matchers it checks.
func Reference(filter, topic string) bool {
	if strings.HasPrefix(topic, "$") && (strings.HasPrefix(filter, "+") || strings.HasPrefix(filter, "#")) {
		return false // [MQTT-4.7.2-1]
	}
	f, t := strings.Split(filter, "/"), strings.Split(topic, "/")
	for i, level := range f {
		if level == "#" {
			return true // this level, none included, and all below [MQTT-4.7.1-2]
		}
		if i >= len(t) || (level != "+" && level != t[i]) {
			return false // '+' stands for exactly one level [MQTT-4.7.1-3]
		}
	}
	return len(f) == len(t)
}

// CheckFilters checks an index of filters (a trie, the topic directory, an
// engine's subscriptions). add is called once with every filter of the
// table; then, for every topic of the table, match must return each filter
// that matches the topic, once, and no other. A row of the table that
// fails is reported with its spec reference; any other pair is judged by
// Reference.
func CheckFilters(t testing.TB, add func(filter string), match func(topic string) []string) {
	t.Helper()
	check(t, "topic", Filters(), Topics(), add, match, func(item, query string) pair { return pair{item, query} })
}

// CheckTopics checks a store of topics (retained messages) the other way
// round: add is called once with every topic of the table; then, for every
// filter, match must return each topic the filter matches, once, and no
// other.
func CheckTopics(t testing.TB, add func(topic string), match func(filter string) []string) {
	t.Helper()
	check(t, "filter", Topics(), Filters(), add, match, func(item, query string) pair { return pair{query, item} })
}

// check adds every item, then runs every query; of says which pair of
// filter and topic an item and a query make.
func check(t testing.TB, kind string, items, queries []string, add func(string), match func(string) []string, of func(item, query string) pair) {
	t.Helper()
	for _, item := range items {
		add(item)
	}
	rows := index()
	for _, query := range queries {
		compare(t, kind, query, match(query), items, func(item string) (bool, string) {
			return judge(rows, of(item, query))
		})
	}
}

type pair struct{ filter, topic string }

func index() map[pair]Case {
	rows := map[pair]Case{}
	for _, c := range Cases() {
		rows[pair{c.Filter, c.Topic}] = c
	}
	return rows
}

// judge says whether filter matches topic, and why: the table's row if it
// has one, else the reference.
func judge(rows map[pair]Case, p pair) (bool, string) {
	if c, ok := rows[p]; ok {
		return c.Match, c.Spec
	}
	return Reference(p.filter, p.topic), "Reference"
}

// compare checks what one query returned against every item it may return.
func compare(t testing.TB, kind, query string, got, universe []string, want func(item string) (bool, string)) {
	t.Helper()
	count := map[string]int{}
	for _, g := range got {
		count[g]++
	}
	for _, item := range universe {
		w, why := want(item)
		n := count[item]
		delete(count, item)
		switch {
		case n > 1:
			t.Errorf("%s %q: %q returned %d times, want once [MQTT-3.3.5-1] [%s]", kind, query, item, n, why)
		case (n == 1) != w:
			t.Errorf("%s %q: %q matched = %v, want %v [%s]", kind, query, item, n == 1, w, why)
		}
	}
	for item := range count {
		t.Errorf("%s %q: returned %q, which was never added", kind, query, item)
	}
}
