package options

import (
	"flag"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"
)

func parse(args ...string) (Options, error) {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return Parse(fs, args)
}

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    func(*Options) // applied to the defaults
		wantErr string         // a substring of the error, "" for none
	}{
		{name: "defaults", args: nil, want: func(*Options) {}},
		{name: "every kind of value", args: []string{"-engine", "goroutine", "-max-clients", "7", "-session-max-bytes", "0x100",
			"-stall-timeout", "1.5s", "-max-accept-rate", "2.5", "-allow-anonymous=false", "-listen", "127.0.0.1:0"},
			want: func(o *Options) {
				o.Engine, o.MaxClients, o.SessionBytes, o.StallTimeout = Goroutine, 7, 256, 1500*time.Millisecond
				o.AcceptRate, o.AllowAnon, o.Listen = 2.5, false, "127.0.0.1:0"
			}},
		{name: "unknown engine", args: []string{"-engine", "thread"}, wantErr: `-engine "thread"`},
		{name: "out of range", args: []string{"-max-clients", "0", "-max-inflight", "70000"}, wantErr: "-max-clients 0"},
		{name: "every error at once", args: []string{"-max-clients", "0", "-max-inflight", "70000"}, wantErr: "-max-inflight 70000"},
		{name: "not a number", args: []string{"-max-clients", "many"}, wantErr: "invalid value"},
		{name: "a process-only option on the goroutine engine is refused",
			args: []string{"-engine", "goroutine", "-queue-budget", "1000"}, wantErr: "-queue-budget: only the process engine has it"},
		{name: "the pool", args: []string{"-pool-min-spare", "0", "-pool-max-spare", "2", "-pool-spawn-rate", "4", "-pool-linger", "0", "-clients-per-worker", "1"},
			want: func(o *Options) {
				o.PoolMinSpare, o.PoolMaxSpare, o.PoolSpawnRate, o.PoolLinger, o.ClientsPerWorker = 0, 2, 4, 0, 1
			}},
		{name: "worker uids", args: []string{"-worker-uids", "20000-20015"},
			want: func(o *Options) { o.WorkerUIDs = "20000-20015" }},
		{name: "worker uids backwards", args: []string{"-worker-uids", "20015-20000"}, wantErr: "-worker-uids"},
		{name: "worker uids and a user", args: []string{"-worker-uids", "20000-20001", "-user", "nobody"}, wantErr: "give one"},
		{name: "a pool whose maximum is under its minimum", args: []string{"-pool-min-spare", "5", "-pool-max-spare", "4"}, wantErr: "-pool-min-spare 5, -pool-max-spare 4"},
		{name: "a pool that never refills", args: []string{"-pool-spawn-rate", "0"}, wantErr: "-pool-spawn-rate 0"},
		{name: "pool options are the process engine's",
			args: []string{"-engine", "goroutine", "-clients-per-worker", "5"}, wantErr: "-clients-per-worker: only the process engine has it"},
		{name: "a process-only option on the process engine",
			args: []string{"-queue-budget", "1000", "-worker", "/bin/w"}, want: func(o *Options) { o.QueueBudget, o.WorkerPath = 1000, "/bin/w" }},
		{name: "TLS and WebSocket listeners on the goroutine engine",
			args: []string{"-engine", "goroutine", "-tls-listen", ":8883", "-certfile", "c.pem", "-keyfile", "k.pem", "-ws-listen", ":8080", "-proxy-protocol", "2"},
			want: func(o *Options) {
				o.Engine, o.TLSListen, o.CertFile, o.KeyFile, o.WSListen, o.ProxyProtocol = Goroutine, ":8883", "c.pem", "k.pem", ":8080", 2
			}},
		{name: "a TLS listener on the process engine",
			args: []string{"-tls-listen", ":8883", "-certfile", "c.pem", "-keyfile", "k.pem", "-proxy-protocol", "1", "-worker", "/bin/w"},
			want: func(o *Options) {
				o.TLSListen, o.CertFile, o.KeyFile, o.ProxyProtocol, o.WorkerPath = ":8883", "c.pem", "k.pem", 1, "/bin/w"
			}},
		{name: "a TLS listener without a certificate",
			args: []string{"-engine", "goroutine", "-wss-listen", ":8883"}, wantErr: "-wss-listen :8883: a TLS listener needs a certificate and key"},
		{name: "TLS flags without a TLS listener",
			args: []string{"-engine", "goroutine", "-certfile", "c.pem"}, wantErr: "-certfile: no -tls-listen or -wss-listen to apply it to"},
		{name: "a PROXY version that does not exist",
			args: []string{"-engine", "goroutine", "-proxy-protocol", "3"}, wantErr: "-proxy-protocol 3: want 1 or 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parse(tt.args...)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := Default()
			tt.want(&want)
			got.set, want.set = nil, nil
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

// TestArgsRoundTrip: the arguments a supervisor gives a worker reproduce
// its options exactly, whatever the worker's defaults.
func TestArgsRoundTrip(t *testing.T) {
	o := Default()
	o.Listen, o.StateDir, o.MaxClients, o.QueueBudget, o.WorkerPath = "127.0.0.1:0", "/tmp/state dir", 3, 12345, "/x/worker"
	o.StallTimeout, o.AcceptRate, o.AllowAnon, o.PasswordFile, o.LogFormat = 750*time.Millisecond, 0.5, false, "/etc/p w", "json"
	got, err := parse(o.Args()...)
	if err != nil {
		t.Fatal(err)
	}
	got.set = nil
	if !reflect.DeepEqual(got, o) {
		t.Errorf("round trip:\n got  %+v\n want %+v", got, o)
	}
}

// TestEveryFieldHasAFlag: an option added to Options without a flag would
// never reach a worker. (Listeners, a file's, has none: the process
// engine's supervisor opens every listener, and its workers need none.)
func TestEveryFieldHasAFlag(t *testing.T) {
	var o Options
	n := 0
	for i := range reflect.TypeOf(o).NumField() {
		if f := reflect.TypeOf(o).Field(i); f.IsExported() && f.Name != "Listeners" {
			n++
		}
	}
	if got := len(o.defs()); got != n {
		t.Errorf("%d flags for %d exported fields", got, n)
	}
}

// TestEndpoints checks the listeners a broker opens: the main one first,
// then the flags' in a fixed order, each with the TLS flags and the PROXY
// version that apply to it; a file's listeners take -listen for the first.
func TestEndpoints(t *testing.T) {
	o := Default()
	o.Engine, o.Listen, o.TLSListen, o.WSSListen, o.WSListen = Goroutine, ":1", ":2", ":4", ":3"
	o.CertFile, o.KeyFile, o.RequireCert, o.CAFile, o.ProxyProtocol = "c", "k", true, "ca", 1
	got := o.Endpoints()
	want := []Listener{
		{Addr: ":1", Proxy: 1, Where: "-listen :1"},
		{Addr: ":2", TLS: true, CertFile: "c", KeyFile: "k", CAFile: "ca", RequireCert: true, Proxy: 1, Where: "-tls-listen :2"},
		{Addr: ":3", WebSockets: true, Proxy: 1, Where: "-ws-listen :3"},
		{Addr: ":4", WebSockets: true, TLS: true, CertFile: "c", KeyFile: "k", CAFile: "ca", RequireCert: true, Proxy: 1, Where: "-wss-listen :4"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	if err := o.Validate(); err != nil {
		t.Error(err)
	}
	f := Default()
	f.Listen, f.Listeners = ":9", []Listener{{Addr: ":1883", Where: "a.conf:1"}, {Addr: ":8883", TLS: true, CertFile: "c", KeyFile: "k", Where: "a.conf:2"}}
	if eps := f.Endpoints(); len(eps) != 2 || eps[0].Addr != ":9" || eps[1].Addr != ":8883" {
		t.Errorf("a file's listeners with -listen: %+v", eps)
	}
	f.WorkerPath = "/bin/w"
	if err := f.Validate(); err != nil {
		t.Errorf("the process engine with a file's second, TLS, listener: %v", err)
	}
}

// TestSetArgs: what Args writes, SetArgs reads back, for every option, over
// the defaults; what Args never writes is refused.
func TestSetArgs(t *testing.T) {
	o := Default()
	o.StateDir, o.MaxInflight, o.StallTimeout, o.AllowAnon, o.AcceptRate, o.QueueBudget = "/run/a b=c", 7, 1500*time.Millisecond, false, 2.5, 1<<20
	got := Default()
	if err := got.SetArgs(o.Args()); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Args(), o.Args()) {
		t.Errorf("options differ:\n got  %v\n want %v", got.Args(), o.Args())
	}
	if !got.Set("max-inflight") || !got.Set("state-dir") {
		t.Errorf("options read are not marked given")
	}

	refused := []struct {
		name, arg, wantErr string
	}{
		{"unknown", "-no-such-option=1", "not defined: -no-such-option"},
		{"no value", "-max-inflight", "want -name=value"},
		{"no dash", "max-inflight=3", "want -name=value"},
		{"not a number", "-max-inflight=many", `invalid value "many" for flag -max-inflight`},
	}
	for _, tt := range refused {
		o := Default()
		if err := o.SetArgs([]string{tt.arg}); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%s: SetArgs(%q) = %v, want an error with %q", tt.name, tt.arg, err, tt.wantErr)
		}
	}
}
