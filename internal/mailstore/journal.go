package mailstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"

	"golang.org/x/sys/unix"
)

// The journal's file names in a mailbox folder.
const (
	journalName = ".journal"
	journalNew  = ".journal.new" // a compaction being written
)

// DefaultLimit is the journal size past which Full asks for a compaction:
// some thousands of records, rewritten as the few flows under way.
const DefaultLimit = 256 << 10

// Progress is how far an entry's flow got: sent under ID, and PUBREC
// received (QoS 2; PUBREL is what is due).
type Progress struct {
	ID       uint16
	Released bool
}

// Record is one journal record: an entry's progress.
type Record struct {
	Entry string
	Progress
}

// A record on disk:
//
//	crc32c  4 bytes, of what follows
//	kind    1 byte: 'p' sent, 'r' PUBREC received
//	id      2 bytes, big-endian, not 0
//	n       1 byte: the entry name's length, not 0
//	name    n bytes
const recordHead = 8

// ErrBadRecord: a record that does not check.
var ErrBadRecord = errors.New("mailstore: bad journal record")

// AppendRecord appends the encoding of r.
func AppendRecord(dst []byte, r Record) ([]byte, error) {
	if r.ID == 0 || len(r.Entry) == 0 || len(r.Entry) > 255 {
		return dst, fmt.Errorf("%w: entry %q, id %d", ErrBadRecord, r.Entry, r.ID)
	}
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0, 'p')
	if r.Released {
		dst[start+4] = 'r'
	}
	dst = binary.BigEndian.AppendUint16(dst, r.ID)
	dst = append(dst, byte(len(r.Entry)))
	dst = append(dst, r.Entry...)
	binary.BigEndian.PutUint32(dst[start:], crc32.Checksum(dst[start+4:], castagnoli))
	return dst, nil
}

// DecodeRecords decodes the records in b up to the first that is cut
// short or does not check (a torn tail), and says how many bytes the good
// ones take.
func DecodeRecords(b []byte) (recs []Record, good int) {
	for good+recordHead <= len(b) {
		r := b[good:]
		n := int(r[7])
		if len(r) < recordHead+n || n == 0 {
			break
		}
		if crc32.Checksum(r[4:recordHead+n], castagnoli) != binary.BigEndian.Uint32(r) {
			break
		}
		id := binary.BigEndian.Uint16(r[5:7])
		if id == 0 || (r[4] != 'p' && r[4] != 'r') {
			break
		}
		recs = append(recs, Record{Entry: string(r[recordHead : recordHead+n]), Progress: Progress{ID: id, Released: r[4] == 'r'}})
		good += recordHead + n
	}
	return recs, good
}

// Recover replays the journal of the mailbox folder dir: the last progress
// recorded for each entry. A missing journal is an empty one; a torn tail
// is ignored (its writer died before it could act on it).
func Recover(dir string) (map[string]Progress, error) {
	b, err := os.ReadFile(filepath.Join(dir, journalName))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("mailstore: recover: %w", err)
	}
	recs, _ := DecodeRecords(b)
	flows := make(map[string]Progress, len(recs))
	for _, r := range recs {
		flows[r.Entry] = r.Progress
	}
	return flows, nil
}

// Journal is a mailbox folder's journal, open for appending by the one
// deliverer reading the session.
type Journal struct {
	dir   string
	fd    int
	size  int64
	limit int64
	buf   []byte
}

// Create starts the journal of dir afresh with the given flows (those
// still under way, after Recover) and opens it for appending; a journal
// larger than limit is Full.
func Create(dir string, flows map[string]Progress, limit int64) (*Journal, error) {
	j := &Journal{dir: dir, fd: -1, limit: limit}
	if err := j.Rewrite(flows); err != nil {
		return nil, err
	}
	return j, nil
}

// Append records r with one write on the journal's O_APPEND descriptor.
func (j *Journal) Append(r Record) error {
	b, err := AppendRecord(j.buf[:0], r)
	if err != nil {
		return err
	}
	j.buf = b
	if err := writeAll(j.fd, b, nil); err != nil {
		return fmt.Errorf("mailstore: journal: %w", err)
	}
	j.size += int64(len(b))
	return nil
}

// Full reports whether the journal has outgrown its limit: time to
// Rewrite it.
func (j *Journal) Full() bool { return j.size > j.limit }

// Rewrite compacts the journal to flows: written whole to a new file,
// renamed over the journal (so a compaction cut short leaves the old one
// whole), which is kept open for appending.
func (j *Journal) Rewrite(flows map[string]Progress) error {
	names := make([]string, 0, len(flows))
	for n := range flows {
		names = append(names, n)
	}
	slices.Sort(names)
	var b []byte
	for _, n := range names {
		var err error
		if b, err = AppendRecord(b, Record{Entry: n, Progress: flows[n]}); err != nil {
			return err
		}
	}
	tmp := filepath.Join(j.dir, journalNew)
	fd, err := unix.Open(tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC|unix.O_APPEND|unix.O_CLOEXEC, 0o660)
	if err != nil {
		return fmt.Errorf("mailstore: compact journal: %w", os.NewSyscallError("open", err))
	}
	if err := writeAll(fd, b, nil); err != nil {
		unix.Close(fd)
		return fmt.Errorf("mailstore: compact journal: %w", err)
	}
	if err := unix.Rename(tmp, filepath.Join(j.dir, journalName)); err != nil {
		unix.Close(fd)
		return fmt.Errorf("mailstore: compact journal: %w", os.NewSyscallError("rename", err))
	}
	if j.fd >= 0 {
		unix.Close(j.fd)
	}
	j.fd, j.size = fd, int64(len(b))
	return nil
}

// Close closes the journal's descriptor.
func (j *Journal) Close() error {
	if j.fd < 0 {
		return nil
	}
	err := unix.Close(j.fd)
	j.fd = -1
	return err
}
