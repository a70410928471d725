package worker

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/forkmq/forkmq/internal/core"
	"github.com/forkmq/forkmq/internal/envelope"
	"github.com/forkmq/forkmq/internal/mailstore"
	"github.com/forkmq/forkmq/internal/packet"
	"github.com/forkmq/forkmq/internal/spool"
)

// A persistent session's mailbox is its spool folder: the process engine's
// core.Mailbox, kept on disk as package mailstore lays it out. Each QoS 1/2
// message routed to the session is an entry there until the client settles
// it, and the folder's journal records how far each entry's flow got (sent
// under an identifier, PUBREC received). So a new connection of the session
// resends exactly what is unsettled, with the same identifiers and DUP set
// [MQTT-4.4.0-1], and never sends a QoS 2 message again once PUBREC came
// back. Entry names sort by the time they were routed. What an older
// broker left in the folder is converted when the session is opened (see
// mailboxConverted).
const mailboxMissed = ".missed" // a router could not ring the doorbell: rescan

// mailboxReader is the file in a session's mailbox folder that the
// deliverer reading the session holds a shared flock on while it lives; the
// kernel drops the lock however the deliverer ends. A router that finds the
// session's queue full asks whether anyone reads it (sessionOnline) before
// it waits.
const mailboxReader = ".reader"

// readSession takes the reader's lock of a session's mailbox folder; the
// returned file holds it until closed.
func readSession(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, mailboxReader), os.O_CREATE|os.O_RDONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("session reader lock: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_SH); err != nil {
		f.Close()
		return nil, fmt.Errorf("session reader lock: %w", os.NewSyscallError("flock", err))
	}
	return f, nil
}

// sessionOnline reports whether a deliverer reads the session whose
// mailbox folder is dir.
// Raw calls, not os.Open: this is on a router's path per message when the
// session looks behind, and os.Open adds five fcntl/epoll_ctl calls.
func sessionOnline(dir string) bool {
	fd, err := unix.Open(filepath.Join(dir, mailboxReader), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	if unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB) != nil {
		return true // a reader holds it
	}
	unix.Flock(fd, unix.LOCK_UN)
	return false
}

// mailboxUsage counts the messages and bytes in a mailbox folder.
func mailboxUsage(dir string) (n int, size int64) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, 0
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		n++
		if info, err := e.Info(); err == nil {
			size += info.Size()
		}
	}
	return n, size
}

// missedEvery is how often at most a deliverer looks for the
// missed-doorbell marker. A router leaves it only when an online session's
// queue stayed full for publishWait (its deliverer ran no more); looking
// every turn cost a failing unlink per turn.
const missedEvery = time.Second

// tornAge is how old a torn entry must be before a deliverer deletes it:
// far longer than a router takes to write one, so the entry's writer died.
const tornAge = time.Minute

// entryBuf is how much of an entry a deliverer reads into memory: one read
// takes any entry that fits in a queue message.
const entryBuf = 16 << 10

// mailbox is a persistent session's mailbox, as its deliverer reads it.
type mailbox struct {
	dir     string
	known   []string                      // entries not yet sent, sorted: rung or found by a scan
	given   map[string]mailstore.Progress // entries handed out and not settled (ID 0: not sent yet)
	journal *mailstore.Journal            // open once Unsettled has replayed it
	limit   int64                         // the journal's size before it is compacted
	rescan  bool                          // a doorbell was missed: read the folder again
	looked  time.Time                     // when takeMissed last looked for the marker
	kept    map[string]core.Item          // entries their doorbell carried: not read back from disk
	buf     []byte
	log     zerolog.Logger
}

func newMailbox(sp *spool.Spool, queue string, log zerolog.Logger) *mailbox {
	return &mailbox{dir: sp.QueueDir(queue), given: map[string]mailstore.Progress{}, kept: map[string]core.Item{}, limit: mailstore.DefaultLimit, log: log}
}

// Close closes the journal.
func (mb *mailbox) Close() {
	if mb.journal != nil {
		mb.journal.Close()
		mb.journal = nil
	}
}

// Rung implements core.Mailbox.
func (mb *mailbox) Rung() int { return len(mb.known) }

