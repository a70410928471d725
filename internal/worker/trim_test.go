package worker

import "testing"

// TestQuietArmsTrimOnce: quiet arms the one trim timer only when the
// worker has served trimEvery clients since its last trim, resets the same
// timer after (no new one per client), stops it otherwise, and the trim
// records the count it was armed at.
func TestQuietArmsTrimOnce(t *testing.T) {
	w := &worker{}
	defer func() {
		if w.trim != nil {
			w.trim.Stop()
		}
	}()
	steps := []struct {
		served, trimmed uint32
		armed           bool
	}{
		{0, 0, false},
		{trimEvery - 1, 0, false},
		{trimEvery, 0, true},
		{trimEvery + 1, 0, true},
		{trimEvery + 1, trimEvery, false}, // trimmed since: wait for trimEvery more
		{2 * trimEvery, trimEvery, true},
	}
	var first any
	for _, s := range steps {
		w.served = s.served
		w.trimmed.Store(s.trimmed)
		w.quiet()
		if !s.armed {
			if w.trim != nil && w.trim.Stop() {
				t.Errorf("served %d, trimmed %d: the trim timer is armed", s.served, s.trimmed)
			}
			continue
		}
		if w.trim == nil || !w.trim.Stop() {
			t.Fatalf("served %d, trimmed %d: no trim timer armed", s.served, s.trimmed)
		}
		if first == nil {
			first = w.trim
		} else if any(w.trim) != first {
			t.Errorf("served %d: a new timer; want the first one reset", s.served)
		}
		if got := w.trimAt.Load(); got != s.served {
			t.Errorf("served %d: armed at %d", s.served, got)
		}
		w.trim.Reset(trimAfter) // as quiet left it
	}
	w.trimHeap()
	if got := w.trimmed.Load(); got != 2*trimEvery {
		t.Errorf("after the trim: trimmed %d, want %d", got, 2*trimEvery)
	}
}
