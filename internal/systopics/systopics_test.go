package systopics

import (
	"context"
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/forkmq/forkmq/internal/retain"
)

func byTopic(ms []Message) map[string]string {
	out := make(map[string]string, len(ms))
	for _, m := range ms {
		out[m.Topic] = m.Payload
	}
	return out
}

// TestMessages: mosquitto's names and formats; a refresh publishes only
// what changed; the maximum of clients stays; loads are rates per minute.
func TestMessages(t *testing.T) {
	start := time.Unix(1000, 0)
	p := NewPublisher(start)
	first := byTopic(p.Messages(Counts{ClientsConnected: 3, ClientsDisconnected: 1, MessagesReceived: 10, BytesSent: 99, Subscriptions: 4, RetainedMessages: 2, HeapBytes: 1 << 20}, start.Add(5*time.Second)))
	for topic, want := range map[string]string{
		"$SYS/broker/uptime":                      "5 seconds",
		"$SYS/broker/clients/connected":           "3",
		"$SYS/broker/clients/total":               "4",
		"$SYS/broker/clients/maximum":             "3",
		"$SYS/broker/messages/received":           "10",
		"$SYS/broker/bytes/sent":                  "99",
		"$SYS/broker/subscriptions/count":         "4",
		"$SYS/broker/retained messages/count":     "2",
		"$SYS/broker/heap/current":                "1048576",
		"$SYS/broker/load/messages/received/1min": "0.00",
	} {
		if got, ok := first[topic]; !ok || got != want {
			t.Errorf("%s = %q (present %v), want %q", topic, got, ok, want)
		}
	}
	if len(first) != 16+6*3 {
		t.Errorf("%d topics the first time, want all %d", len(first), 16+6*3)
	}

	// 60 more messages in 10 s: 360 a minute. The 1-minute load moves by
	// 1-e^(-10/60) of that.
	second := byTopic(p.Messages(Counts{ClientsConnected: 1, ClientsDisconnected: 1, MessagesReceived: 70, BytesSent: 99, Subscriptions: 4, RetainedMessages: 2, HeapBytes: 1 << 20}, start.Add(15*time.Second)))
	want1 := 360 * (1 - math.Exp(-10.0/60))
	if got, _ := strconv.ParseFloat(second["$SYS/broker/load/messages/received/1min"], 64); math.Abs(got-want1) > 0.01 {
		t.Errorf("1-minute load %v, want %.2f", got, want1)
	}
	if _, ok := second["$SYS/broker/bytes/sent"]; ok {
		t.Error("bytes/sent did not change and was published again")
	}
	if _, ok := second["$SYS/broker/clients/maximum"]; ok {
		t.Error("clients/maximum fell with clients/connected")
	}
	if second["$SYS/broker/clients/connected"] != "1" || second["$SYS/broker/uptime"] != "15 seconds" {
		t.Errorf("changed topics: %v", second)
	}
}

// TestRunRefreshes: Run publishes at once, then every interval, until the
// interval becomes 0.
func TestRunRefreshes(t *testing.T) {
	p := NewPublisher(time.Now())
	var refreshes int
	var got []Message
	interval := func() time.Duration {
		if refreshes++; refreshes >= 3 {
			return 0
		}
		return time.Millisecond
	}
	n := uint64(0)
	src := func(context.Context) (Counts, error) { n++; return Counts{MessagesReceived: n}, nil }
	p.Run(context.Background(), interval, src, func(m Message) error { got = append(got, m); return nil }, func(err error) { t.Error(err) })
	count := 0
	for _, m := range got {
		if m.Topic == "$SYS/broker/messages/received" {
			count++
		}
	}
	if count != 3 {
		t.Errorf("messages/received published %d times, want 3 (one per refresh)", count)
	}
}

// TestForget: the broker's $SYS messages go, other retained ones stay.
func TestForget(t *testing.T) {
	store, err := retain.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	for _, topic := range []string{Prefix + "uptime", Prefix + "load/bytes/sent/1min", "$SYS/other", "home/temp"} {
		if err := store.Set(retain.Message{Topic: topic, Payload: []byte("1")}); err != nil {
			t.Fatal(err)
		}
	}
	if err := Forget(store); err != nil {
		t.Fatal(err)
	}
	if n, err := store.Count(); err != nil || n != 2 {
		t.Errorf("%d retained messages left (%v), want $SYS/other and home/temp", n, err)
	}
}