// Unsettled implements core.Mailbox: it converts what an older broker left
// in the folder (convertOlder), replays the journal against the entries
// still there (an entry gone is settled), and starts the journal afresh
// with the flows under way.
func (mb *mailbox) Unsettled() ([]core.Unsettled, error) {
	flows, err := mailstore.Recover(mb.dir)
	if err != nil {
		return nil, err
	}
	if err := mb.convertOlder(flows); err != nil {
		return nil, err
	}
	names, err := mailstore.Entries(mb.dir)
	if err != nil {
		return nil, err
	}
	var out []core.Unsettled
	live := map[string]mailstore.Progress{}
	for _, name := range names {
		p, sent := flows[name]
		if !sent {
			mb.known = append(mb.known, name)
			continue
		}
		if p.Released {
			live[name] = p
			out = append(out, core.Unsettled{Item: core.Item{Kind: core.Publication, QoS: packet.ExactlyOnce, Entry: name}, ID: p.ID, Released: true})
			continue
		}
		it, err := mb.read(name)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) || errors.Is(err, mailstore.ErrTorn) {
				continue // settled meanwhile; or never whole, so never sent
			}
			return nil, err
		}
		live[name] = p
		out = append(out, core.Unsettled{Item: it, ID: p.ID})
	}
	if mb.journal != nil { // opened by convertOlder
		err = mb.journal.Rewrite(live)
	} else {
		mb.journal, err = mailstore.Create(mb.dir, live, mb.limit)
	}
	if err != nil {
		return nil, err
	}
	for name, p := range live {
		mb.given[name] = p
	}
	return out, nil
}

// keepMax bounds the entries kept from doorbells. They are the entries
// rung and not yet taken, which the backlog bounds already; past it the
// deliverer reads entries from disk again.
const keepMax = 4096

// keep holds the envelope of an entry that its doorbell carried, for Next
// to take instead of reading the entry (env is copied).
func (mb *mailbox) keep(entry string, env []byte) {
	if _, given := mb.given[entry]; given || len(mb.kept) >= keepMax {
		return
	}
	if it, err := memoryPublication(env); err == nil {
		it.Entry = entry
		mb.kept[entry] = it
	}
}

// Rang implements core.Mailbox: the doorbell names the entry.
func (mb *mailbox) Rang(entry string) {
	if entry == "" {
		mb.rescan = true
		return
	}
	if _, given := mb.given[entry]; given {
		delete(mb.kept, entry)
		return
	}
	if i, found := slices.BinarySearch(mb.known, entry); !found {
		mb.known = slices.Insert(mb.known, i, entry)
	}
}

// takeMissed reports (once) whether a router left the missed-doorbell
// marker; it looks at most every missedEvery.
func (mb *mailbox) takeMissed() bool {
	if now := time.Now(); now.Sub(mb.looked) >= missedEvery {
		mb.looked = now
	} else {
		return false
	}
	if unix.Unlink(filepath.Join(mb.dir, mailboxMissed)) == nil {
		mb.rescan = true
		return true
	}
	return false
}

// Next implements core.Mailbox.
func (mb *mailbox) Next(n int) ([]core.Item, error) {
	if mb.rescan {
		mb.rescan = false
		names, err := mailstore.Entries(mb.dir)
		if err != nil {
			return nil, err
		}
		for _, name := range names {
			mb.Rang(name)
		}
	}
	var out []core.Item
	for len(out) < n && len(mb.known) > 0 {
		name := mb.known[0]
		mb.known = mb.known[1:]
		it, err := mb.take(name)
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, mailstore.ErrTorn) {
			continue // settled already; or not whole (yet: its doorbell is still to come)
		}
		if err != nil {
			return out, fmt.Errorf("mailbox: %w", err)
		}
		mb.given[name] = mailstore.Progress{}
		out = append(out, it)
	}
	return out, nil
}

// take is an entry's publication: the one its doorbell carried — once the
// entry is known to be still there (a router drops the entry of a full
// mailbox after ringing; the message is not to be delivered then) — or
// read from disk.
func (mb *mailbox) take(name string) (core.Item, error) {
	it, kept := mb.kept[name]
	if !kept {
		return mb.read(name)
	}
	delete(mb.kept, name)
	if err := unix.Access(mailstore.Path(mb.dir, name), unix.F_OK); err != nil {
		return core.Item{}, fmt.Errorf("mailbox: %s: %w", name, os.NewSyscallError("access", err))
	}
	return it, nil
}

// read reads an entry: a publication in memory, or one whose payload stays
// in the entry's file. A torn entry old enough that its writer must have
// died is deleted.
func (mb *mailbox) read(name string) (core.Item, error) {
	if mb.buf == nil {
		mb.buf = make([]byte, entryBuf)
	}
	env, f, age, err := mailstore.Read(mb.dir, name, mb.buf)
	if errors.Is(err, mailstore.ErrTorn) && !errors.Is(err, mailstore.ErrForeign) && age > tornAge {
		mb.log.Warn().Str("entry", name).Dur("age", age).Msg("mailbox: torn entry deleted (its router died writing it)")
		_ = mailstore.Remove(mb.dir, name)
	}
	if err != nil {
		return core.Item{}, err
	}
	var it core.Item
	if f != nil {
		it, err = openPublication(f, mailstore.HeaderSize)
	} else {
		it, err = memoryPublication(env)
	}
	it.Entry = name
	return it, err
}

