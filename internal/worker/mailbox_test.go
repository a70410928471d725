package worker

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/forkmq/forkmq/internal/core"
	"github.com/forkmq/forkmq/internal/envelope"
	"github.com/forkmq/forkmq/internal/mailstore"
	"github.com/forkmq/forkmq/internal/packet"
	"github.com/forkmq/forkmq/internal/spool"
	"github.com/forkmq/forkmq/internal/stall"
)

// testMailbox makes a session's mailbox folder holding the given entries
// (name → QoS), each a publication whose payload is its name.
func testMailbox(t *testing.T, entries map[string]packet.QoS) (*spool.Spool, string) {
	t.Helper()
	sp, err := spool.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	const q = "forkmq.1.s00"
	if err := sp.AddQueue(q); err != nil {
		t.Fatal(err)
	}
	for name, qos := range entries {
		if err := mailstore.Write(sp.QueueDir(q), name, envelope.AppendPublish(nil, publishFlags(qos, false), "t", []byte(name))); err != nil {
			t.Fatal(err)
		}
	}
	return sp, q
}

// describe is what a flow is, for comparing: entry, QoS, identifier,
// released, payload.
func describe(u core.Unsettled) string {
	payload := ""
	if u.Item.Msg != nil {
		payload = string(u.Item.Msg.Payload)
	}
	return fmt.Sprintf("%s q%d id%d rel=%v %q", u.Item.Entry, u.Item.QoS, u.ID, u.Released, payload)
}

// unsettled is what a mailbox's Unsettled says, each flow described.
func unsettled(t *testing.T, mb *mailbox) []string {
	t.Helper()
	flows, err := mb.Unsettled()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range flows {
		out = append(out, describe(f))
	}
	return out
}

func names(items []core.Item) []string {
	var out []string
	for _, it := range items {
		out = append(out, it.Entry)
	}
	return out
}

// A deliverer killed at any point leaves the mailbox so that the next one
// resends exactly what is unsettled, with the same identifiers
// [MQTT-4.4.0-1]: a QoS 2 message whose PUBREC came only as PUBREL
// [MQTT-4.3.3-1]; an acknowledged one never; one taken but not yet sent as
// new. A torn entry (its router died writing it) is never delivered, and
// deleted once old.
func TestMailboxRecoversAfterAKill(t *testing.T) {
	sp, q := testMailbox(t, map[string]packet.QoS{"e1": 1, "e2": 2, "e3": 2, "e4": 1, "e5": 1})
	dir := sp.QueueDir(q)
	for name, age := range map[string]time.Duration{"e0-dead": time.Hour, "e6-writing": 0} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte("fqm1\x00\x00"), 0o600); err != nil {
			t.Fatal(err)
		}
		os.Chtimes(path, time.Now().Add(-age), time.Now().Add(-age))
	}

	mb := newMailbox(sp, q, zerolog.Nop())
	if flows, err := mb.Unsettled(); err != nil || len(flows) != 0 {
		t.Fatalf("a new mailbox has flows under way: %v, %v", flows, err)
	}
	items, err := mb.Next(10)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := names(items), []string{"e1", "e2", "e3", "e4", "e5"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("Next = %v, want %v", got, want)
	}
	for i, name := range []string{"e1", "e2", "e3", "e4"} {
		if err := mb.Sent(name, uint16(i+1)); err != nil {
			t.Fatal(err)
		}
	}
	must(t, mb.Released("e3", 3))
	must(t, mb.Settled("e1", 1, false))
	// Killed here: no Close. e5 was taken, never sent.

	if _, err := os.Stat(filepath.Join(dir, "e0-dead")); !os.IsNotExist(err) {
		t.Errorf("the old torn entry is still there (%v)", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "e6-writing")); err != nil {
		t.Errorf("a torn entry still being written was deleted: %v", err)
	}

	again := newMailbox(sp, q, zerolog.Nop())
	got := unsettled(t, again)
	want := []string{`e2 q2 id2 rel=false "e2"`, `e3 q2 id3 rel=true ""`, `e4 q1 id4 rel=false "e4"`}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("Unsettled after the kill:\n got %q\nwant %q", got, want)
	}
	items, err = again.Next(10)
	if err != nil {
		t.Fatal(err)
	}
	if got := names(items); fmt.Sprint(got) != "[e5]" {
		t.Fatalf("Next after the kill = %v, want [e5]", got)
	}
	// A doorbell for an entry already under way changes nothing.
	again.Rang("e2")
	if again.Rung() != 0 {
		t.Fatalf("a bell for an entry under way was noted")
	}
	again.Close()
}

