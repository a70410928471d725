package brokerconf

import (
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/forkmq/forkmq/internal/mosqconf"
	"github.com/forkmq/forkmq/internal/options"
)

func writeFile(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "mosquitto.conf")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func parse(argv ...string) (Loaded, error) {
	fs := flag.NewFlagSet("broker", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return Parse(fs, argv)
}

// TestParse: a mosquitto file maps onto the options, mosquitto 2's
// defaults where the file is silent, flags over the file.
func TestParse(t *testing.T) {
	tests := []struct {
		name  string
		file  string
		flags []string
		want  func(*options.Options) // applied to the defaults
		// notices are substrings of the notices, in order.
		notices []string
	}{
		{name: "no file: the flags' defaults", want: func(*options.Options) {}},
		{name: "no listener line: loopback only, anonymous allowed", file: "sys_interval 3\n",
			want: func(o *options.Options) { o.Listen, o.SysInterval = "127.0.0.1:1883", 3*time.Second }},
		{name: "a listener line: anonymous refused unless allowed", file: "listener 1884\n",
			want: func(o *options.Options) { o.Listen, o.AllowAnon = ":1884", false }},
		{name: "every mosquitto key of the issue", file: `
# as a mosquitto user writes it
listener 1885 127.0.0.1
max_connections 50
allow_anonymous true
password_file /etc/mosquitto/passwd
acl_file /etc/mosquitto/acl
max_inflight_messages 0
max_queued_messages 300
max_queued_bytes 1MiB
persistence_location /var/lib/forkmq
sys_interval 5
user mosquitto
`, want: func(o *options.Options) {
			o.Listen, o.MaxClients, o.AllowAnon = "127.0.0.1:1885", 50, true
			o.PasswordFile, o.ACLFile = "/etc/mosquitto/passwd", "/etc/mosquitto/acl"
			o.MaxInflight, o.BacklogMsgs, o.BacklogBytes = 65535, 300, 1<<20
			o.StateDir, o.SysInterval, o.User = "/var/lib/forkmq", 5*time.Second, "mosquitto"
		}},
		{name: "forkmq's own keys", file: "engine goroutine\nadmin_listener 9100 127.0.0.1\nstall_timeout 250ms\nmax_topic_levels 8\nlog_level warn\n",
			want: func(o *options.Options) {
				o.Listen, o.Engine, o.AdminListen, o.StallTimeout, o.MaxTopicLevel, o.LogLevel = "127.0.0.1:1883", options.Goroutine, "127.0.0.1:9100", 250*time.Millisecond, 8, "warn"
			}},
		{name: "flags override the file", file: "listener 1886\nmax_queued_messages 300\nallow_anonymous false\n",
			flags: []string{"-listen", "127.0.0.1:0", "-allow-anonymous", "-max-queued-messages", "7"},
			want:  func(o *options.Options) { o.Listen, o.BacklogMsgs, o.AllowAnon = "127.0.0.1:0", 7, true }},
		{name: "unsupported keys are notices", file: "persistence true\nautosave_interval 1800\nlog_dest stdout\n",
			want:    func(o *options.Options) { o.Listen = "127.0.0.1:1883" },
			notices: []string{":1: persistence is a mosquitto key", ":2: autosave_interval", ":3: log_dest"}},
		{name: "max_connections -1 keeps the bound, with a notice", file: "listener 1887\nmax_connections -1\nallow_anonymous true\n",
			want:    func(o *options.Options) { o.Listen = ":1887" },
			notices: []string{":2: max_connections -1 (no limit): forkmq sizes its queues for a number of clients, and keeps -max-clients 100"}},
		{name: "message_size_limit bounds the packet, with a notice", file: "message_size_limit 1000\n",
			want:    func(o *options.Options) { o.Listen, o.MaxPacketSize = "127.0.0.1:1883", 1000+maxPublishOverhead },
			notices: []string{":1: message_size_limit 1000: forkmq bounds packets"}},
		{name: "per-listener security keys of the one listener", file: "per_listener_settings true\nlistener 1888\nallow_anonymous true\n",
			want: func(o *options.Options) { o.Listen = ":1888" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			argv := tt.flags
			if tt.file != "" {
				argv = append([]string{"-c", writeFile(t, tt.file)}, argv...)
			}
			got, err := parse(argv...)
			if err != nil {
				t.Fatal(err)
			}
			want := options.Default()
			tt.want(&want)
			if d := options.Diff(want, got.Options); len(d) > 0 {
				t.Errorf("options differ from what the file says: %+v", d)
			}
			if len(got.Notices) != len(tt.notices) {
				t.Fatalf("notices %v, want %d", got.Notices, len(tt.notices))
			}
			for i, n := range tt.notices {
				if s := got.Notices[i].String(); !strings.Contains(s, n) {
					t.Errorf("notice %d is %q, want it to contain %q", i, s, n)
				}
			}
		})
	}
}

// TestRefused: a line forkmq cannot honour stops the broker, naming
// file:line.
func TestRefused(t *testing.T) {
	tests := []struct {
		name, file string
		flags      []string
		line       int
		want       string
	}{
		{"an unknown key", "sys_interval 10\nmax_conections 5\n", nil, 2, "unknown key (did you mean max_connections?)"},
		{"a bad value", "\n\nmax_inflight_messages lots\n", nil, 3, "max_inflight_messages"},
		{"out of the option's range", "max_topic_length 0\nsession_max_messages 0\n", nil, 2, "session-max-messages 0"},
		{"no bound on queued messages", "max_queued_messages 0\n", nil, 1, "0 (no limit) is not offered"},
		{"TLS without a key", "listener 8883\ncertfile /etc/cert.pem\n", nil, 2, "needs both certfile and keyfile"},
		{"a CA without a certificate", "listener 8883\ncafile /etc/ca.pem\n", nil, 2, "needs both certfile and keyfile"},
		{"require_certificate without a CA", "listener 8883\ncertfile c\nkeyfile k\nrequire_certificate true\n", nil, 4, "needs a cafile"},
		{"use_identity_as_username without require_certificate", "listener 8883\ncertfile c\nkeyfile k\nuse_identity_as_username true\n", nil, 4, "needs require_certificate"},
		{"max_connections on a second listener", "listener 1883\nlistener 8883\nmax_connections 5\n", nil, 3, "from the first listener"},
		{"an option the engine lacks", "engine goroutine\nqueue_budget 100000\n", nil, 2, "only the process engine has it"},
		{"a listener key for mosquitto's default listener", "max_connections 5\nlistener 1883\n", nil, 1, "before the listener line"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, tt.file)
			_, err := parse(append([]string{"-c", path}, tt.flags...)...)
			var me *mosqconf.Error
			if !errors.As(err, &me) {
				t.Fatalf("error %v, want a *mosqconf.Error", err)
			}
			if me.Pos.File != path || me.Pos.Line != tt.line || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want %s:%d and %q", err, path, tt.line, tt.want)
			}
		})
	}
}

