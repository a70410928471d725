package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/forkmq/forkmq/internal/rawmqtt"
	"github.com/forkmq/forkmq/internal/state"
)

// TestWorkerUIDs: started as root with -worker-uids, the supervisor stays
// root and runs its workers under the range, group FIRST, a client's two
// workers under one uid; the pool spreads pairs over the uids. A client's
// queue is made by its router, so it is owned by (and charged to) the
// pair's uid, with mode 0620: its group routes to it, no other uid reads
// it. Clients served by different uids still publish to each other, and
// nothing is left once they go.
func TestWorkerUIDs(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("needs root to run workers under other uids")
	}
	const first, last = 41100, 41103
	onProcessEngine(t, func(t *testing.T) {
		parent := publicTempDir(t, "forkmq-uids-")
		b := startBroker(t, withStateDir(filepath.Join(parent, "state")),
			withArgs("-worker-uids", fmt.Sprintf("%d-%d", first, last), "-worker", copyWorker(t), "-pool-min-spare", "4"))
		b.waitLog(t, ioTimeout, "workers run under a uid range; the supervisor stays root", nil)

		// Four subscribers, then a publisher: the pool hands pairs of
		// different uids out.
		const subs = 4
		var ids []string
		var conns []*rawmqtt.Conn
		for i := range subs {
			id := newClientID(fmt.Sprint("uid", i))
			c := rawmqtt.Connected(t, b.Addr, rawmqtt.MQTT311(id))
			c.SubscribeGranted(t, 0, "uids/all")
			ids, conns = append(ids, id), append(conns, c)
		}
		pub := connectPublisher(t, b)
		pub.Publish(t, rawmqtt.Publish{Topic: "uids/all", Payload: "to every uid"})
		for i, c := range conns {
			if d := c.Next(t); d.Payload != "to every uid" {
				t.Errorf("subscriber %d got %v", i, d)
			}
		}

		uids := map[int]bool{}
		for _, id := range ids {
			l := b.connectedLine(t, id)
			pair := pairOf(l)
			r, d := procUID(t, pair.router), procUID(t, pair.deliverer)
			if r != d || r < first || r > last {
				t.Errorf("client %s: router uid %d, deliverer uid %d; want one uid of %d-%d", id, r, d, first, last)
			}
			if g, err := procStatus(pair.router, "Gid"); err != nil || strings.Fields(g)[0] != fmt.Sprint(first) {
				t.Errorf("client %s: router gid %q (%v), want %d", id, g, err, first)
			}
			uids[r] = true
			q := l.str("queue")
			var st syscall.Stat_t
			if err := syscall.Stat(filepath.Join(mqDir, q), &st); err != nil {
				t.Errorf("client %s: queue %s: %v", id, q, err)
				continue
			}
			if int(st.Uid) != r || st.Gid != first || st.Mode&0o777 != 0o620 {
				t.Errorf("client %s: queue %s owned by %d:%d mode %o; want %d:%d mode 620", id, q, st.Uid, st.Gid, st.Mode&0o777, r, first)
			}
			if state.IsSessionQueue(q) {
				t.Errorf("client %s: clean session with a session queue %s", id, q)
			}
		}
		if len(uids) < 2 {
			t.Errorf("%d clients served under uids %v; want the pool to spread them", subs, uids)
		}
		if procUID(t, b.PID) != 0 {
			t.Errorf("supervisor runs as uid %d, want root", procUID(t, b.PID))
		}
		for _, c := range conns {
			c.Send(t, rawmqtt.Disconnect())
			c.ExpectClosed(t, ioTimeout)
		}
		pub.Send(t, rawmqtt.Disconnect())
		pub.ExpectClosed(t, ioTimeout)
		b.assertClean(t, 0)
	})
}

// procUID is the real uid of pid.
func procUID(t testing.TB, pid int) int {
	t.Helper()
	v, err := procStatus(pid, "Uid")
	if err != nil {
		t.Fatalf("uid of %d: %v", pid, err)
	}
	var uid int
	fmt.Sscan(v, &uid)
	return uid
}