// A doorbell that carries its entry spares the deliverer reading it back;
// an entry dropped after its doorbell rang (a full mailbox) is not
// delivered for all that.
func TestMailboxTakesWhatTheDoorbellCarried(t *testing.T) {
	sp, q := testMailbox(t, map[string]packet.QoS{"e1": 1, "e2": 1, "e3": 1})
	mb := newMailbox(sp, q, zerolog.Nop())
	if _, err := mb.Unsettled(); err != nil {
		t.Fatal(err)
	}
	bell := func(name, payload string) {
		body := envelope.AppendMailbox(nil, name, envelope.AppendPublish(nil, publishFlags(1, false), "t", []byte(payload)))[1:]
		name, env := envelope.ParseMailbox(body)
		mb.keep(name, env)
		mb.Rang(name)
	}
	bell("e1", "from the bell") // differs from the entry only to show where it came from
	bell("e2", "dropped")
	must(t, mailstore.Remove(sp.QueueDir(q), "e2"))
	items, err := mb.Next(10)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, it := range items {
		got = append(got, it.Entry+"="+string(it.Msg.Payload))
	}
	if want := "[e1=from the bell e3=e3]"; fmt.Sprint(got) != want {
		t.Fatalf("Next = %v, want %s", got, want)
	}
	if len(mb.kept) != 0 {
		t.Fatalf("%d doorbells still kept after Next took them", len(mb.kept))
	}
}

