package e2e

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/forkmq/forkmq/internal/conntable"
	"github.com/forkmq/forkmq/internal/queue"
	"github.com/forkmq/forkmq/internal/spool"
	"github.com/forkmq/forkmq/internal/state"
	"github.com/forkmq/forkmq/internal/topicdir"
)

// mqDir is where TestMain mounted an mqueue filesystem, to list the POSIX
// queues of a broker; mqErr says why that failed.
var (
	mqDir string
	mqErr error
)

// mountQueues mounts an mqueue filesystem at dir and returns its unmount.
func mountQueues(dir string) (unmount func()) {
	mqDir = dir
	if mqErr = os.MkdirAll(dir, 0o700); mqErr == nil {
		mqErr = queue.Mount(dir)
	}
	if mqErr != nil {
		return func() {}
	}
	return func() { _ = queue.Unmount(dir) }
}

// listQueues lists the queues whose names start with prefix; an engine
// without queues may log no prefix, and then has none.
func listQueues(prefix string) ([]string, error) {
	if prefix == "" {
		return nil, nil
	}
	if mqErr != nil {
		return nil, fmt.Errorf("cannot list queues, mounting mqueue failed: %w", mqErr)
	}
	return queue.List(mqDir, prefix)
}

// topicQueues lists every queue that still has an entry in the topic files.
func topicQueues(stateDir string) ([]string, error) {
	topics := filepath.Join(stateDir, "topics")
	if _, err := os.Stat(topics); os.IsNotExist(err) {
		return nil, nil
	}
	d, err := topicdir.Open(topics)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	return d.Queues()
}

// dirNames lists a directory; a missing directory is empty.
func dirNames(dir string) []string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
	}
	return names
}

// proc is one process as /proc shows it.
type proc struct {
	pid, ppid int
	state     byte // R, S, Z, ...
	args      []string
}

// role is what a worker's process title says it is: "router",
// "deliverer", "will", "idle" (in the pool) or "starting"; "" for a
// process that is no worker.
func (p proc) role() string {
	if len(p.args) == 0 {
		return ""
	}
	rest, ok := strings.CutPrefix(p.args[0], "forkmq: ")
	if !ok {
		return ""
	}
	role, _, _ := strings.Cut(rest, " ")
	return role
}

func (p proc) String() string {
	return fmt.Sprintf("%d(%c %s)", p.pid, p.state, strings.Join(p.args, " "))
}

func readProc(pid int) (proc, bool) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return proc{}, false
	}
	// pid (comm) state ppid ...; comm may hold spaces and parentheses.
	i := strings.LastIndexByte(string(stat), ')')
	fields := strings.Fields(string(stat[i+1:]))
	if i < 0 || len(fields) < 2 {
		return proc{}, false
	}
	p := proc{pid: pid, state: fields[0][0]}
	p.ppid, _ = strconv.Atoi(fields[1])
	if cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err == nil {
		p.args = strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
	}
	return p, true
}

// childrenOf lists the live (non-zombie) children of ppid.
func childrenOf(ppid int) []proc {
	entries, _ := os.ReadDir("/proc")
	var out []proc
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if p, ok := readProc(pid); ok && p.ppid == ppid && p.state != 'Z' {
			out = append(out, p)
		}
	}
	return out
}

// servingWorkers lists the children of ppid that serve a client (a router
// or a deliverer); the pool's idle workers are not among them.
func servingWorkers(ppid int) []proc {
	return slices.DeleteFunc(childrenOf(ppid), func(p proc) bool {
		return p.role() != "router" && p.role() != "deliverer"
	})
}

// alive reports whether pid is a process that has not exited.
func alive(pid int) bool {
	p, ok := readProc(pid)
	return ok && p.state != 'Z'
}

// workerPIDs lists every worker the broker ever logged plus its current children.
func (b *broker) workerPIDs() []int {
	var pids []int
	for _, e := range b.log.entries() {
		if e.str("message") == "client connected" {
			pids = append(pids, e.int("router_pid"), e.int("deliverer_pid"))
		}
	}
	for _, p := range childrenOf(b.PID) {
		pids = append(pids, p.pid)
	}
	slices.Sort(pids)
	return slices.DeleteFunc(slices.Compact(pids), func(pid int) bool { return pid <= 0 })
}

