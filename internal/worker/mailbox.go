package worker

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/forkmq/forkmq/internal/packet"
)

// A persistent session's mailbox is its spool folder. Each QoS 1/2 message
// routed to the session is a file there until the client settles it, and
// the file's name records how far its flow got:
//
//	<base>          routed, not yet sent
//	<base>.p<id>    sent as PUBLISH with packet identifier id
//	<base>.r<id>    PUBREC received, PUBREL sent (QoS 2)
//
// So a new connection of the session resends exactly what is unsettled, with
// the same identifiers and DUP set [MQTT-4.4.0-1], and never sends a QoS 2
// message again once PUBREC came back.
const mailboxMissed = ".missed" // a router could not ring the doorbell: rescan

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

// mailboxPath is where a mailbox entry is in a given state.
func (d *deliverer) mailboxPath(base, suffix string) string {
	return filepath.Join(d.spool.QueueDir(d.identity), base+suffix)
}

// mailboxMessage sends (or queues, when the window is full) a mailbox entry
// not yet sent. A doorbell for an entry already handled is ignored.
func (d *deliverer) mailboxMessage(base string) error {
	if d.flights.files[base] {
		return nil
	}
	f, err := os.Open(d.mailboxPath(base, ""))
	if errors.Is(err, os.ErrNotExist) {
		return nil // settled already, or replayed under a new name
	}
	if err != nil {
		return fmt.Errorf("mailbox: %w", err)
	}
	if d.flights.full() && fileQoS(f) > 0 {
		f.Close()
		if int(d.flights.held.Load()) >= d.args.SessionMsgs {
			// The client does not settle what it is sent: the mailbox
			// bound holds while it is connected too.
			os.Remove(d.mailboxPath(base, ""))
			d.mailboxDropped++
			d.log.Warn().Int("max_messages", d.args.SessionMsgs).Uint64("dropped_total", d.mailboxDropped).
				Msg("persistent session mailbox full: message dropped (raise -session-max-messages / -session-max-bytes)")
			return nil
		}
		d.flights.queue(pending{mailbox: base})
		return nil
	}
	return d.sendFile(f, base, 0, false)
}

func (d *deliverer) markSent(base string, id uint16) error {
	return d.renameEntry(d.mailboxPath(base, ""), d.mailboxPath(base, ".p"+strconv.Itoa(int(id))))
}

func (d *deliverer) markReleased(base string, id uint16) error {
	return d.renameEntry(d.mailboxPath(base, ".p"+strconv.Itoa(int(id))), d.mailboxPath(base, ".r"+strconv.Itoa(int(id))))
}

func (d *deliverer) renameEntry(from, to string) error {
	if err := os.Rename(from, to); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("mailbox: %w", err)
	}
	return nil
}

// removeSettled deletes the entry of a settled flow.
func (d *deliverer) removeSettled(base string, id uint16, released bool) {
	suffix := ".p"
	if released {
		suffix = ".r"
	}
	os.Remove(d.mailboxPath(base, suffix+strconv.Itoa(int(id))))
}

// replayMailbox runs once CONNACK is out on a resumed session: it resends
// unsettled flows with their identifiers, then sends (or queues) the
// messages stored while the client was away, oldest first.
func (d *deliverer) replayMailbox() error {
	entries, err := d.mailboxEntries()
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.state == 0 {
			continue
		}
		if e.state == 'r' {
			d.flights.resume(e.id, packet.ExactlyOnce, e.base, true)
			if err := d.writePubrel(e.id); err != nil { // [MQTT-4.4.0-1]
				return err
			}
			continue
		}
		f, err := os.Open(d.mailboxPath(e.base, ".p"+strconv.Itoa(int(e.id))))
		if err != nil {
			continue
		}
		d.flights.resume(e.id, fileQoS(f), e.base, false)
		if err := d.resendFile(f, e.id); err != nil {
			return err
		}
	}
	return d.sendNewEntries(entries)
}

// sendNewEntries sends or queues the entries not yet sent.
func (d *deliverer) sendNewEntries(entries []mailboxEntry) error {
	for _, e := range entries {
		if e.state == 0 {
			if err := d.mailboxMessage(e.base); err != nil {
				return err
			}
		}
	}
	return nil
}

// takeMissedMarker removes the marker a router leaves when a doorbell did
// not fit in the queue, and reports whether there was one.
func (d *deliverer) takeMissedMarker() bool {
	return os.Remove(filepath.Join(d.spool.QueueDir(d.identity), mailboxMissed)) == nil
}

// rescanMailbox sends or queues every entry not yet sent.
func (d *deliverer) rescanMailbox() error {
	entries, err := d.mailboxEntries()
	if err != nil {
		return err
	}
	return d.sendNewEntries(entries)
}

// resendFile sends an unsettled PUBLISH again, DUP set, same identifier.
func (d *deliverer) resendFile(f *os.File, id uint16) error {
	return d.sendFile(f, "", id, true)
}

type mailboxEntry struct {
	base  string
	state byte // 0 new, 'p' sent, 'r' released
	id    uint16
}

// mailboxEntries lists the mailbox in arrival order (names sort by time).
func (d *deliverer) mailboxEntries() ([]mailboxEntry, error) {
	names, err := readDirNames(d.spool.QueueDir(d.identity))
	if err != nil {
		return nil, fmt.Errorf("mailbox: %w", err)
	}
	sort.Strings(names)
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
