package mosqconf

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeConf writes a config file into a fresh directory and returns its path.
func writeConf(t testing.TB, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "mosquitto.conf")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func mustParse(t testing.TB, content string) *Config {
	t.Helper()
	cfg, err := Parse(writeConf(t, content))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return cfg
}

// wantError fails t unless err holds an *Error at line of the file whose
// text contains every fragment.
func wantError(t testing.TB, err error, line int, fragments ...string) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v, want an *Error", err)
	}
	if e.Pos.Line != line || e.Pos.File == "" {
		t.Errorf("err = %v, want line %d with the file name", err, line)
	}
	if !strings.Contains(err.Error(), e.Pos.String()) {
		t.Errorf("err = %q does not name %s", err, e.Pos)
	}
	for _, f := range fragments {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("err = %q, want it to mention %q", err, f)
		}
	}
}

// TestStockDebianLayout reads a copy of the file Debian's mosquitto package
// installs as /etc/mosquitto/mosquitto.conf, with its conf.d, moved to a
// temporary directory: what a user who switches to forkmq has.
func TestStockDebianLayout(t *testing.T) {
	etc := t.TempDir()
	copyTree(t, "testdata/debian", etc)
	for _, name := range []string{"mosquitto.conf", "conf.d/local.conf"} {
		path := filepath.Join(etc, name)
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		data = []byte(strings.ReplaceAll(string(data), "/etc/mosquitto", etc))
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	main := filepath.Join(etc, "mosquitto.conf")
	cfg, err := Parse(main)
	if err != nil {
		t.Fatal(err)
	}
	local := filepath.Join(etc, "conf.d", "local.conf")
	if want := []string{main, local}; strings.Join(cfg.Files, ",") != strings.Join(want, ",") {
		t.Errorf("Files = %q, want %q (README is not a .conf file)", cfg.Files, want)
	}

	// The stock file's pid_file, persistence and log_dest are mosquitto's
	// and not forkmq's: each is reported once, with its line.
	var noticed []string
	for _, n := range cfg.Notices {
		noticed = append(noticed, n.Pos.String()+" "+n.Key)
	}
	want := []string{main + ":6 pid_file", main + ":8 persistence", main + ":11 log_dest"}
	if strings.Join(noticed, "; ") != strings.Join(want, "; ") {
		t.Errorf("notices = %q, want %q", noticed, want)
	}
	if got := cfg.Global.String("persistence_location", ""); got != "/var/lib/mosquitto/" {
		t.Errorf("persistence_location = %q", got)
	}

	// conf.d/local.conf: two listeners; the security keys are global
	// (per_listener_settings is false) although written under a listener.
	if len(cfg.Listeners) != 2 {
		t.Fatalf("listeners = %d, want 2", len(cfg.Listeners))
	}
	plain, tls := cfg.Listeners[0], cfg.Listeners[1]
	if plain.Addr != ":1883" || plain.Pos != (Pos{local, 3}) {
		t.Errorf("first listener = %q at %v", plain.Addr, plain.Pos)
	}
	if tls.Addr != "0.0.0.0:8883" || tls.Address != "0.0.0.0" || tls.Port != 8883 {
		t.Errorf("second listener = %+v", tls)
	}
	if anon, err := cfg.Security(plain).Bool("allow_anonymous", true); err != nil || anon {
		t.Errorf("allow_anonymous = %v, %v; want false", anon, err)
	}
	if cfg.Security(tls) != &cfg.Global {
		t.Error("without per_listener_settings, a listener's security keys must be the global ones")
	}
	if got := cfg.Global.String("password_file", ""); got != etc+"/passwd" {
		t.Errorf("password_file = %q", got)
	}
	if tls.String("certfile", "") != etc+"/certs/server.crt" || plain.Has("certfile") {
		t.Error("certfile must belong to the 8883 listener only")
	}
	if v, _ := tls.Word("tls_version", ""); v != "tlsv1.2" {
		t.Errorf("tls_version = %q", v)
	}
	// Global keys written after a listener line are still global.
	if n, err := cfg.Global.Int("max_queued_messages", 0); err != nil || n != 5000 {
		t.Errorf("max_queued_messages = %d, %v", n, err)
	}
	if d, err := cfg.Global.Duration("sys_interval", 10*time.Second); err != nil || d != 30*time.Second {
		t.Errorf("sys_interval = %v, %v", d, err)
	}
	if n, err := cfg.Global.Size("message_size_limit", 0); err != nil || n != 1<<20 {
		t.Errorf("message_size_limit = %d, %v", n, err)
	}
}

func copyTree(t testing.TB, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, path)
		dst := filepath.Join(to, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o700)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, data, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestLineErrors: each bad file is refused with the line to fix.
func TestLineErrors(t *testing.T) {
	cases := []struct {
		name      string
		file      string
		line      int
		fragments []string
	}{
		{"unknown key", "listener 1883\nallow_anonymus true\n", 2, []string{"allow_anonymus", "unknown key", "did you mean allow_anonymous?"}},
		{"unknown key far from any", "\n\nfrobnicate 3\n", 3, []string{"frobnicate", "unknown key"}},
		{"bool not mosquitto's", "allow_anonymous yes\n", 1, []string{`"yes" is not a boolean`}},
		{"int with a unit", "max_queued_messages 10k\n", 1, []string{"max_queued_messages", "whole number"}},
		{"int out of range", "max_inflight_messages 70000\n", 1, []string{"out of range"}},
		{"trailing words", "max_queued_messages 10 20\n", 1, []string{"want one value"}},
		{"empty value", "password_file\n", 1, []string{"empty value"}},
		{"enum", "protocol http\n", 1, []string{`"http" is not one of mqtt, websockets`}},
		{"tls 1.1", "listener 8883\ntls_version tlsv1.1\n", 2, []string{"tlsv1.2, tlsv1.3"}},
		{"proxy protocol 3", "listener 1883\nenable_proxy_protocol 3\n", 2, []string{"want 1…2"}},
		{"listener without port", "listener\n", 1, []string{"PORT [ADDRESS]"}},
		{"listener bad port", "listener 70000\n", 1, []string{"port"}},
		{"unix socket listener", "listener 0 /run/mqtt.sock\n", 1, []string{"Unix socket"}},
		{"listener twice", "listener 1883\nlistener 1884\nlistener 1883\n", 3, []string{"already a listener, at"}},
		{"bridge key outside a bridge", "listener 1883\naddress 10.0.0.1\n", 2, []string{"no connection line"}},
		{"unsupported bridge key outside a bridge", "try_private false\n", 1, []string{"no connection line"}},
		{"bridge named twice", "connection a\naddress h\nconnection a\n", 3, []string{`"a" is already at`}},
		{"string twice", "password_file /a\npassword_file /b\n", 2, []string{"given twice; first at", ":1"}},
		{"bad size", "max_queued_bytes 10MB\n", 1, []string{"KiB, MiB or GiB"}},
		{"bad duration", "sys_interval soon\n", 1, []string{"not a duration"}},
		{"duration too long", "sys_interval 70000\n", 1, []string{"more than 65535s"}},
		{"negative duration", "connect_timeout -5\n", 1, []string{"out of range"}},
		{"bad range", "worker_uids 2000-1000\n", 1, []string{"FIRST ≤ LAST"}},
		{"per_listener_settings late", "password_file /p\nper_listener_settings true\n", 2, []string{"before any security key"}},
		{"bad topic direction", "connection c\naddress h\ntopic a/# sideways\n", 3, []string{"direction"}},
		{"bad topic qos", "connection c\naddress h\ntopic a/# out 3\n", 3, []string{"QoS"}},
		{"empty topic needs prefixes", "connection c\naddress h\ntopic \"\" out 0 local/ \"\"\n", 3, []string{"empty pattern"}},
		{"wildcard prefix", "connection c\naddress h\ntopic # in 1 a/+/ b/\n", 3, []string{"wildcard"}},
		{"bad address port", "connection c\naddress broker:99999\n", 2, []string{"port"}},
		{"restart cap below base", "connection c\naddress h\nrestart_timeout 30 10\n", 3, []string{"below base"}},
		{"not UTF-8", "user \xff\xfe\n", 1, []string{"UTF-8"}},
		{"include_dir missing", "include_dir /nonexistent/forkmq-conf.d\n", 1, []string{"include_dir"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse(writeConf(t, c.file))
			wantError(t, err, c.line, c.fragments...)
		})
	}
}

// TestEveryBadLineReported: one reading reports every bad line, so a user
// fixes a file in one go.
func TestEveryBadLineReported(t *testing.T) {
	_, err := Parse(writeConf(t, "allow_anonymous maybe\nlistener 1883\nfoo 1\nmax_connections many\n"))
	for _, want := range []string{":1: allow_anonymous", ":3: foo", ":4: max_connections"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want it to report %q", err, want)
		}
	}
}

