package e2e

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/forkmq/forkmq/internal/rawmqtt"
	"github.com/forkmq/forkmq/internal/spool"
	"github.com/forkmq/forkmq/internal/state"
)

// TestConnectionFilesFollowWhatItDid: a connection costs the state
// directory only what its client did, and a killed broker's successor
// still removes all of it.
//
//   - A client that connects and does nothing else makes no file or folder
//     (its record is a slot in state/conns, package conntable) and
//     leaves none.
//   - A subscriber's first SUBSCRIBE makes its topic record and its spool
//     folder; a publication too large for a queue message goes through
//     that folder (its segment).
//   - SIGKILL of the supervisor (the workers follow it): the next broker
//     on the state directory finds both connections in the record the
//     killed one left, and removes their queues, the subscriber's topic
//     entries and spool folder.
func TestConnectionFilesFollowWhatItDid(t *testing.T) {
	t.Parallel()
	onProcessEngine(t, func(t *testing.T) {
		stateDir := filepath.Join(t.TempDir(), "state")
		old := startBroker(t, withStateDir(stateDir))
		// A first client: its router opens the stores every router shares
		// (retained/), once for the broker's life.
		first := rawmqtt.Connected(t, old.Addr, rawmqtt.MQTT311(newClientID("first")))
		first.Send(t, rawmqtt.Disconnect())
		first.ExpectClosed(t, ioTimeout)
		old.assertClean(t, 0)
		before := stateFiles(t, stateDir)

		idle := rawmqtt.Connected(t, old.Addr, rawmqtt.MQTT311(newClientID("idle")))
		old.assertClean(t, 1)
		if during := stateFiles(t, stateDir); !slices.Equal(during, before) {
			t.Errorf("a client that did nothing changed the state directory's files:\nbefore %v\nduring %v", before, during)
		}
		idle.Send(t, rawmqtt.Disconnect())
		idle.ExpectClosed(t, ioTimeout)
		old.assertClean(t, 0)
		if after := stateFiles(t, stateDir); !slices.Equal(after, before) {
			t.Errorf("a client that did nothing left files:\nbefore %v\nafter  %v", before, after)
		}

		idle = rawmqtt.Connected(t, old.Addr, rawmqtt.MQTT311(newClientID("idle")))
		old.assertClean(t, 1)
		idleQueue := old.recordedQueues()[0]
		sub := watch(t, old, "files/#")
		old.assertClean(t, 2)
		subQueue := ""
		for _, q := range old.recordedQueues() {
			if q != idleQueue {
				subQueue = q
			}
		}
		l := state.Layout{Root: stateDir}
		folder := filepath.Join(l.Spool(), subQueue)
		if _, err := os.Stat(folder); err != nil {
			t.Errorf("the subscriber's spool folder: %v", err)
		}
		if qs, err := topicQueues(stateDir); err != nil || !slices.Equal(qs, []string{subQueue}) {
			t.Errorf("topic entries for %v (%v), want the subscriber's %s alone", qs, err, subQueue)
		}
		pub := rawmqtt.Connected(t, old.Addr, rawmqtt.MQTT311(newClientID("filespub")))
		large := strings.Repeat("x", 8<<10) // past any queue message: the segment
		pub.Send(t, rawmqtt.Publish{Topic: "files/large", Payload: large}.Bytes())
		if got := sub.ExpectPublish(t); got.Payload != large {
			t.Fatalf("subscriber got %d bytes on %s, want the large publication", len(got.Payload), got.Topic)
		}
		if _, err := os.Stat(filepath.Join(folder, spool.SegmentFile)); err != nil {
			t.Errorf("the large publication went another way than the subscriber's segment: %v", err)
		}
		queues, err := listQueues(old.QueuePrefix)
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range []string{idleQueue, subQueue} {
			if !slices.Contains(queues, q) {
				t.Fatalf("queue %s missing before the kill (have %v)", q, queues)
			}
		}

		old.killSupervisor(t, old.workerPIDs())
		b := startBroker(t, withStateDir(stateDir))
		b.waitLog(t, ioTimeout, "swept state left by an earlier broker", func(e logEntry) bool {
			return e.fields["connections"] == float64(3) // idle, sub, pub
		})
		left, err := listQueues(b.QueuePrefix)
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range []string{idleQueue, subQueue} {
			if slices.Contains(left, q) {
				t.Errorf("queue %s of the killed broker left after the sweep", q)
			}
		}
		if qs, err := topicQueues(stateDir); err != nil || len(qs) > 0 {
			t.Errorf("topic entries left after the sweep: %v (%v)", qs, err)
		}
		if _, err := os.Stat(folder); !os.IsNotExist(err) {
			t.Errorf("the subscriber's spool folder after the sweep: %v, want it gone", err)
		}
		b.assertClean(t, 0)
	})
}

// stateFiles lists the files and folders of a state directory, but for
// the spool folders pool workers make as they start (spool/tmp/<slot>).
func stateFiles(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		if strings.HasPrefix(rel, filepath.Join("spool", "tmp")+string(filepath.Separator)) {
			return nil
		}
		out = append(out, rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
