package worker

import (
	"testing"
	"time"
)

// TestAlarm goes through an alarm's life: it goes off once per set, not
// when disarmed, not at a time set before the last set, and never after
// close (but for one expiry read just before).
func TestAlarm(t *testing.T) {
	fired := make(chan time.Time, 8)
	a, err := newAlarm(func() { fired <- time.Now() })
	if err != nil {
		t.Fatal(err)
	}
	const d = 20 * time.Millisecond
	quiet := func(what string, wait time.Duration) {
		t.Helper()
		select {
		case <-fired:
			t.Fatalf("%s: the alarm went off", what)
		case <-time.After(wait):
		}
	}
	wait := func(what string) time.Time {
		t.Helper()
		select {
		case at := <-fired:
			return at
		case <-time.After(10 * time.Second): // generous: a busy machine
			t.Fatalf("%s: the alarm did not go off", what)
		}
		return time.Time{}
	}

	start := time.Now()
	if err := a.set(d); err != nil {
		t.Fatal(err)
	}
	if at := wait("set"); at.Sub(start) < d {
		t.Errorf("went off after %v, before the %v set", at.Sub(start), d)
	}
	quiet("once gone off", 5*d) // one expiry, not a period

	if err := a.set(d); err != nil {
		t.Fatal(err)
	}
	if err := a.set(0); err != nil {
		t.Fatal(err)
	}
	quiet("disarmed", 5*d)

	if err := a.set(time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := a.set(d); err != nil { // sooner than the hour: the hour is gone
		t.Fatal(err)
	}
	wait("set sooner")
	if err := a.set(d); err != nil {
		t.Fatal(err)
	}
	a.close()
	quiet("closed", 5*d)
	if err := a.set(d); err == nil {
		t.Error("set after close: no error")
	}
}
