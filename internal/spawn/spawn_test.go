package spawn

import (
	"reflect"
	"testing"
	"time"

	"github.com/forkmq/forkmq/internal/options"
)

// TestArgvParseRoundTrip: what the supervisor puts on a worker's command
// line is what the worker reads back.
func TestArgvParseRoundTrip(t *testing.T) {
	o := options.Default()
	o.StateDir, o.MaxInflight, o.StallTimeout, o.ACLFile = "/run/forkmq state", 7, 3*time.Second, "/etc/acl"
	for _, role := range []Role{RoleRouter, RoleDeliverer, RoleWill} {
		a := Args{Role: role, Queue: "forkmq.abc.7", Instance: "abc", Remote: "127.0.0.1:5000",
			QueueMsgSize: 896, QueueMsgMax: 10, Partner: 42, Options: o}
		argv := a.Argv()
		if argv[0] != a.ProcessTitle() {
			t.Errorf("argv[0] %q, want the process title %q", argv[0], a.ProcessTitle())
		}
		got, err := Parse(argv[1:])
		if err != nil {
			t.Fatalf("%s: %v", role, err)
		}
		if !reflect.DeepEqual(got.Options.Args(), a.Options.Args()) {
			t.Errorf("%s: options differ:\n got  %v\n want %v", role, got.Options.Args(), a.Options.Args())
		}
		got.Options, a.Options = options.Options{}, options.Options{}
		if !reflect.DeepEqual(got, a) {
			t.Errorf("%s: got %+v, want %+v", role, got, a)
		}
	}
}

func TestParseRefuses(t *testing.T) {
	tests := []struct {
		name string
		argv []string
	}{
		{"no role", []string{"-queue", "q", "-state-dir", "/s", "-queue-msg-size", "10"}},
		{"unknown role", []string{"-role", "sweeper", "-queue", "q", "-state-dir", "/s", "-queue-msg-size", "10"}},
		{"no queue", []string{"-role", "router", "-state-dir", "/s", "-queue-msg-size", "10"}},
		{"no message size", []string{"-role", "router", "-queue", "q", "-state-dir", "/s"}},
		{"a bad option", []string{"-role", "router", "-queue", "q", "-state-dir", "/s", "-queue-msg-size", "10", "-max-inflight", "0"}},
	}
	for _, tt := range tests {
		if _, err := Parse(tt.argv); err == nil {
			t.Errorf("%s: Parse(%q) accepted", tt.name, tt.argv)
		}
	}
}