func TestGrammar(t *testing.T) {
	cfg := mustParse(t, strings.Join([]string{
		"# a comment",
		"   # an indented comment (mosquitto wants '#' in the first column)",
		"",
		"  \t",
		"user   mosquitto   ",         // blanks around the value
		"max_queued_messages\t200",    // a tab between key and value
		"allow_anonymous true # open", // a comment after a one-word value
		"persistence_location /var/lib/forkmq # not a comment", // a string keeps its '#'
		"max_inflight_messages 10",
		"max_inflight_messages 30\r", // the last one wins; a CRLF line end
	}, "\n"))
	g := &cfg.Global
	if got := g.String("user", ""); got != "mosquitto" {
		t.Errorf("user = %q", got)
	}
	if n, _ := g.Int("max_queued_messages", 0); n != 200 {
		t.Errorf("max_queued_messages = %d", n)
	}
	if b, err := g.Bool("allow_anonymous", false); !b || err != nil {
		t.Errorf("allow_anonymous = %v, %v", b, err)
	}
	if got := g.String("persistence_location", ""); got != "/var/lib/forkmq # not a comment" {
		t.Errorf("persistence_location = %q", got)
	}
	if n, _ := g.Int("max_inflight_messages", 0); n != 30 {
		t.Errorf("max_inflight_messages = %d, want the last value", n)
	}
	if st, _ := g.Lookup("max_inflight_messages"); st.Pos.Line != 10 {
		t.Errorf("max_inflight_messages from line %d, want 10", st.Pos.Line)
	}
	if len(cfg.Notices) != 0 || len(cfg.Listeners) != 0 {
		t.Errorf("notices %v, listeners %d", cfg.Notices, len(cfg.Listeners))
	}
}

