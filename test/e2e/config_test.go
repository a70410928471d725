package e2e

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/eclipse/paho.mqtt.golang/packets"
)

// withConfigFile starts the broker with -c path; the harness's own flags
// (listen address, state directory, limits) override the file's.
func withConfigFile(path string) brokerOption {
	return func(c *brokerConfig) { c.args = append(c.args, "-c", path) }
}

// TestConfigFile starts the real broker from a file in mosquitto's syntax:
// its keys apply (a listener line refuses anonymous clients, as mosquitto 2
// does, and the password file lets alice in), a mosquitto key forkmq does
// not support is logged once with its line and ignored, and a SIGHUP
// re-reads the file, applying allow_anonymous at once and saying that
// max_inflight_messages needs a restart.
func TestConfigFile(t *testing.T) {
	passwd, err := exec.LookPath("mosquitto_passwd")
	if err != nil {
		t.Skip("mosquitto_passwd not installed (scripts/install-deps.sh installs package mosquitto)")
	}
	forEachEngine(t, func(t *testing.T, engine string) {
		dir := t.TempDir()
		pwFile, conf := filepath.Join(dir, "passwd"), filepath.Join(dir, "mosquitto.conf")
		if out, err := exec.Command(passwd, "-b", "-c", pwFile, "alice", "wonderland").CombinedOutput(); err != nil {
			t.Fatalf("mosquitto_passwd: %v: %s", err, out)
		}
		write := func(text string) {
			t.Helper()
			if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		write(fmt.Sprintf(`# /etc/mosquitto/mosquitto.conf, as a mosquitto user has it
pid_file /run/mosquitto/mosquitto.pid
persistence true

listener 1883
password_file %s
max_inflight_messages 10
sys_interval 1
`, pwFile))
		b := startBroker(t, withEngine(engine), withConfigFile(conf))

		// The unsupported keys: one line each, naming file:line.
		for line, key := range map[int]string{2: "pid_file", 3: "persistence"} {
			pos := fmt.Sprintf("%s:%d", conf, line)
			b.waitLog(t, ioTimeout, "", func(e logEntry) bool { return e.str("key") == key && e.str("line") == pos })
		}

		// allow_anonymous defaults to false under a listener line; the
		// password file lets alice in.
		if _, err := dialPaho(b, newClientID("anon")); !errors.Is(err, packets.ErrorRefusedNotAuthorised) {
			t.Errorf("anonymous connect: %v, want CONNACK 5 (mosquitto 2 refuses anonymous clients on a listener line)", err)
		}
		alice := connectPaho(t, b, newClientID("alice"), asUser("alice", "wonderland"))
		defer leave(alice)

		// SIGHUP: allow_anonymous true applies at once, a new window
		// needs a restart; alice stays connected.
		write(fmt.Sprintf("pid_file /run/mosquitto/mosquitto.pid\npersistence true\n\nlistener 1883\npassword_file %s\nmax_inflight_messages 20\nsys_interval 1\nallow_anonymous true\n", pwFile))
		if err := b.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		b.waitLog(t, ioTimeout, "SIGHUP: configuration file re-read", nil)
		if l := b.waitLog(t, ioTimeout, "SIGHUP: applied", nil); l.str("option") != "allow-anonymous" || l.str("line") != conf+":8" {
			t.Errorf("applied: %s, want allow-anonymous at %s:8", l.raw, conf)
		}
		if l := b.waitLog(t, ioTimeout, "SIGHUP: changed in the file, takes effect after a restart", nil); l.str("option") != "max-inflight" || l.str("new") != "20" {
			t.Errorf("needs a restart: %s, want max-inflight 20", l.raw)
		}
		mustEventually(t, ioTimeout, func() error {
			c, err := dialPaho(b, newClientID("anon"))
			if err != nil {
				return err
			}
			leave(c)
			return nil
		})
		if !alice.IsConnectionOpen() {
			t.Error("alice was dropped by the reload")
		}
		n := 0
		for _, e := range b.log.entries() {
			if e.str("key") == "pid_file" {
				n++
			}
		}
		if n != 1 {
			t.Errorf("pid_file was reported %d times, want once", n)
		}
	})
}

// TestConfigFileRefused: a bad line stops the broker before it listens,
// with exit status 2 and the file and line to fix.
func TestConfigFileRefused(t *testing.T) {
	if buildErr != nil {
		t.Fatalf("cannot build the broker: %v", buildErr)
	}
	tests := []struct {
		name, file string
		line       int
		want       string
	}{
		{"an unknown key", "listener 1883\nallow_anonymous true\nmax_conections 10\n", 3, "unknown key (did you mean max_connections?)"},
		{"a bad value", "persistence true\nmax_inflight_messages many\n", 2, "max_inflight_messages"},
	}
	for _, engine := range engines() {
		for _, tt := range tests {
			t.Run(engine+"/"+tt.name, func(t *testing.T) {
				conf := filepath.Join(t.TempDir(), "mosquitto.conf")
				if err := os.WriteFile(conf, []byte(tt.file), 0o600); err != nil {
					t.Fatal(err)
				}
				args := []string{"-c", conf, "-engine", engine, "-listen", "127.0.0.1:0", "-state-dir", filepath.Join(t.TempDir(), "state")}
				cmd := exec.Command(filepath.Join(binDir, "broker"), args...)
				cmd.WaitDelay = time.Second
				out, err := cmd.CombinedOutput()
				ee, ok := err.(*exec.ExitError)
				if !ok || ee.ExitCode() != 2 {
					t.Fatalf("broker -c: %v, want exit status 2\n%s", err, out)
				}
				if pos := fmt.Sprintf("%s:%d", conf, tt.line); !strings.Contains(string(out), pos) || !strings.Contains(string(out), tt.want) {
					t.Errorf("broker said %q, want it to name %s and %q", out, pos, tt.want)
				}
			})
		}
	}
}