// memoryPublication is the Item of a publication envelope read into memory
// (copied: env is the mailbox's buffer).
func memoryPublication(env []byte) (core.Item, error) {
	if len(env) == 0 || envelope.Kind(env[0]) != envelope.KindPublish {
		return core.Item{}, fmt.Errorf("%w: mailbox entry is not a publication", envelope.ErrBadEnvelope)
	}
	pub, err := envelope.ParsePublication(env[1:])
	if err != nil {
		return core.Item{}, err
	}
	return publicationItem(pub.Flags, pub.Topic, &core.Message{Topic: pub.Topic, Payload: append([]byte(nil), pub.Payload...)}), nil
}

// Sent implements core.Mailbox: one journal record, before the PUBLISH is
// written to the socket.
func (mb *mailbox) Sent(entry string, id uint16) error {
	return mb.record(entry, mailstore.Progress{ID: id})
}

// Released implements core.Mailbox: one journal record, before PUBREL is
// written to the socket.
func (mb *mailbox) Released(entry string, id uint16) error {
	return mb.record(entry, mailstore.Progress{ID: id, Released: true})
}

func (mb *mailbox) record(entry string, p mailstore.Progress) error {
	if mb.journal == nil {
		return fmt.Errorf("mailbox: %s recorded before the journal was replayed", entry)
	}
	mb.given[entry] = p
	if err := mb.journal.Append(mailstore.Record{Entry: entry, Progress: p}); err != nil {
		return fmt.Errorf("mailbox: %w", err)
	}
	if mb.journal.Full() {
		if err := mb.journal.Rewrite(mb.sent()); err != nil {
			return fmt.Errorf("mailbox: %w", err)
		}
	}
	return nil
}

// sent is the progress of the flows under way (those sent), for a
// compaction of the journal.
func (mb *mailbox) sent() map[string]mailstore.Progress {
	flows := make(map[string]mailstore.Progress, len(mb.given))
	for name, p := range mb.given {
		if p.ID != 0 {
			flows[name] = p
		}
	}
	return flows
}

// Settled implements core.Mailbox: the entry's file goes, which settles it
// whatever the journal says; the journal is not written.
func (mb *mailbox) Settled(entry string, id uint16, released bool) error {
	delete(mb.given, entry)
	delete(mb.kept, entry)
	return mailstore.Remove(mb.dir, entry)
}

// An older broker (before package mailstore) kept each entry as the bare
// envelope, and its progress in the file's name:
//
//	<base>          routed, not yet sent
//	<base>.p<id>    sent as PUBLISH with packet identifier id
//	<base>.r<id>    PUBREC received, PUBREL sent (QoS 2)
//
// The first deliverer to read a session after an upgrade converts them
// (convertOlder), so that what that broker would have delivered is
// delivered, and once: each becomes an entry under its base name, its
// progress a journal record, and only then is the older file removed. A
// deliverer killed at any step leaves the older file, which the next one
// converts again: a base already an entry is kept, the record appended
// again. The older file's progress is the truth while it exists, as no
// flow of the session goes on before every older file is gone. Done, the
// deliverer leaves mailboxConverted, so later connections do not look
// again (a broker downgraded and upgraded again would need it removed).
const mailboxConverted = ".converted"

// convertingPrefix names an older file's copy being written as an entry,
// before it is renamed to its base name: a name starting with "." is not
// an entry, so a copy cut short is never delivered.
const convertingPrefix = ".converting."

// olderFile is a file an older broker left in a session's mailbox.
type olderFile struct {
	name, base string
	mailstore.Progress
}