// TestReload: a SIGHUP's re-reading sorts changes into live ones and
// those needing a restart, naming the file's line.
func TestReload(t *testing.T) {
	path := writeFile(t, "listener 1883\nallow_anonymous false\nmax_inflight_messages 10\n")
	argv := []string{"-c", path, "-listen", "127.0.0.1:0"}
	cur, err := parse(argv...)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("listener 1883\nmax_inflight_messages 20\nallow_anonymous true\nsys_interval 2\nlistener_typo x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Reload(argv, cur, func(*options.Options) error { return nil }); err == nil || !strings.Contains(err.Error(), ":5:") {
		t.Fatalf("a bad file on SIGHUP: %v, want an error naming line 5", err)
	}
	if err := os.WriteFile(path, []byte("listener 1883\nmax_inflight_messages 20\nallow_anonymous true\nsys_interval 2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	next, changes, err := Reload(argv, cur, func(*options.Options) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Change{}
	for _, c := range changes {
		got[c.Flag] = c
	}
	if len(got) != 3 {
		t.Fatalf("changes %v, want max-inflight, allow-anonymous, sys-interval", changes)
	}
	for flag, want := range map[string]struct {
		line int
		live bool
	}{"max-inflight": {2, false}, "allow-anonymous": {3, true}, "sys-interval": {4, true}} {
		c := got[flag]
		if c.Pos.Line != want.line || c.Live != want.live {
			t.Errorf("%s: line %d, live %v; want line %d, live %v", flag, c.Pos.Line, c.Live, want.line, want.live)
		}
	}
	running := ApplyLive(cur.Options, next.Options)
	if !running.AllowAnon || running.SysInterval != 2*time.Second || running.MaxInflight != 10 {
		t.Errorf("applied %+v: want the live options only", running)
	}
}

// TestApplyLive: ApplyLive takes exactly the options Live names.
func TestApplyLive(t *testing.T) {
	path := writeFile(t, "listener 1883\n")
	cur, err := parse("-c", path)
	if err != nil {
		t.Fatal(err)
	}
	// Every option the file can set, changed.
	changed := writeFile(t, `listener 1884
allow_anonymous true
password_file /p
acl_file /a
max_connections 7
max_inflight_messages 3
max_queued_messages 5
max_queued_bytes 5000
max_packet_size 4000
persistence_location /s
sys_interval 3
user nobody
engine process
worker_binary /w
admin_listener 9100
queue_budget 9999
connect_timeout 3
stall_timeout 4
session_max_messages 6
session_max_bytes 6000
max_subscriptions 8
max_topic_length 99
max_topic_levels 9
max_accept_rate 7.5
accept_burst 3
log_level warn
log_format json
`)
	next, err := parse("-c", changed)
	if err != nil {
		t.Fatal(err)
	}
	applied := ApplyLive(cur.Options, next.Options)
	for _, d := range options.Diff(cur.Options, next.Options) {
		took := !slices.ContainsFunc(options.Diff(applied, next.Options), func(x options.Difference) bool { return x.Flag == d.Flag })
		if took != Live(d.Flag) {
			t.Errorf("-%s: applied %v, live %v", d.Flag, took, Live(d.Flag))
		}
	}
}

// TestListeners: several listener blocks with their transport keys become
// the options' listeners for the goroutine engine; the process engine
// refuses all but one plain listener, naming the line.
func TestListeners(t *testing.T) {
	const file = `engine goroutine
listener 1883
allow_anonymous true
listener 8883 127.0.0.1
certfile /etc/forkmq/server.crt
keyfile /etc/forkmq/server.key
cafile /etc/forkmq/ca.crt
require_certificate true
use_identity_as_username true
tls_version tlsv1.3
enable_proxy_protocol 2
listener 8080
protocol websockets
listener 8081
protocol websockets
certfile /etc/forkmq/server.crt
keyfile /etc/forkmq/server.key
`
	path := writeFile(t, file)
	got, err := parse("-c", path)
	if err != nil {
		t.Fatal(err)
	}
	want := []options.Listener{
		{Addr: ":1883", Where: "listener 1883 at " + path + ":2"},
		{Addr: "127.0.0.1:8883", TLS: true, CertFile: "/etc/forkmq/server.crt", KeyFile: "/etc/forkmq/server.key", CAFile: "/etc/forkmq/ca.crt",
			RequireCert: true, IdentityAsUsername: true, TLSVersion: "tlsv1.3", Proxy: 2, Where: "listener 8883 at " + path + ":4"},
		{Addr: ":8080", WebSockets: true, Where: "listener 8080 at " + path + ":12"},
		{Addr: ":8081", WebSockets: true, TLS: true, CertFile: "/etc/forkmq/server.crt", KeyFile: "/etc/forkmq/server.key", Where: "listener 8081 at " + path + ":14"},
	}
	if eps := got.Options.Endpoints(); !slices.Equal(eps, want) {
		t.Errorf("listeners\n got  %+v\n want %+v", eps, want)
	}
	if _, err = parse("-c", path, "-engine", "process"); err != nil {
		t.Errorf("the process engine with four listeners: %v", err)
	}
}