// TestUnsupportedKeys: a mosquitto key forkmq does not support is noticed
// once, with its line, and changes nothing.
func TestUnsupportedKeys(t *testing.T) {
	cfg := mustParse(t, "listener 1883\nmount_point tenant/\nset_tcp_nodelay true\nplugin_opt_db x\nmax_qos 1\nmaximum_qos 1\n")
	var got []string
	for _, n := range cfg.Notices {
		got = append(got, n.String())
	}
	if len(got) != 5 {
		t.Fatalf("notices = %q, want 5", got)
	}
	for i, key := range []string{"mount_point", "set_tcp_nodelay", "plugin_opt_db", "max_qos", "maximum_qos"} {
		if !strings.Contains(got[i], ":"+itoa(i+2)+": "+key+" is a mosquitto key forkmq does not support") {
			t.Errorf("notice %d = %q", i, got[i])
		}
	}
	if cfg.Listeners[0].Has("mount_point") || cfg.Global.Has("set_tcp_nodelay") {
		t.Error("an unsupported key must not be kept")
	}
}

func itoa(n int) string { return Pos{Line: n}.String()[len("line "):] }

// TestPerListenerSettings: with per_listener_settings true each listener
// has its own security keys; keys before the first listener belong to the
// default listener.
func TestPerListenerSettings(t *testing.T) {
	cfg := mustParse(t, strings.Join([]string{
		"per_listener_settings true",
		"allow_anonymous true", // the default listener's
		"listener 1883 127.0.0.1",
		"allow_anonymous true",
		"listener 8883",
		"password_file /etc/forkmq/passwd",
		"max_queued_messages 10", // global, wherever written
		"per_listener_settings false",
	}, "\n"))
	if !cfg.PerListenerSettings {
		t.Fatal("per_listener_settings must stay true once set (as in mosquitto)")
	}
	local, public := cfg.Listeners[0], cfg.Listeners[1]
	if b, _ := cfg.Security(nil).Bool("allow_anonymous", false); !b {
		t.Error("the default listener's allow_anonymous")
	}
	if b, _ := cfg.Security(local).Bool("allow_anonymous", false); !b {
		t.Error("the local listener allows anonymous clients")
	}
	if cfg.Security(public).Has("allow_anonymous") || cfg.Security(public).String("password_file", "") != "/etc/forkmq/passwd" {
		t.Error("the public listener has its password file and no allow_anonymous")
	}
	if cfg.Global.Has("allow_anonymous") || cfg.Global.Has("password_file") {
		t.Error("security keys must not be global with per_listener_settings")
	}
	if !cfg.Global.Has("max_queued_messages") {
		t.Error("max_queued_messages is global")
	}
}

