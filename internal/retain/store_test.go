package retain

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/forkmq/forkmq/internal/topic/topictest"
)

// TestSetGetDelete runs steps against one store and checks Get and Count
// after each.
func TestSetGetDelete(t *testing.T) {
	type want struct {
		ok      bool
		qos     byte
		payload string
	}
	steps := []struct {
		spec    string
		topic   string
		qos     byte
		payload string
		want    want
		count   int
	}{
		{"MQTT-3.3.1-5 store", "a/b", 1, "one", want{true, 1, "one"}, 1},
		{"MQTT-3.3.1-5 replace", "a/b", 2, "two", want{true, 2, "two"}, 1},
		{"MQTT-3.3.1-7 QoS 0 replaces", "a/b", 0, "zero", want{true, 0, "zero"}, 1},
		{"another topic", "a/c", 1, "c", want{true, 1, "c"}, 2},
		{"MQTT-3.3.1-10 empty payload deletes", "a/b", 1, "", want{}, 1},
		{"MQTT-3.3.1-11 empty payload is not stored", "a/b", 0, "", want{}, 1},
		{"delete what is not there", "x", 0, "", want{}, 1},
		{"store again", "a/b", 2, "back", want{true, 2, "back"}, 2},
		{"binary payload", "bin", 0, "\x00\n\xff", want{true, 0, "\x00\n\xff"}, 3},
	}
	s := openAt(t, storeDir(t))
	for _, st := range steps {
		set(t, s, st.topic, st.qos, st.payload)
		m, ok, err := s.Get(st.topic)
		if err != nil {
			t.Fatalf("[%s] Get: %v", st.spec, err)
		}
		if got := (want{ok, m.QoS, string(m.Payload)}); got != st.want {
			t.Errorf("[%s] Get(%q) = %+v, want %+v", st.spec, st.topic, got, st.want)
		}
		if n, err := s.Count(); err != nil || n != st.count {
			t.Errorf("[%s] Count = %d, %v; want %d", st.spec, n, err, st.count)
		}
	}
}

func TestInvalid(t *testing.T) {
	s := openAt(t, storeDir(t))
	sets := []struct {
		name string
		m    Message
	}{
		{"empty topic MQTT-4.7.3-1", Message{Topic: "", Payload: []byte("x")}},
		{"wildcard in name MQTT-3.3.2-2", Message{Topic: "a/+", Payload: []byte("x")}},
		{"'#' in name MQTT-3.3.2-2", Message{Topic: "a/#", Payload: []byte("x")}},
		{"NUL MQTT-1.5.3-2", Message{Topic: "a\x00b", Payload: []byte("x")}},
		{"bad UTF-8 MQTT-1.5.3-1", Message{Topic: "a\xffb", Payload: []byte("x")}},
		{"too long", Message{Topic: strings.Repeat("a", 65536), Payload: []byte("x")}},
		{"QoS 3", Message{Topic: "a", QoS: 3, Payload: []byte("x")}},
	}
	for _, tc := range sets {
		if err := s.Set(tc.m); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Set = %v, want ErrInvalid", tc.name, err)
		}
	}
	for _, f := range []string{"", "a/#/b", "a+", "#a", "a\x00"} {
		if err := s.Match(f, func(Message) error { return nil }); !errors.Is(err, ErrInvalid) {
			t.Errorf("Match(%q) = %v, want ErrInvalid", f, err)
		}
	}
	if _, _, err := s.Get("a/+"); !errors.Is(err, ErrInvalid) {
		t.Errorf("Get(a/+) = %v, want ErrInvalid", err)
	}
	if n, _ := s.Count(); n != 0 {
		t.Errorf("Count = %d after only invalid Sets", n)
	}
}

// TestMatchTable runs the §4.7 table: every topic of the table retained,
// every filter of it matched [MQTT-3.3.1-6].
func TestMatchTable(t *testing.T) {
	s := openAt(t, storeDir(t))
	topictest.CheckTopics(t, func(topic string) { set(t, s, topic, 0, topic) }, func(filter string) []string {
		var topics []string
		for topic, payload := range matchAll(t, s, filter) {
			if payload != topic {
				t.Errorf("Match(%q): %q carries the payload of %q", filter, topic, payload)
			}
			topics = append(topics, topic)
		}
		return topics
	})
}

