package worker

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/forkmq/forkmq/internal/core"
	"github.com/forkmq/forkmq/internal/packet"
	"github.com/forkmq/forkmq/internal/spool"
)

// A persistent session's mailbox is its spool folder: the process engine's
// core.Mailbox. Each QoS 1/2 message routed to the session is a file there
// until the client settles it, and the file's name records how far its flow
// got:
//
//	<base>          routed, not yet sent
//	<base>.p<id>    sent as PUBLISH with packet identifier id
//	<base>.r<id>    PUBREC received, PUBREL sent (QoS 2)
//
// So a new connection of the session resends exactly what is unsettled, with
// the same identifiers and DUP set [MQTT-4.4.0-1], and never sends a QoS 2
// message again once PUBREC came back. Base names sort by the time they were
// routed.
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
func sessionOnline(dir string) bool {
	f, err := os.Open(filepath.Join(dir, mailboxReader))
	if err != nil {
		return false
	}
	defer f.Close()
	if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) != nil {
		return true // a reader holds it
	}
	unix.Flock(int(f.Fd()), unix.LOCK_UN)
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

// mailbox is a persistent session's mailbox, as its deliverer reads it.
type mailbox struct {
	dir    string
	known  []string        // entries not yet sent, sorted: rung or found by a scan
	given  map[string]bool // entries handed out and not settled
	rescan bool            // a doorbell was missed: read the folder again
}

func newMailbox(sp *spool.Spool, queue string) *mailbox {
	return &mailbox{dir: sp.QueueDir(queue), given: map[string]bool{}}
}

func (mb *mailbox) path(base, suffix string) string { return filepath.Join(mb.dir, base+suffix) }

// Rung implements core.Mailbox.
func (mb *mailbox) Rung() int { return len(mb.known) }

// Unsettled implements core.Mailbox.
func (mb *mailbox) Unsettled() ([]core.Unsettled, error) {
	entries, err := mb.entries()
	if err != nil {
		return nil, err
	}
	var out []core.Unsettled
	for _, e := range entries {
		switch e.state {
		case 0:
			mb.known = append(mb.known, e.base)
		case 'r':
			mb.given[e.base] = true
			out = append(out, core.Unsettled{Item: core.Item{Kind: core.Publication, QoS: packet.ExactlyOnce, Entry: e.base}, ID: e.id, Released: true})
		case 'p':
			f, err := os.Open(mb.path(e.base, ".p"+strconv.Itoa(int(e.id))))
			if err != nil {
				continue // settled meanwhile
			}
			it, err := openPublication(f, 0)
			if err != nil {
				return nil, err
			}
			it.Entry = e.base
			mb.given[e.base] = true
			out = append(out, core.Unsettled{Item: it, ID: e.id})
		}
	}
	return out, nil
}

// Rang implements core.Mailbox: the doorbell names the entry.
func (mb *mailbox) Rang(entry string) {
	if entry == "" {
		mb.rescan = true
		return
	}
	if mb.given[entry] {
		return
	}
	if i, found := slices.BinarySearch(mb.known, entry); !found {
		mb.known = slices.Insert(mb.known, i, entry)
	}
}

// takeMissed reports (once) whether a router left the missed-doorbell
// marker.
func (mb *mailbox) takeMissed() bool {
	if os.Remove(filepath.Join(mb.dir, mailboxMissed)) == nil {
		mb.rescan = true
		return true
	}
	return false
}

// Next implements core.Mailbox.
func (mb *mailbox) Next(n int) ([]core.Item, error) {
	if mb.rescan {
		mb.rescan = false
		entries, err := mb.entries()
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			if e.state == 0 {
				mb.Rang(e.base)
			}
		}
	}
	var out []core.Item
	for len(out) < n && len(mb.known) > 0 {
		base := mb.known[0]
		mb.known = mb.known[1:]
		f, err := os.Open(mb.path(base, ""))
		if errors.Is(err, os.ErrNotExist) {
			continue // settled already, or sent under a new name
		}
		if err != nil {
			return out, fmt.Errorf("mailbox: %w", err)
		}
		it, err := openPublication(f, 0)
		if err != nil {
			return out, err
		}
		it.Entry = base
		mb.given[base] = true
		out = append(out, it)
	}
	return out, nil
}

// Sent implements core.Mailbox.
func (mb *mailbox) Sent(base string, id uint16) error {
	return mb.rename(mb.path(base, ""), mb.path(base, ".p"+strconv.Itoa(int(id))))
}

// Released implements core.Mailbox.
func (mb *mailbox) Released(base string, id uint16) error {
	return mb.rename(mb.path(base, ".p"+strconv.Itoa(int(id))), mb.path(base, ".r"+strconv.Itoa(int(id))))
}

// Settled implements core.Mailbox.
func (mb *mailbox) Settled(base string, id uint16, released bool) error {
	delete(mb.given, base)
	suffix := ".p"
	if released {
		suffix = ".r"
	}
	if err := os.Remove(mb.path(base, suffix+strconv.Itoa(int(id)))); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

func (mb *mailbox) rename(from, to string) error {
	if err := os.Rename(from, to); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("mailbox: %w", err)
	}
	return nil
}

type mailboxEntry struct {
	base  string
	state byte // 0 new, 'p' sent, 'r' released
	id    uint16
}

// entries lists the mailbox in arrival order (names sort by time).
func (mb *mailbox) entries() ([]mailboxEntry, error) {
	names, err := readDirNames(mb.dir)
	if err != nil {
		return nil, fmt.Errorf("mailbox: %w", err)
	}
	slices.Sort(names)
	var out []mailboxEntry
	for _, n := range names {
		if strings.HasPrefix(n, ".") {
			continue
		}
		e := mailboxEntry{base: n}
		if i := strings.LastIndexByte(n, '.'); i > 0 && i+2 <= len(n) && (n[i+1] == 'p' || n[i+1] == 'r') {
			if id, err := strconv.ParseUint(n[i+2:], 10, 16); err == nil && id > 0 {
				e = mailboxEntry{base: n[:i], state: n[i+1], id: uint16(id)}
			}
		}
		out = append(out, e)
	}
	return out, nil
}

func readDirNames(dir string) ([]string, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.Readdirnames(-1)
}
