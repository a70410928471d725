package spawn

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/forkmq/forkmq/internal/options"
)

// TestArgvParseRoundTrip: what the supervisor puts on a worker's command
// line is what the worker reads back.
func TestArgvParseRoundTrip(t *testing.T) {
	o := options.Default()
	o.StateDir, o.MaxInflight, o.StallTimeout, o.ACLFile = "/run/forkmq state", 7, 3*time.Second, "/etc/acl"
	a := Args{Slot: 12, Instance: "abc", QueueMsgSize: 896, QueueMsgMax: 10, Generation: 3, SlotGen: 8, Options: o}
	argv := a.Argv()
	if argv[0] != Title {
		t.Errorf("argv[0] %q, want the title %q", argv[0], Title)
	}
	got, err := Parse(argv[1:])
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Options.Args(), a.Options.Args()) {
		t.Errorf("options differ:\n got  %v\n want %v", got.Options.Args(), a.Options.Args())
	}
	got.Options, a.Options = options.Options{}, options.Options{}
	if !reflect.DeepEqual(got, a) {
		t.Errorf("got %+v, want %+v", got, a)
	}
}

func TestParseRefuses(t *testing.T) {
	tests := []struct {
		name string
		argv []string
	}{
		{"no slot", []string{"-instance=i", "-state-dir=/s", "-queue-msg-size=10"}},
		{"no instance", []string{"-slot=0", "-state-dir=/s", "-queue-msg-size=10"}},
		{"no state dir", []string{"-slot=0", "-instance=i", "-queue-msg-size=10"}},
		{"no message size", []string{"-slot=0", "-instance=i", "-state-dir=/s"}},
		{"a slot that is no number", []string{"-slot=x", "-instance=i", "-state-dir=/s", "-queue-msg-size=10"}},
		{"an option that is no number", []string{"-slot=0", "-instance=i", "-state-dir=/s", "-queue-msg-size=10", "-max-inflight=x"}},
		{"an unknown option", []string{"-slot=0", "-instance=i", "-state-dir=/s", "-queue-msg-size=10", "-no-such-option=1"}},
		{"a flag and its value apart", []string{"-slot", "0", "-instance=i", "-state-dir=/s", "-queue-msg-size=10"}},
	}
	for _, tt := range tests {
		if _, err := Parse(tt.argv); err == nil {
			t.Errorf("%s: Parse(%q) accepted", tt.name, tt.argv)
		}
	}
}

// TestEnv: a worker runs with one P, whatever the supervisor's environment.
func TestEnv(t *testing.T) {
	tests := []struct{ base, want []string }{
		{nil, []string{"GOMAXPROCS=1"}},
		{[]string{"A=1", "GOMAXPROCS=8", "B=2"}, []string{"A=1", "B=2", "GOMAXPROCS=1"}},
	}
	for _, tt := range tests {
		if got := Env(tt.base); !slices.Equal(got, tt.want) {
			t.Errorf("Env(%q) = %q, want %q", tt.base, got, tt.want)
		}
	}
}
