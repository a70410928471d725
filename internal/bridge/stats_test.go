package bridge

import (
	"net"
	"testing"
	"time"
)

// TestStatsQuestions: every question on the stats socket gets the Stats
// current when it is asked, and a process that is gone is an error
// within the deadline, not a hang.
func TestStatsQuestions(t *testing.T) {
	ours, theirs := net.Pipe()
	current := Stats{Connected: true, In: 3, Out: 7, Backlog: 2}
	served := make(chan struct{})
	go func() {
		ServeStats(theirs, func() Stats { return current })
		close(served)
	}()
	for _, want := range []Stats{current, {Connected: false, In: 3, Out: 9, Backlog: 5}} {
		current = want
		got, err := AskStats(ours, time.Now().Add(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("asked: %+v, want %+v", got, want)
		}
	}
	ours.Close()
	select {
	case <-served:
	case <-time.After(5 * time.Second):
		t.Fatal("ServeStats did not end when the asker closed its end")
	}

	silent, _ := net.Pipe()
	if _, err := AskStats(silent, time.Now().Add(50*time.Millisecond)); err == nil {
		t.Error("a bridge that never answers gave stats")
	}
}