// TestMatchHashedNames: topics too long for a plain file name are found by
// exact filters and by wildcards, from the prefix their name keeps or, when
// that says too little, from their header.
func TestMatchHashedNames(t *testing.T) {
	long := strings.Repeat("very/long/", 30) + "end"
	s := openAt(t, storeDir(t))
	for _, topic := range []string{long, "$" + long, "very/short", "a/b"} {
		set(t, s, topic, 0, topic)
	}
	tests := []struct {
		spec   string
		filter string
		want   []string
	}{
		{"exact", long, []string{long}},
		{"exact, absent", long + "/x", nil},
		{"MQTT-4.7.1-2 by prefix", "very/long/+/#", []string{long}},
		{"MQTT-4.7.1-3 by its end", strings.Repeat("+/", 60) + "end", []string{long}},
		{"MQTT-4.7.1-2 ruled out by the prefix", "very/short/#", []string{"very/short"}},
		{"MQTT-4.7.2-1 '#' skips a long '$' topic", "#", []string{long, "very/short", "a/b"}},
		{"MQTT-4.7.2-1 literal '$' level", "$very/#", []string{"$" + long}},
	}
	for _, tc := range tests {
		got := matchAll(t, s, tc.filter)
		want := map[string]string{}
		for _, topic := range tc.want {
			want[topic] = topic
		}
		if !maps.Equal(got, want) {
			t.Errorf("[%s] Match(%.30q) = %.30q, want %.30q", tc.spec, tc.filter, slices.Sorted(maps.Keys(got)), tc.want)
		}
	}
}