// convertOlder converts the folder's older files (unless mailboxConverted
// says it was done), recording the progress of those sent in flows, the
// journal as recovered.
func (mb *mailbox) convertOlder(flows map[string]mailstore.Progress) error {
	marker := filepath.Join(mb.dir, mailboxConverted)
	if unix.Access(marker, unix.F_OK) == nil {
		return nil
	}
	names, err := mailstore.Entries(mb.dir)
	if err != nil {
		return err
	}
	converted := 0
	for _, name := range names {
		old, ok, err := readOlder(mb.dir, name)
		if err != nil {
			return fmt.Errorf("mailbox: convert: %w", err)
		}
		if !ok {
			continue
		}
		if ok, err = mb.convert(old, flows); err != nil {
			return fmt.Errorf("mailbox: convert %s: %w", name, err)
		}
		if ok {
			converted++
		}
	}
	if converted > 0 {
		mb.log.Info().Str("mailbox", mb.dir).Int("entries", converted).Msg("mailbox: an older broker's entries converted")
	}
	fd, err := unix.Open(marker, unix.O_WRONLY|unix.O_CREAT|unix.O_CLOEXEC, 0o660)
	if err != nil {
		return fmt.Errorf("mailbox: convert: %w", os.NewSyscallError("open", err))
	}
	unix.Close(fd)
	return nil
}

// readOlder reports whether the file name in dir is an older broker's:
// named as one, and holding a bare publication envelope of QoS 1 or 2
// (an entry starts with mailstore's magic; anything else is foreign, and
// left alone).
func readOlder(dir, name string) (olderFile, bool, error) {
	old := olderFile{name: name, base: name}
	if i := strings.LastIndexByte(name, '.'); i > 0 && i+2 <= len(name) && (name[i+1] == 'p' || name[i+1] == 'r') {
		if id, err := strconv.ParseUint(name[i+2:], 10, 16); err == nil && id > 0 {
			old.base, old.ID, old.Released = name[:i], uint16(id), name[i+1] == 'r'
		}
	}
	fd, err := unix.Open(filepath.Join(dir, name), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err == unix.ENOENT {
		return old, false, nil
	}
	if err != nil {
		return old, false, fmt.Errorf("%s: %w", name, os.NewSyscallError("open", err))
	}
	defer unix.Close(fd)
	var head [4]byte // kind, flags, topic length
	if n, err := unix.Pread(fd, head[:], 0); err != nil || n < len(head) || envelope.Kind(head[0]) != envelope.KindPublish {
		return old, false, nil
	}
	if qos := packet.QoS(head[1] >> 1 & 3); qos != packet.AtLeastOnce && qos != packet.ExactlyOnce {
		return old, false, nil
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return old, false, fmt.Errorf("%s: %w", name, os.NewSyscallError("fstat", err))
	}
	return old, st.Size >= int64(len(head))+int64(binary.BigEndian.Uint16(head[2:])), nil
}

// convert makes an older file an entry under its base name, with its
// progress in the journal (and in flows), then removes it. It reports
// false for an older file left as it is: its base name is taken by a file
// that is not an entry.
func (mb *mailbox) convert(old olderFile, flows map[string]mailstore.Progress) (bool, error) {
	if old.ID == 0 {
		return true, mb.rewrite(old) // the entry replaces the file: nothing to record, nothing to remove
	}
	var buf [mailstore.HeaderSize + 64]byte
	_, f, _, err := mailstore.Read(mb.dir, old.base, buf[:])
	switch {
	case err == nil: // written by a deliverer killed before it removed the older file
		if f != nil {
			f.Close()
		}
	case errors.Is(err, os.ErrNotExist):
		if err := mb.rewrite(old); err != nil {
			return false, err
		}
	case errors.Is(err, mailstore.ErrTorn):
		mb.log.Warn().Str("file", old.name).Str("entry", old.base).Msg("mailbox: an older broker's file not converted: its entry name holds a file that is not an entry")
		return false, nil
	default:
		return false, err
	}
	if mb.journal == nil {
		if mb.journal, err = mailstore.Create(mb.dir, flows, mb.limit); err != nil {
			return false, err
		}
	}
	flows[old.base] = old.Progress
	if err := mb.journal.Append(mailstore.Record{Entry: old.base, Progress: old.Progress}); err != nil {
		return false, err
	}
	return true, mailstore.Remove(mb.dir, old.name)
}

// rewrite writes an older file's envelope as the entry old.base: first
// under a name that is not an entry, then renamed (over the older file
// itself, for one not yet sent).
func (mb *mailbox) rewrite(old olderFile) error {
	tmp := convertingPrefix + old.base
	if err := mailstore.Remove(mb.dir, tmp); err != nil { // a copy a killed deliverer left
		return err
	}
	f, err := os.Open(filepath.Join(mb.dir, old.name))
	if err != nil {
		return err
	}
	err = mailstore.WriteFrom(mb.dir, tmp, nil, f)
	f.Close()
	if err != nil {
		return err
	}
	if err := unix.Rename(mailstore.Path(mb.dir, tmp), mailstore.Path(mb.dir, old.base)); err != nil {
		return fmt.Errorf("%s: %w", old.base, os.NewSyscallError("rename", err))
	}
	return nil
}
