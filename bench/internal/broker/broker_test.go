package broker

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestParseAndExpand(t *testing.T) {
	s, err := Parse("nano = /opt/nanomq start --url tcp://127.0.0.1:{port} --dir {dir}")
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "nano" {
		t.Fatalf("name = %q", s.Name)
	}
	if got, want := s.Expand(1884, "/tmp/x"), "/opt/nanomq start --url tcp://127.0.0.1:1884 --dir /tmp/x"; got != want {
		t.Fatalf("Expand = %q, want %q", got, want)
	}
	for _, bad := range []string{"noequals", "=cmd {port}", "name=", "name=cmd without port"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) should fail", bad)
		}
	}
}

func TestAvailable(t *testing.T) {
	if err := (Spec{Command: "sh -c true {port}"}).Available(); err != nil {
		t.Errorf("sh should be available: %v", err)
	}
	if err := (Spec{Command: "/nonexistent/broker {port}"}).Available(); err == nil {
		t.Error("a missing binary should not be available")
	}
	if err := (Spec{Command: "no-such-broker-here {port}"}).Available(); err == nil {
		t.Error("a program not on PATH should not be available")
	}
}

func TestStartReportsABrokerThatExits(t *testing.T) {
	s := Spec{Name: "broken", Command: "sh -c 'echo cannot listen on {port} >&2; exit 3'"}
	_, err := Start(context.Background(), s, Options{ScratchRoot: t.TempDir(), ReadyWait: 5 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "exited") || !strings.Contains(err.Error(), "cannot listen on") {
		t.Fatalf("Start error = %v; want the exit and the broker's own words", err)
	}
}
