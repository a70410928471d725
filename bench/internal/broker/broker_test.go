package broker

import (
	"context"
	"os"
	"path/filepath"
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

func TestBuildRevisionFromTheRevisionFile(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "broker")
	rev := filepath.Join(dir, RevisionFile)
	if err := os.WriteFile(bin, []byte("not really a binary"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(rev, []byte("0123abcd+modified\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(bin, old, old); err != nil {
		t.Fatal(err)
	}
	if got, modified := BuildRevision(bin); got != "0123abcd" || !modified {
		t.Fatalf("BuildRevision = %q, %v; want 0123abcd, modified", got, modified)
	}
	// A binary rebuilt after the file was written is not described by it.
	now := time.Now().Add(time.Hour)
	if err := os.Chtimes(bin, now, now); err != nil {
		t.Fatal(err)
	}
	if got, _ := BuildRevision(bin); got != "" {
		t.Fatalf("BuildRevision of a binary newer than its revision file = %q, want unknown", got)
	}
}

func TestLogCountAndTail(t *testing.T) {
	dir := t.TempDir()
	i := &Instance{LogPath: filepath.Join(dir, "log")}
	log := "1: New client connected\n2: Outgoing messages are being DROPPED for client s0.\n3: ok\n4: message dropped again\n"
	if err := os.WriteFile(i.LogPath, []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
	n, first := i.LogCount("drop")
	if n != 2 || !strings.HasPrefix(first, "2: Outgoing") {
		t.Fatalf("LogCount = %d, %q", n, first)
	}
	if tail := i.LogTail(); !strings.HasSuffix(tail, "3: ok | 4: message dropped again") {
		t.Fatalf("LogTail = %q", tail)
	}
}

// mosquitto's configuration keeps its defaults but what the benchmark must
// set, logs notices (its drop messages are notices), and differs between
// the two presets by set_tcp_nodelay alone.
func TestMosquittoConfigurations(t *testing.T) {
	def, nodelay := mosquittoConf("1884", false), mosquittoConf("1884", true)
	for _, want := range []string{"listener 1884 127.0.0.1", "allow_anonymous true", "log_type notice"} {
		if !strings.Contains(def, want) {
			t.Errorf("default configuration lacks %q:\n%s", want, def)
		}
	}
	if strings.Contains(def, "set_tcp_nodelay") || strings.Contains(def, "max_queued") || strings.Contains(def, "log_type information") {
		t.Errorf("default configuration changes more than it must:\n%s", def)
	}
	if nodelay != def+"set_tcp_nodelay true\n" {
		t.Errorf("nodelay configuration = %q, want the default plus set_tcp_nodelay true", nodelay)
	}
	names := map[string]bool{}
	for _, p := range Presets(PresetOptions{BinDir: "bin", ProcessMaxClients: 10, GoroutineMaxClients: 10}) {
		names[p.Name] = true
	}
	for _, n := range []string{ForkmqProcess, ForkmqGoroutine, Mosquitto, MosquittoNodelay, Mochi} {
		if !names[n] {
			t.Errorf("no preset %s", n)
		}
	}
}