// TestListenerBlocks: listener keys go to the last listener line, even
// after a connection line (mosquitto's rule); before any, to the default
// listener.
func TestListenerBlocks(t *testing.T) {
	cfg := mustParse(t, strings.Join([]string{
		"max_connections 50", // default listener
		"listener 1883",
		"max_connections 100",
		"connection cloud",
		"address cluster.example:1883",
		"topic sensors/# out 1",
		"protocol websockets", // still the 1883 listener's
		"listener 9001 ::1",
		"protocol websockets",
		"enable_proxy_protocol 2",
		"remote_clientid edge-1", // still the bridge's
	}, "\n"))
	if n, _ := cfg.Default.Int("max_connections", -1); n != 50 {
		t.Errorf("default listener max_connections = %d", n)
	}
	l1, l2 := cfg.Listeners[0], cfg.Listeners[1]
	if n, _ := l1.Int("max_connections", -1); n != 100 {
		t.Errorf("1883 max_connections = %d", n)
	}
	if p, _ := l1.Word("protocol", "mqtt"); p != "websockets" {
		t.Errorf("1883 protocol = %q", p)
	}
	if l2.Addr != "[::1]:9001" {
		t.Errorf("IPv6 listener address = %q", l2.Addr)
	}
	if v, _ := l2.Int("enable_proxy_protocol", 0); v != 2 {
		t.Errorf("enable_proxy_protocol = %d", v)
	}
	b := cfg.Bridges[0]
	if b.String("remote_clientid", "") != "edge-1" {
		t.Error("remote_clientid belongs to the bridge")
	}
}

func TestBridge(t *testing.T) {
	cfg := mustParse(t, strings.Join([]string{
		"connection cluster",
		"addresses emqx-1.local:1883 10.0.0.7 [fd00::1]:8883 fd00::2:1884",
		"topic sensors/# out 1",
		"topic commands/# in 2 edge/ site-7/",
		"topic # both 0 \"\" mirror/",
		"topic \"\" both 1 local/status site-7/status",
		"topic alarms",
		"clientid edge-7", // mosquitto's old name for remote_clientid
		"username edge",
		"password s3cret",
		"cleansession false",
		"keepalive_interval 30",
		"restart_timeout 10 60",
		"bridge_cafile /etc/forkmq/ca.crt",
		"connection second",
		"address other:1883",
		"restart_timeout 20",
	}, "\n"))
	if len(cfg.Bridges) != 2 {
		t.Fatalf("bridges = %d", len(cfg.Bridges))
	}
	b := cfg.Bridges[0]
	addrs, err := b.Addresses()
	want := []string{"emqx-1.local:1883", "10.0.0.7:1883", "[fd00::1]:8883", "[fd00::2]:1884"}
	if err != nil || strings.Join(addrs, " ") != strings.Join(want, " ") {
		t.Errorf("addresses = %q, %v; want %q", addrs, err, want)
	}
	topics, err := b.Topics()
	if err != nil {
		t.Fatal(err)
	}
	wantTopics := []struct {
		local, remote string
		dir           Direction
		qos           byte
	}{
		{"sensors/#", "sensors/#", Out, 1},
		{"edge/commands/#", "site-7/commands/#", In, 2},
		{"#", "mirror/#", Both, 0},
		{"local/status", "site-7/status", Both, 1},
		{"alarms", "alarms", Out, 0}, // mosquitto's defaults: out, QoS 0
	}
	if len(topics) != len(wantTopics) {
		t.Fatalf("topics = %+v", topics)
	}
	for i, w := range wantTopics {
		g := topics[i]
		if g.LocalFilter() != w.local || g.RemoteFilter() != w.remote || g.Direction != w.dir || g.QoS != w.qos || g.Pos.Line != i+3 {
			t.Errorf("topic %d = %+v (%s → %s), want %+v", i, g, g.LocalFilter(), g.RemoteFilter(), w)
		}
	}
	if b.String("remote_clientid", "") != "edge-7" || b.String("remote_username", "") != "edge" || b.String("remote_password", "") != "s3cret" {
		t.Error("clientid, username and password are read as remote_clientid, remote_username, remote_password")
	}
	if st, _ := b.Lookup("remote_clientid"); st.Name != "clientid" {
		t.Errorf("the setting keeps the name as written: %q", st.Name)
	}
	if clean, _ := b.Bool("cleansession", true); clean {
		t.Error("cleansession false")
	}
	if d, _ := b.Duration("keepalive_interval", 60*time.Second); d != 30*time.Second {
		t.Errorf("keepalive_interval = %v", d)
	}
	if bo, err := b.RestartTimeout(); err != nil || bo != (Backoff{10 * time.Second, 60 * time.Second}) {
		t.Errorf("restart_timeout = %+v, %v", bo, err)
	}
	if bo, _ := cfg.Bridges[1].RestartTimeout(); bo != (Backoff{20 * time.Second, 20 * time.Second}) {
		t.Errorf("constant restart_timeout = %+v", bo)
	}
	other := &Bridge{}
	if bo, _ := other.RestartTimeout(); bo != DefaultBackoff {
		t.Errorf("default restart_timeout = %+v", bo)
	}
}