// TestReadsPreviousVersion opens a store as the previous version left it
// (names and files written by hand): every message is found, and setting a
// topic again replaces its file instead of adding a second one.
func TestReadsPreviousVersion(t *testing.T) {
	long := strings.Repeat("Ab/", 80) + "end"
	files := map[string]string{ // name -> topic, as version 1 named them
		"t_sport,tennis,player1": "sport/tennis/player1",
		"t_%53port":              "Sport",
		"t_%24%53%59%53,x":       "$SYS/x",
		"t_,":                    "/",
		"h_%41b,%41b,%41b,%41b,%41b,%41b,%41b,%41b,%41b,%41b,%41b,%41b,%41b.05ffe5ff976194dd30edfb7fe47f5922": long,
	}
	path := storeDir(t)
	if err := os.MkdirAll(filepath.Join(path, msgsName), 0o700); err != nil {
		t.Fatal(err)
	}
	for name, topic := range files {
		data := fmt.Sprintf("forkmq-retained v1\ntopic %q\nqos 1 size %d\n%s", topic, len(topic), topic)
		if err := os.WriteFile(filepath.Join(path, msgsName, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s := openAt(t, path)
	for _, topic := range files {
		if m, ok, err := s.Get(topic); !ok || err != nil || string(m.Payload) != topic {
			t.Errorf("Get(%.20q) = %q, %v, %v", topic, m.Payload, ok, err)
		}
		set(t, s, topic, 2, "new "+topic)
	}
	if got := matchAll(t, s, "+/+"); !maps.Equal(got, map[string]string{"/": "new /"}) {
		t.Errorf("Match(+/+) = %v", got)
	}
	if names, err := s.readNames(msgsName); err != nil || len(names) != len(files) {
		t.Errorf("msgs/ = %q, %v; want the %d files, replaced", names, err, len(files))
	}
}

// TestMatchOpensOnlyCandidates damages the files of topics a filter cannot
// match: Match reports damaged files it opens, so it must not open them.
func TestMatchOpensOnlyCandidates(t *testing.T) {
	path := storeDir(t)
	s := openAt(t, path)
	other := []string{"b/1", "b/2", "c", strings.Repeat("b/", 120) + "x"}
	for _, topic := range append([]string{"a/1", "a/2/3", "a"}, other...) {
		set(t, s, topic, 1, topic)
	}
	for _, topic := range other {
		if err := os.WriteFile(filepath.Join(path, msgsName, s.names.Base(topic)), []byte("garbage"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if got := matchAll(t, s, "a/#"); len(got) != 3 {
		t.Errorf("Match(a/#) = %v", got)
	}
	err := s.Match("#", func(Message) error { return nil })
	if !errors.Is(err, ErrCorrupt) {
		t.Errorf("Match(#) over damaged files = %v, want ErrCorrupt", err)
	}
}

func TestMatchStopsOnCallbackError(t *testing.T) {
	s := openAt(t, storeDir(t))
	set(t, s, "a/1", 0, "x")
	set(t, s, "a/2", 0, "x")
	stop := errors.New("stop")
	calls := 0
	err := s.Match("a/+", func(Message) error { calls++; return stop })
	if !errors.Is(err, stop) || calls != 1 {
		t.Errorf("Match = %v after %d calls, want stop after 1", err, calls)
	}
}

// TestHostileTopics stores topics that would be dangerous as paths and
// checks that every file stays in msgs/, that no two topics share a file,
// and that each reads back.
func TestHostileTopics(t *testing.T) {
	topics := []string{
		"..", ".", "../..", "../../../etc/passwd", "/", "//", "a/../../b", "./a",
		"~", "~root", ".hidden", "-rf", "a\\b", "C:\\x", "%41", "A", "a", "%2F",
		",", "t_x", "h_x", "x=1", "a=1", " ", "\t\n\r", "\u00e9t\u00e9", "e\u0301t\u00e9",
		"日本/語", "\U0001F600", "\u200b", "\x7f", "lock", "msgs",
		strings.Repeat("x", 65535),
		strings.Repeat("/", 65535),
		strings.Repeat(".", 65535),
		strings.Repeat("é", 32767),
		strings.Repeat("x", 65534) + "y",
		strings.Repeat("..", 100),
		strings.Repeat("a", 198), strings.Repeat("a", 199), strings.Repeat("a", 200),
		strings.Repeat("a", 197) + "A", strings.Repeat("a", 196) + "A",
	}
	path := storeDir(t)
	s := openAt(t, path)
	for _, topic := range topics {
		set(t, s, topic, 2, topic)
	}
	if n, err := s.Count(); err != nil || n != len(topics) {
		t.Errorf("Count = %d, %v; want %d", n, err, len(topics))
	}
	for _, topic := range topics {
		m, ok, err := s.Get(topic)
		if err != nil || !ok || m.Topic != topic || string(m.Payload) != topic {
			t.Errorf("Get(%.20q) = %.20q, %v, %v", topic, m.Payload, ok, err)
		}
	}
	if got := matchAll(t, s, "#"); len(got) != len(topics) {
		t.Errorf("Match(#) found %d topics, want %d", len(got), len(topics))
	}
	// Every file is a regular file directly in msgs/ (plus lock), with a
	// name that fits NAME_MAX; nothing appeared next to the directory.
	err := filepath.WalkDir(filepath.Dir(path), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(path, p)
		switch {
		case d.IsDir() && (p == filepath.Dir(path) || rel == "." || rel == msgsName):
		case rel == lockName:
		case filepath.Dir(rel) == msgsName && d.Type().IsRegular() && len(d.Name()) <= 255 && d.Name()[0] != '.':
		default:
			t.Errorf("unexpected %s", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	names, _ := s.readNames(msgsName)
	if len(names) != len(topics) {
		t.Errorf("%d files for %d topics", len(names), len(topics))
	}
	for _, topic := range topics {
		set(t, s, topic, 0, "")
	}
	if names, _ := s.readNames(msgsName); len(names) != 0 {
		t.Errorf("files left after deleting every topic: %.3q", names)
	}
}

func TestHashCollision(t *testing.T) {
	long := func(i int) string { return strings.Repeat("x/", 150) + string(rune('a'+i)) }
	path := storeDir(t)
	s := openAt(t, path)
	collide(s)
	for i := range 4 {
		set(t, s, long(i), byte(i%3), long(i))
	}
	base := s.names.Base(long(0))
	files := func() []string {
		t.Helper()
		names, err := s.readNames(msgsName)
		if err != nil {
			t.Fatal(err)
		}
		return names
	}
	if want := []string{base, base + "=1", base + "=2", base + "=3"}; !slices.Equal(files(), want) {
		t.Fatalf("files = %q, want %q", files(), want)
	}
	check := func(live ...int) {
		t.Helper()
		want := map[string]string{}
		for _, i := range live {
			want[long(i)] = long(i)
			if m, ok, err := s.Get(long(i)); !ok || err != nil || string(m.Payload) != long(i) {
				t.Errorf("Get(long %d) = %v, %v", i, ok, err)
			}
		}
		if got := matchAll(t, s, "x/#"); !maps.Equal(got, want) {
			t.Errorf("Match(x/#) found %d topics, want %d", len(got), len(want))
		}
		if n, err := s.Count(); n != len(live) || err != nil {
			t.Errorf("Count = %d, %v; want %d", n, err, len(live))
		}
	}
	check(0, 1, 2, 3)
	set(t, s, long(1), 0, "") // slot 1 becomes a tombstone
	check(0, 2, 3)
	set(t, s, long(2), 0, "") // slot 2 too
	check(0, 3)
	if _, ok, _ := s.Get(long(1)); ok {
		t.Error("deleted topic still found")
	}
	set(t, s, long(5), 0, long(5)) // reuses slot 1
	if data, _ := os.ReadFile(filepath.Join(path, msgsName, base+"=1")); !bytes.Contains(data, []byte(long(5))) {
		t.Errorf("new topic did not reuse the first tombstone")
	}
	check(0, 3, 5)
	set(t, s, long(3), 0, "") // last: removes slot 3 and the tombstone in 2
	if want := []string{base, base + "=1"}; !slices.Equal(files(), want) {
		t.Errorf("files = %q, want %q", files(), want)
	}
	check(0, 5)
	set(t, s, long(0), 0, "")
	set(t, s, long(5), 0, "")
	if len(files()) != 0 {
		t.Errorf("files left: %q", files())
	}
}

// TestSetUnderLock takes the path Set falls back to when its slot keeps
// changing: the whole write under the lock.
func TestSetUnderLock(t *testing.T) {
	defer func(n int) { maxTries = n }(maxTries)
	maxTries = 1
	s := openAt(t, storeDir(t))
	collide(s)
	long := strings.Repeat("z/", 120)
	for _, topic := range []string{"a", "a", long + "1", long + "2", long + "1"} {
		set(t, s, topic, 1, topic)
	}
	if got := matchAll(t, s, "#"); len(got) != 3 || got[long+"2"] != long+"2" {
		t.Errorf("Match(#) = %d topics", len(got))
	}
}

func TestReopen(t *testing.T) {
	path := storeDir(t)
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	set(t, s, "keep/me", 1, "kept")
	set(t, s, strings.Repeat("long/", 50), 2, "long")
	set(t, s, "gone", 1, "x")
	set(t, s, "gone", 1, "")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// A writer killed mid-write leaves a temporary file; one of a live
	// writer is fresh or locked.
	stale := filepath.Join(path, ".t_keep,me123")
	fresh := filepath.Join(path, ".t_keep,me456")
	for _, p := range []string{stale, fresh} {
		if err := os.WriteFile(p, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-2 * staleTemp)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}
	s = openAt(t, path)
	if _, err := os.Stat(stale); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("stale temporary file not removed: %v", err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("fresh temporary file removed: %v", err)
	}
	want := map[string]string{"keep/me": "kept", strings.Repeat("long/", 50): "long"}
	if got := matchAll(t, s, "#"); !maps.Equal(got, want) {
		t.Errorf("after reopen: %v", got)
	}
	if m, ok, err := s.Get("keep/me"); !ok || err != nil || m.QoS != 1 {
		t.Errorf("Get after reopen = %+v, %v, %v", m, ok, err)
	}
}

func TestLargePayload(t *testing.T) {
	s := openAt(t, storeDir(t))
	payload := makePayload("big/one", 1, 1, 16<<20)
	if err := s.Set(Message{Topic: "big/one", QoS: 1, Payload: payload}); err != nil {
		t.Fatal(err)
	}
	m, ok, err := s.Get("big/one")
	if err != nil || !ok || !bytes.Equal(m.Payload, payload) {
		t.Fatalf("Get: %d bytes, %v, %v", len(m.Payload), ok, err)
	}
	for _, filter := range []string{"big/one", "big/+"} {
		n := 0
		err = s.Match(filter, func(m Message) error {
			n++
			if m.Payload != nil {
				t.Errorf("Match(%s) loaded the payload", filter)
			}
			r, size := m.Open()
			defer r.Close()
			got, err := io.ReadAll(r)
			if err != nil || size != int64(len(payload)) || !bytes.Equal(got, payload) {
				t.Errorf("Match(%s): size %d, read %d bytes, %v", filter, size, len(got), err)
			}
			return nil
		})
		if err != nil || n != 1 {
			t.Errorf("Match(%s) = %v after %d calls", filter, err, n)
		}
	}
}

func TestMessageOpenOfPayload(t *testing.T) {
	r, size := Message{Payload: []byte("abc")}.Open()
	if got, _ := io.ReadAll(r); string(got) != "abc" || size != 3 {
		t.Errorf("Open = %q, %d", got, size)
	}
}

// SetVolatile stores and replaces like Set (only the sync differs): a
// reader cannot tell which wrote a message, and either replaces the other.
func TestSetVolatileIsLikeSet(t *testing.T) {
	s := openAt(t, storeDir(t))
	for i, step := range []struct {
		volatile bool
		payload  string
	}{{true, "v1"}, {false, "s2"}, {true, "v3"}, {true, "v4"}} {
		m := Message{Topic: "$SYS/broker/uptime", Payload: []byte(step.payload)}
		set := s.Set
		if step.volatile {
			set = s.SetVolatile
		}
		if err := set(m); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		got, ok, err := s.Get(m.Topic)
		if err != nil || !ok || string(got.Payload) != step.payload {
			t.Fatalf("step %d: Get = %q, %v, %v; want %q", i, got.Payload, ok, err, step.payload)
		}
		if n, err := s.Count(); err != nil || n != 1 {
			t.Fatalf("step %d: Count = %d, %v; want 1", i, n, err)
		}
	}
}
