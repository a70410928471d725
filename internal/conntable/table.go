package conntable

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// FileMagic starts the file.
const FileMagic = "forkmq-conns v1\n"

const (
	headerSize = len(FileMagic)
	slotSize   = 8
)

// Table is the supervisor's open record. It is not safe for concurrent
// use: the supervisor's loop alone uses it.
type Table struct {
	path string
	fd   int
	mem  []byte // the mapping: header, then slots
	free []int  // free slots below next, most recently freed last
	next int    // slots at or above it were never used since Create
}

// Create makes a new, empty record at path, replacing whatever was there:
// the caller has read (Read) and removed what it named first.
func Create(path string) (*Table, error) {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CREAT|unix.O_TRUNC|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("conntable: %w", &os.PathError{Op: "open", Path: path, Err: err})
	}
	// The header first: a process killed at any step leaves an empty file
	// or a valid record, never a file Read refuses.
	if _, err := unix.Pwrite(fd, []byte(FileMagic), 0); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("conntable: %w", &os.PathError{Op: "write", Path: path, Err: err})
	}
	t := &Table{path: path, fd: fd}
	if err := t.resize(os.Getpagesize()); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return t, nil
}

// resize sizes the file to size bytes and maps it whole.
func (t *Table) resize(size int) error {
	if err := unix.Ftruncate(t.fd, int64(size)); err != nil {
		return fmt.Errorf("conntable: %w", &os.PathError{Op: "ftruncate", Path: t.path, Err: err})
	}
	mem, err := unix.Mmap(t.fd, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("conntable: %w", &os.PathError{Op: "mmap", Path: t.path, Err: err})
	}
	if t.mem != nil {
		unix.Munmap(t.mem)
	}
	t.mem = mem
	return nil
}

func (t *Table) slots() int { return (len(t.mem) - headerSize) / slotSize }

func (t *Table) slot(i int) *atomic.Uint64 {
	return (*atomic.Uint64)(unsafe.Pointer(&t.mem[headerSize+i*slotSize]))
}

// Add records the connection seq (not 0) and returns its slot, for Remove.
func (t *Table) Add(seq uint64) (int, error) {
	if seq == 0 {
		return 0, errors.New("conntable: sequence number 0 marks a free slot")
	}
	var i int
	switch {
	case len(t.free) > 0:
		i = t.free[len(t.free)-1]
		t.free = t.free[:len(t.free)-1]
	default:
		if t.next == t.slots() {
			if err := t.resize(2 * len(t.mem)); err != nil {
				return 0, err
			}
		}
		i = t.next
		t.next++
	}
	t.slot(i).Store(seq)
	return i, nil
}

// Remove forgets the connection in slot i.
func (t *Table) Remove(i int) {
	t.slot(i).Store(0)
	t.free = append(t.free, i)
}

// Len is how many connections are recorded.
func (t *Table) Len() int { return t.next - len(t.free) }

// Close unmaps the record and closes it; the file stays (Remove it).
func (t *Table) Close() error {
	var err error
	if t.mem != nil {
		err = unix.Munmap(t.mem)
		t.mem = nil
	}
	return errors.Join(err, unix.Close(t.fd))
}

// Read returns the sequence numbers recorded in the file at path, in slot
// order: a running broker's connections, or those a killed one left. A
// missing or empty file records nothing. A file that does not start with
// FileMagic is an error; a last slot cut short is ignored.
func Read(path string) ([]uint64, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("conntable: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("conntable: %w", err)
	}
	if len(b) == 0 {
		return nil, nil
	}
	if len(b) < headerSize || string(b[:headerSize]) != FileMagic {
		return nil, fmt.Errorf("conntable: %s is not a connection record (no %q header)", path, FileMagic)
	}
	return recorded(b[headerSize:]), nil
}

// Seqs returns the sequence numbers recorded now, in slot order: what Read
// of the file would return, from the mapping.
func (t *Table) Seqs() []uint64 { return recorded(t.mem[headerSize:]) }

// recorded is the sequence numbers in slots, the non-zero ones; a last
// slot cut short is ignored.
func recorded(slots []byte) []uint64 {
	var seqs []uint64
	for off := 0; off+slotSize <= len(slots); off += slotSize {
		if seq := binary.NativeEndian.Uint64(slots[off:]); seq != 0 {
			seqs = append(seqs, seq)
		}
	}
	return seqs
}
