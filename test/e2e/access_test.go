package e2e

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"
)

// withAccessArgs passes access-control flags to the broker.
func withAccessArgs(args ...string) brokerOption {
	return func(c *brokerConfig) { c.args = append(c.args, args...) }
}

// asUser makes a paho client connect with a user name and password.
func asUser(user, password string) func(*mqtt.ClientOptions) {
	return func(o *mqtt.ClientOptions) { o.SetUsername(user).SetPassword(password) }
}

// TestAccessControl drives the password and ACL files end to end: a file
// made by Debian's mosquitto_passwd, mosquitto's acl_file syntax, the
// CONNACK codes of a refusal, SUBACK 0x80, a silently dropped PUBLISH, and a
// SIGHUP reload that changes the rules without dropping anyone.
func TestAccessControl(t *testing.T) {
	passwd, err := exec.LookPath("mosquitto_passwd")
	if err != nil {
		t.Skip("mosquitto_passwd not installed (scripts/install-deps.sh installs package mosquitto)")
	}
	forEachEngine(t, func(t *testing.T, engine string) {
		dir := t.TempDir()
		pwFile, aclFile := filepath.Join(dir, "passwd"), filepath.Join(dir, "acl")
		for i, up := range [][2]string{{"alice", "wonderland"}, {"bob", "builder"}} {
			args := []string{"-b", pwFile, up[0], up[1]}
			if i == 0 {
				args = []string{"-b", "-c", pwFile, up[0], up[1]}
			}
			if out, err := exec.Command(passwd, args...).CombinedOutput(); err != nil {
				t.Fatalf("mosquitto_passwd: %v: %s", err, out)
			}
		}
		writeACL := func(rules string) {
			if err := os.WriteFile(aclFile, []byte(rules), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		writeACL("user alice\ntopic readwrite home/#\npattern read clients/%u/#\n\nuser bob\ntopic write home/bob\n")
		b := startBroker(t, withEngine(engine), withAccessArgs("-password-file", pwFile, "-acl-file", aclFile, "-allow-anonymous=false"))

		// Refusals: CONNACK 5 without a user name when anonymous
		// clients are not allowed, CONNACK 4 for a wrong password; both close
		// the connection [MQTT-3.2.2-5].
		refusals := []struct {
			name string
			opts []func(*mqtt.ClientOptions)
			want byte
		}{
			{"anonymous", nil, 5},
			{"wrong password", []func(*mqtt.ClientOptions){asUser("alice", "rabbit")}, 4},
			{"unknown user", []func(*mqtt.ClientOptions){asUser("carol", "x")}, 4},
		}
		for _, r := range refusals {
			_, err := dialPaho(b, newClientID("acl-"+r.name[:4]), r.opts...)
			var code byte
			switch {
			case errors.Is(err, packets.ErrorRefusedNotAuthorised):
				code = 5
			case errors.Is(err, packets.ErrorRefusedBadUsernameOrPassword):
				code = 4
			}
			if code != r.want {
				t.Errorf("%s: connect error %v, want CONNACK %d", r.name, err, r.want)
			}
		}

		alice := connectPaho(t, b, newClientID("alice"), asUser("alice", "wonderland"))
		defer leave(alice)
		bob := connectPaho(t, b, newClientID("bob"), asUser("bob", "builder"))
		defer leave(bob)

		// [MQTT-3.9.3-2] a filter the ACL does not grant gets 0x80.
		tok := alice.SubscribeMultiple(map[string]byte{"office/#": 0, "clients/alice/inbox": 0}, nil)
		waitToken(t, tok, ioTimeout, "SUBSCRIBE")
		granted := tok.(*mqtt.SubscribeToken).Result()
		if granted["office/#"] != 0x80 || granted["clients/alice/inbox"] != 0 {
			t.Errorf("SUBACK codes %v, want office/# 0x80, clients/alice/inbox 0 (pattern %%u)", granted)
		}
		in := subscribe(t, alice, "home/#")
		// bob may write home/bob but not home/alice: the refused PUBLISH is
		// dropped without closing bob's connection (MQTT 3.1.1 cannot say no).
		publish(t, bob, "home/alice/x", []byte("refused"))
		publish(t, bob, "home/bob", []byte("allowed")) // matched by home/#
		msgs := in.waitCount(t, 1, 5*time.Second)
		if string(msgs[0].payload) != "allowed" || !bob.IsConnectionOpen() {
			t.Errorf("alice got %q (bob connected: %v), want only bob's allowed message", topicsOf(msgs), bob.IsConnectionOpen())
		}
		if lines := b.logLines("request refused"); len(lines) == 0 {
			t.Error("no log line for the refused PUBLISH")
		}

		// SIGHUP: bob may now write home/alice/x; nobody is disconnected.
		writeACL("user alice\ntopic readwrite home/#\n\nuser bob\ntopic write home/#\n")
		if err := b.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		// "routers" (goroutine engine) or "workers" (process engine) re-read them.
		b.waitLog(t, 5*time.Second, "", func(e logEntry) bool { return strings.HasSuffix(e.str("message"), " re-read the access files") })
		mustEventually(t, 5*time.Second, func() error {
			publish(t, bob, "home/alice/x", []byte("after reload"))
			for _, m := range in.all() {
				if string(m.payload) == "after reload" {
					return nil
				}
			}
			return errors.New("bob's message after the reload not delivered yet")
		})
		if !alice.IsConnectionOpen() || !bob.IsConnectionOpen() {
			t.Error("a client was dropped by the reload")
		}
	})
}