// TestIncludeDir: include_dir reads .conf files in mosquitto's order, and
// only from the main file.
func TestIncludeDir(t *testing.T) {
	dir := t.TempDir()
	inc := filepath.Join(dir, "conf.d")
	if err := os.Mkdir(inc, 0o700); err != nil {
		t.Fatal(err)
	}
	// Each file appends its name to a bridge's topics, so the reading
	// order is visible in the result.
	for _, n := range []string{"b", "A", "01", "a", "B", "00"} {
		content := "topic order/" + n + "\n"
		if n == "a" {
			content += "include_dir " + inc + "\n"
		}
		if err := os.WriteFile(filepath.Join(inc, n+".conf"), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []string{"README", "x.conf.bak"} {
		if err := os.WriteFile(filepath.Join(inc, n), []byte("not a key\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	main := filepath.Join(dir, "main.conf")
	if err := os.WriteFile(main, []byte("connection c\naddress h\ninclude_dir "+inc+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Parse(main)
	if err != nil {
		t.Fatal(err)
	}
	topics, _ := cfg.Bridges[0].Topics()
	var order []string
	for _, tp := range topics {
		order = append(order, strings.TrimPrefix(tp.Pattern, "order/"))
	}
	if got, want := strings.Join(order, " "), "00 01 A a B b"; got != want {
		t.Errorf("include order = %s, want %s (mosquitto.conf(5))", got, want)
	}
	if len(cfg.Notices) != 1 || cfg.Notices[0].Pos != (Pos{filepath.Join(inc, "a.conf"), 2}) {
		t.Errorf("notices = %v, want the nested include_dir noticed", cfg.Notices)
	}

	// A directory holding the main file would read it twice.
	if err := os.WriteFile(filepath.Join(inc, "main.conf"), []byte("include_dir "+inc+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Parse(filepath.Join(inc, "main.conf"))
	wantError(t, err, 1, "holds the main config file")
}

func TestCompareIncluded(t *testing.T) {
	cases := []struct {
		a, b string
		want int
	}{
		{"A.conf", "a.conf", -1},
		{"a.conf", "B.conf", -1},
		{"B.conf", "a.conf", 1},
		{"00.conf", "A.conf", -1},
		{"ab.conf", "aB.conf", 1},
		{"a.conf", "a.conf", 0},
		{"a.conf", "ab.conf", -1},
	}
	for _, c := range cases {
		if got := compareIncluded(c.a, c.b); sign(got) != c.want {
			t.Errorf("compareIncluded(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}

func sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}
