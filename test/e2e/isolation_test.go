package e2e

// Isolation: what the broker keeps is private to it (a 0700 state
// directory, 0600 queues), it can give up root after binding, and nothing a
// client names — identifier, user name, topic — becomes a path outside its
// state directory.

import (
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/forkmq/forkmq/internal/rawmqtt"
)

// ownerOf is the uid that owns path.
func ownerOf(t testing.TB, path string) int {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return int(fi.Sys().(*syscall.Stat_t).Uid)
}

// TestStateAndQueueModes: a state directory made readable by others
// beforehand is mode 0700 once the broker runs, and every client queue is
// mode 0600 and owned by the broker's user.
func TestStateAndQueueModes(t *testing.T) {
	t.Parallel()
	onProcessEngine(t, func(t *testing.T) {
		stateDir := filepath.Join(t.TempDir(), "state")
		if err := os.Mkdir(stateDir, 0o755); err != nil {
			t.Fatal(err)
		}
		b := startBroker(t, withStateDir(stateDir))
		watch(t, b, "iso/#")
		connectWithWill(t, b, "iso/will", "bye")
		b.assertClean(t, 2)

		fi, err := os.Stat(b.StateDir)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o700 {
			t.Errorf("state directory %s has mode %v, want 0700", b.StateDir, fi.Mode().Perm())
		}
		queues, err := listQueues(b.QueuePrefix)
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range queues {
			fi, err := os.Stat(filepath.Join(mqDir, q))
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("queue %s has mode %v, want 0600", q, fi.Mode().Perm())
			}
			if uid := int(fi.Sys().(*syscall.Stat_t).Uid); uid != os.Getuid() {
				t.Errorf("queue %s is owned by uid %d, the broker runs as %d", q, uid, os.Getuid())
			}
		}
	})
}

// TestWorkersRunAsUser: started as root with -user nobody, the broker binds
// its port, then runs as nobody — itself and (process engine) every router
// and deliverer: all four ids of /proc/<pid>/status Uid and Gid — owns its
// state directory and queues, and serves as before. Both engines.
func TestWorkersRunAsUser(t *testing.T) {
	t.Parallel()
	if os.Getuid() != 0 {
		t.Skip("needs root to change user")
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skipf("no user nobody: %v", err)
	}
	uid, gid := nobody.Uid, nobody.Gid
	forEachEngine(t, func(t *testing.T, engine string) {
		// The worker and the state directory must be reachable by nobody:
		// the harness builds into a private directory, and t.TempDir is
		// private too.
		parent := publicTempDir(t, "forkmq-nobody-")
		flags := []string{"-user", "nobody"}
		if engine == "process" {
			flags = append(flags, "-worker", copyWorker(t))
		}
		b := startBroker(t, withEngine(engine), withStateDir(filepath.Join(parent, "state")), brokerFlags(flags...))
		if l := b.waitLog(t, ioTimeout, "privileges dropped", nil); l.str("uid") != uid {
			t.Errorf("privileges dropped to uid %s, want nobody's %s: %s", l.str("uid"), uid, l.raw)
		}

		sub := connectPaho(t, b, newClientID("nobodysub"))
		in := subscribe(t, sub, "iso/user", "iso/fence")
		pubID := newClientID("nobodypub")
		pub := connectPaho(t, b, pubID)
		publish(t, pub, "iso/user", []byte("as nobody"))
		if got := fence(t, pub, in, "iso/fence"); len(got) != 1 || string(got[0].payload) != "as nobody" {
			t.Errorf("subscriber got %q, want [\"as nobody\"]", payloads(got))
		}

		pair := pairOf(b.connectedLine(t, pubID))
		procs := map[string]int{"broker": b.PID}
		if engine == "process" {
			procs["router"], procs["deliverer"] = pair.router, pair.deliverer
		}
		for name, pid := range procs {
			for field, want := range map[string]string{"Uid": uid, "Gid": gid} {
				v, err := procStatus(pid, field)
				if err != nil {
					t.Fatal(err)
				}
				if ids := strings.Fields(v); len(ids) != 4 || slices.ContainsFunc(ids, func(id string) bool { return id != want }) {
					t.Errorf("%s %d: %s %q, want real, effective, saved and filesystem ids all %s (nobody)", name, pid, field, v, want)
				}
			}
		}
		want, _ := strconv.Atoi(uid)
		if got := ownerOf(t, b.StateDir); got != want {
			t.Errorf("state directory owned by uid %d, want nobody (%d)", got, want)
		}
		queues, err := listQueues(b.QueuePrefix)
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range queues {
			if got := ownerOf(t, filepath.Join(mqDir, q)); got != want {
				t.Errorf("queue %s owned by uid %d, want nobody (%d)", q, got, want)
			}
		}
		b.assertClean(t, 2)
	})
}