// The journal is compacted as it grows, and what it says after many
// compactions is still what is under way.
func TestMailboxJournalCompaction(t *testing.T) {
	entries := map[string]packet.QoS{}
	for i := range 200 {
		entries[fmt.Sprintf("e%03d", i)] = 1
	}
	sp, q := testMailbox(t, entries)
	mb := newMailbox(sp, q, zerolog.Nop())
	mb.limit = 300 // a handful of records
	if _, err := mb.Unsettled(); err != nil {
		t.Fatal(err)
	}
	items, err := mb.Next(200)
	if err != nil {
		t.Fatal(err)
	}
	for i, it := range items {
		must(t, mb.Sent(it.Entry, uint16(i+1)))
		if i%2 == 0 || i >= 190 {
			continue // unsettled: the even ones and the last ten
		}
		must(t, mb.Settled(it.Entry, uint16(i+1), false))
	}
	want := 0
	for i := range items {
		if i%2 == 0 || i >= 190 {
			want++
		}
	}
	// Uncompacted it would hold a 12-byte record per message sent (200);
	// compacted, at most one per flow under way plus what came since.
	if info, err := os.Stat(filepath.Join(sp.QueueDir(q), ".journal")); err != nil || info.Size() > mb.limit+int64(want)*12 {
		t.Fatalf("the journal was not compacted: %d bytes, %v", info.Size(), err)
	}
	flows, err := newMailbox(sp, q, zerolog.Nop()).Unsettled()
	if err != nil {
		t.Fatal(err)
	}
	if len(flows) != want {
		t.Fatalf("%d flows under way after compactions, want %d", len(flows), want)
	}
	for _, f := range flows {
		var i int
		fmt.Sscanf(f.Item.Entry, "e%d", &i)
		if f.ID != uint16(i+1) {
			t.Errorf("%s resumes as id %d, want %d", f.Item.Entry, f.ID, i+1)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// olderMailbox lays out what a broker before package mailstore left in a
// session's mailbox: each file a bare publication envelope whose topic is
// its base name, named with its progress (<base>, <base>.p<id>,
// <base>.r<id>); files whose content is given are written as it.
func olderMailbox(t *testing.T, files map[string]packet.QoS, raw map[string]string) (*spool.Spool, string) {
	t.Helper()
	sp, q := testMailbox(t, nil)
	for name, qos := range files {
		base, _, _ := strings.Cut(name, ".")
		env := envelope.AppendPublish(nil, publishFlags(qos, false), base, []byte("payload of "+base))
		must(t, os.WriteFile(filepath.Join(sp.QueueDir(q), name), env, 0o600))
	}
	for name, content := range raw {
		must(t, os.WriteFile(filepath.Join(sp.QueueDir(q), name), []byte(content), 0o600))
	}
	return sp, q
}

// wrote decodes what a deliverer's output holds, as "PUBLISH topic q<QoS>
// id<id> [dup] payload" and "PUBREL id".
func wrote(t *testing.T, d *core.Deliverer) []string {
	t.Helper()
	var buf bytes.Buffer
	if _, err := d.Output().WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	var out []string
	for buf.Len() > 0 {
		p, err := packet.Read(&buf, 0)
		if err != nil {
			t.Fatalf("output not packets: %v", err)
		}
		switch p := p.(type) {
		case *packet.Publish:
			s := fmt.Sprintf("PUBLISH %s q%d id%d", p.Topic, p.QoS, p.PacketID)
			if p.Dup {
				s += " dup"
			}
			out = append(out, s+" "+string(p.Payload))
		case *packet.Pubrel:
			out = append(out, fmt.Sprintf("PUBREL %d", p.PacketID))
		default:
			out = append(out, p.Type().String())
		}
	}
	return out
}

// folder lists a mailbox folder's files.
func folder(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, de := range des {
		out = append(out, de.Name())
	}
	return out
}

// A session's mailbox left by an older broker is delivered as that broker
// would have: a message it had sent is resent with its identifier and DUP
// [MQTT-4.4.0-1], one whose PUBREC came is only PUBREL'd [MQTT-4.3.3-1,
// MQTT-4.4.0-1], one not yet sent is sent as new. Every older file is
// converted (none left); a file of neither format is left alone.
func TestMailboxConvertsAnOlderBrokersFiles(t *testing.T) {
	foreign := map[string]string{"e6": "not an envelope", "e7.p5": "\x02\x02\x00\x09short"}
	sp, q := olderMailbox(t, map[string]packet.QoS{"e1": 1, "e2.p2": 1, "e3.p3": 2, "e4.r4": 2}, foreign)
	dir := sp.QueueDir(q)
	// Routed after the upgrade, in the new format.
	must(t, mailstore.Write(dir, "e5", envelope.AppendPublish(nil, publishFlags(1, false), "e5", []byte("payload of e5"))))

	var logged bytes.Buffer
	mb := newMailbox(sp, q, zerolog.New(&logged))
	d := core.NewDeliverer(core.Limits{Window: 10, BacklogMsgs: 100, BacklogBytes: 1 << 20}, stall.NewWatch(time.Hour), zerolog.Nop())
	must(t, d.Start(mb))
	want := []string{
		"PUBLISH e2 q1 id2 dup payload of e2",
		"PUBLISH e3 q2 id3 dup payload of e3",
		"PUBREL 4",
		"PUBLISH e1 q1 id1 payload of e1",
		"PUBLISH e5 q1 id5 payload of e5",
	}
	if got := wrote(t, d); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("the deliverer wrote\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if got, want := folder(t, dir), []string{".converted", ".journal", "e1", "e2", "e3", "e4", "e5", "e6", "e7.p5"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("folder after the conversion: %v, want %v", got, want)
	}
	for name, content := range foreign {
		if b, err := os.ReadFile(filepath.Join(dir, name)); err != nil || string(b) != content {
			t.Errorf("a foreign file %s was changed: %q, %v", name, b, err)
		}
	}
	if n := strings.Count(logged.String(), `"entries":4`); n != 1 {
		t.Errorf("want one log line counting 4 entries converted, got:\n%s", logged.String())
	}

	// Killed now: the next connection resends the same flows, and the
	// entries sent since, from the journal alone.
	again := newMailbox(sp, q, zerolog.Nop())
	got := unsettled(t, again)
	if want := []string{
		`e1 q1 id1 rel=false "payload of e1"`, `e2 q1 id2 rel=false "payload of e2"`, `e3 q2 id3 rel=false "payload of e3"`,
		`e4 q2 id4 rel=true ""`, `e5 q1 id5 rel=false "payload of e5"`,
	}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("Unsettled after a kill:\n got %q\nwant %q", got, want)
	}
	again.Close()
}

// A deliverer killed while converting leaves a state from which the next
// one converges, losing nothing and delivering nothing twice: an entry
// written, its older file still there, its record in the journal or not;
// a copy cut short under its temporary name.
func TestMailboxConversionInterrupted(t *testing.T) {
	sp, q := olderMailbox(t, map[string]packet.QoS{"e1.p7": 1, "e2.r8": 2, "e3.p9": 2, "e4": 1},
		map[string]string{".converting.e3": "\x00\x00\x00", ".converting.e4": "fqm1\x00"})
	dir := sp.QueueDir(q)
	for _, base := range []string{"e1", "e2"} { // entries written, older files not yet removed
		must(t, mailstore.Write(dir, base, envelope.AppendPublish(nil, publishFlags(2, false), base, []byte("payload of "+base))))
	}
	j, err := mailstore.Create(dir, map[string]mailstore.Progress{"e2": {ID: 8, Released: true}}, mailstore.DefaultLimit)
	must(t, err)
	j.Close()

	want := []string{`e1 q2 id7 rel=false "payload of e1"`, `e2 q2 id8 rel=true ""`, `e3 q2 id9 rel=false "payload of e3"`}
	for run := range 2 { // the second as if the first had been killed just before leaving its marker
		mb := newMailbox(sp, q, zerolog.Nop())
		if got := unsettled(t, mb); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("run %d: Unsettled\n got %q\nwant %q", run, got, want)
		}
		items, err := mb.Next(10)
		if err != nil {
			t.Fatal(err)
		}
		if got := names(items); fmt.Sprint(got) != "[e4]" {
			t.Fatalf("run %d: Next = %v, want [e4]", run, got)
		}
		mb.Close()
		if got, want := folder(t, dir), []string{".converted", ".journal", "e1", "e2", "e3", "e4"}; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("run %d: folder %v, want %v", run, got, want)
		}
		must(t, os.Remove(filepath.Join(dir, mailboxConverted)))
	}
}