// perClient is how many worker processes and queues one client costs.
func (b *broker) perClient() int {
	if b.cfg.engine == "process" {
		return 1
	}
	return 0
}

// assertClean asserts, within leakTimeout, that a broker serving exactly
// `clients` clients has 2 serving workers (idle pool workers aside), 1
// queue and 1 connection on record (state/conns) per client,
// an empty spool, and topic entries only for live queues. A client of a
// persistent session uses the session's queue instead of its own; the
// persistent sessions on record may keep their queue, topic entries and
// mailbox (spool folder) while they are offline.
func (b *broker) assertClean(t testing.TB, clients int) {
	t.Helper()
	if err := eventually(leakTimeout, func() error { return b.cleanState(clients) }); err != nil {
		t.Errorf("leak check with %d clients connected, after %v: %v", clients, leakTimeout, err)
	}
}

func (b *broker) cleanState(clients int) error {
	var errs errList
	want := clients * b.perClient()
	if kids := servingWorkers(b.PID); len(kids) != 2*want {
		errs.add("broker has %d serving workers %v, want %d", len(kids), kids, 2*want)
	}
	sessions := b.sessionQueues()
	queues, err := listQueues(b.QueuePrefix)
	if err != nil {
		errs.add("list queues: %v", err)
	} else {
		// A connection's queue is made once its client has claimed its
		// identifier: one that has not sent CONNECT yet has none.
		conns := slices.DeleteFunc(slices.Clone(queues), state.IsSessionQueue)
		adopted := b.adoptedSessions()
		if len(conns)+len(adopted) > want {
			errs.add("%d connection queues %v and %d adopted sessions %v, want at most %d clients", len(conns), conns, len(adopted), adopted, want)
		}
		recs := b.recordedQueues()
		for _, q := range conns {
			if !slices.Contains(recs, q) {
				errs.add("queue %s of no recorded connection", q)
			}
		}
		for _, q := range queues {
			if state.IsSessionQueue(q) && !sessions[q] {
				errs.add("queue %s of no recorded persistent session", q)
			}
		}
		for _, q := range adopted {
			if !slices.Contains(queues, q) {
				errs.add("a client adopted the session queue %s, which does not exist", q)
			}
		}
	}
	if recs := b.recordedQueues(); len(recs) != want {
		errs.add("client records for %d queues %v, want %d", len(recs), recs, want)
	}
	b.checkSpool(&errs, append(queues, b.recordedQueues()...), sessions)
	subscribed, err := topicQueues(b.StateDir)
	if err != nil {
		errs.add("topic entries: %v", err)
	}
	for _, q := range subscribed {
		if !slices.Contains(queues, q) && !sessions[q] {
			errs.add("topic entry for queue %s that is gone", q)
		}
	}
	return errs.err()
}

// sessionQueues names the queues of the persistent sessions on record
// (sessions/<hash>); nil for an engine without queues.
func (b *broker) sessionQueues() map[string]bool {
	if b.QueuePrefix == "" {
		return nil
	}
	l := state.Layout{Root: b.StateDir, Instance: b.Instance}
	out := make(map[string]bool)
	for _, name := range dirNames(l.Sessions()) {
		if len(name) == len(state.HashClientID("")) { // a hash, not a ".in" folder
			out[l.SessionQueue(name)] = true
		}
	}
	return out
}

// adoptedSessions lists the session queues that connected clients adopted:
// the session_queue of every "client connected" line of a persistent
// client whose connection has no "client disconnected" line yet.
func (b *broker) adoptedSessions() []string {
	live := map[string]string{} // connection queue → session queue
	for _, e := range b.log.entries() {
		switch e.str("message") {
		case "client connected":
			if e.fields["persistent"] == true {
				live[e.str("queue")] = e.str("session") // the router names the session queue it adopted
			}
		case "client disconnected":
			delete(live, e.str("queue"))
		}
	}
	var out []string
	for _, q := range live {
		out = append(out, q)
	}
	return out
}