// connectWithUsername is a 3.1.1 CONNECT with a user name and no password
// [MQTT-3.1.2-22 allows a user name alone]; clean selects the session.
func connectWithUsername(clientID, username string, clean bool) []byte {
	c := rawmqtt.MQTT311(clientID)
	c.Flags, c.Username = rawmqtt.ConnectUsername, username
	if clean {
		c.Flags |= rawmqtt.ConnectClean
	}
	return c.Bytes()
}

var hexHash = regexp.MustCompile(`^[0-9a-f]{64}$`)

// TestClientNamesStayInStateDir: client identifiers and user names that
// look like paths — "../../x", "/etc/passwd", "%2e%2e", ... — are ordinary
// names [MQTT-3.1.3-5 lets a server accept any UTF-8 identifier]: each
// client connects, with a clean or a persistent session, and exchanges a
// message on a topic of the same name; the state directory names them only
// by hash; and nothing is created or changed outside the state directory.
func TestClientNamesStayInStateDir(t *testing.T) {
	t.Parallel()
	names := []string{
		"../../x", "/etc/passwd", "%2e%2e", "..", ".", "a/../../b", "clients/../../y",
		`..\..\z`, "ids/../../w", "sessions/..", "/", "%2f..%2f..%2fv",
	}
	onProcessEngine(t, func(t *testing.T) {
		parent := t.TempDir()
		stateDir := filepath.Join(parent, "state")
		outside := []string{"/x", "/y", "/w", "/b", "/v", "/%2e%2e", "/z"}
		before := snapshotOutside(t, parent, stateDir, outside)
		passwd, err := os.Stat("/etc/passwd")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { // after the broker stopped
			for _, p := range snapshotOutside(t, parent, stateDir, outside) {
				if !slices.Contains(before, p) {
					t.Errorf("the broker created %s outside its state directory", p)
				}
			}
			if now, err := os.Stat("/etc/passwd"); err != nil || !now.ModTime().Equal(passwd.ModTime()) || now.Size() != passwd.Size() {
				t.Errorf("/etc/passwd changed: %v, %v", now, err)
			}
		})

		b := startBroker(t, withStateDir(stateDir))
		for i, name := range names {
			clean := i%2 == 0
			rc := rawmqtt.Open(t, b.Addr)
			rc.Send(t, connectWithUsername(name, name, clean))
			rc.Expect(t, rawmqtt.HeaderConnack)
			if codes := rc.SubscribeCodes(t, 0, name); len(codes) != 1 || codes[0] != 0 {
				t.Fatalf("client %q: SUBACK % x for filter %q", name, codes, name)
			}
			rc.Send(t, rawmqtt.Publish{Topic: name, Payload: name}.Bytes())
			if m := rc.ExpectPublish(t); m.Topic != name || m.Payload != name {
				t.Errorf("client %q got %q on %q, want its own message", name, m.Payload, m.Topic)
			}
			rc.Send(t, rawmqtt.Disconnect())
			rc.ExpectClosed(t, ioTimeout)
			if !clean { // discard the session [MQTT-3.1.2-6]
				rc := rawmqtt.Connected(t, b.Addr, rawmqtt.MQTT311(name))
				rc.Send(t, rawmqtt.Disconnect())
				rc.ExpectClosed(t, ioTimeout)
			}
		}
		for _, n := range dirNames(filepath.Join(b.StateDir, "sessions")) {
			if !hexHash.MatchString(strings.TrimSuffix(n, ".in")) {
				t.Errorf("sessions/%s is not named by a hash", n)
			}
		}
		b.assertClean(t, 0)
	})
}