// An older file larger than a deliverer reads into memory is converted
// whole (streamed, not read in at once) and resent from the new entry.
func TestMailboxConvertsALargeOlderFile(t *testing.T) {
	payload := strings.Repeat("0123456789abcdef", 3*entryBuf/16)
	sp, q := olderMailbox(t, nil, map[string]string{
		"e1.p3": string(envelope.AppendPublish(nil, publishFlags(1, true), "big", []byte(payload))),
	})
	mb := newMailbox(sp, q, zerolog.Nop())
	flows, err := mb.Unsettled()
	if err != nil {
		t.Fatal(err)
	}
	if len(flows) != 1 || flows[0].ID != 3 || flows[0].Item.Entry != "e1" || flows[0].Item.QoS != 1 {
		t.Fatalf("Unsettled = %+v, want e1 sent as id 3 at QoS 1", flows)
	}
	m := flows[0].Item.Msg
	if m.File == nil {
		t.Fatalf("a %d-byte payload was read into memory", len(payload))
	}
	defer m.File.Close()
	got := make([]byte, m.Size)
	if _, err := m.File.ReadAt(got, m.Offset); err != nil || string(got) != payload || m.Topic != "big" || !m.Retain {
		t.Fatalf("resent %q (%d bytes, retain %v, %v), want the older file's %d bytes on \"big\", retained", m.Topic, len(got), m.Retain, err, len(payload))
	}
	if got := folder(t, sp.QueueDir(q)); fmt.Sprint(got) != "[.converted .journal e1]" {
		t.Fatalf("folder %v", got)
	}
}