// recordedQueues lists the queues of the connections the supervisor has on
// record (state/conns, package conntable), sorted; nil for an engine
// without queues.
func (b *broker) recordedQueues() []string {
	if b.QueuePrefix == "" {
		return nil
	}
	l := state.Layout{Root: b.StateDir, Instance: b.Instance}
	seqs, err := conntable.Read(l.Conns())
	if err != nil {
		return []string{"unreadable record: " + err.Error()}
	}
	var out []string
	for _, seq := range seqs {
		out = append(out, l.ConnQueue(strconv.FormatUint(seq, 10)))
	}
	slices.Sort(out)
	return out
}

// checkSpool requires the spool to hold no payload file (nothing is in
// flight when the tests look) and a folder only for live queues; its
// staging folder tmp/ may stay, and so may the mailboxes of the persistent
// sessions on record, with the messages they keep. A live queue's segment
// stays too, but holds no byte: every copy in it was freed once taken.
func (b *broker) checkSpool(errs *errList, live []string, sessions map[string]bool) {
	dir := filepath.Join(b.StateDir, "spool")
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		rel, _ := filepath.Rel(dir, path)
		owner, _, _ := strings.Cut(rel, string(filepath.Separator))
		switch {
		case err != nil || rel == "." || rel == "tmp" || sessions[owner]:
		case !d.IsDir() && filepath.Base(rel) == spool.SegmentFile && filepath.Dir(rel) == owner:
			if held := allocated(path); held != 0 {
				errs.add("spool segment %s holds %d bytes of copies never freed", rel, held)
			}
		case !d.IsDir():
			errs.add("spool holds the file %s", rel)
		case !strings.Contains(rel, string(filepath.Separator)) && !slices.Contains(live, rel):
			errs.add("spool holds a folder for queue %s that is gone", rel)
		}
		return nil
	})
}

// allocated is how many bytes of memory or disk the file at path holds (a
// sparse file's holes hold none).
func allocated(path string) int64 {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return 0 // gone meanwhile
	}
	return st.Blocks * 512
}

// assertGone asserts, after the broker exited, that none of its workers
// runs and no queue, client record, spool file or topic entry is left,
// except for the mailboxes and topic entries of persistent sessions.
// Whatever is left is then removed, so one leak does not starve the tests
// that follow of queue memory.
func (b *broker) assertGone(t testing.TB, workers []int) {
	t.Helper()
	err := eventually(leakTimeout, func() error {
		var errs errList
		for _, pid := range workers {
			if p, ok := readProc(pid); ok && p.state != 'Z' {
				errs.add("worker %v still runs", p)
			}
		}
		if queues, err := listQueues(b.QueuePrefix); err != nil {
			errs.add("list queues: %v", err)
		} else if len(queues) > 0 {
			errs.add("queues left: %v", queues)
		}
		if recs := b.recordedQueues(); len(recs) > 0 {
			errs.add("connections left on record: %v", recs)
		}
		if names := dirNames(filepath.Join(b.StateDir, "clients")); len(names) > 0 {
			errs.add("clients/ left: %v", names)
		}
		sessions := b.sessionQueues()
		b.checkSpool(&errs, nil, sessions)
		if qs, err := topicQueues(b.StateDir); err != nil {
			errs.add("topic entries: %v", err)
		} else if qs = slices.DeleteFunc(qs, func(q string) bool { return sessions[q] }); len(qs) > 0 {
			errs.add("topic entries left for %v", qs)
		}
		return errs.err()
	})
	if err == nil {
		return
	}
	t.Errorf("after the broker exited: %v", err)
	for _, pid := range workers {
		if alive(pid) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	if queues, _ := listQueues(b.QueuePrefix); mqErr == nil {
		for _, q := range queues {
			_ = os.Remove(filepath.Join(mqDir, q))
		}
	}
}
