package mailstore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// HeaderSize is the size of an entry's header: magic, length, CRC-32C.
const HeaderSize = 12

// magic starts every entry; a torn one (the writer died before its header
// was complete) does not start with it.
var magic = [4]byte{'f', 'q', 'm', '1'}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrTorn: an entry's header or length does not check — its writer died
// while writing it, or is writing it still.
var ErrTorn = errors.New("mailstore: torn entry")

// ErrForeign is an ErrTorn whose file does not even start as an entry
// does: not one of this format's (an older broker's mailbox file, which
// the deliverer converts; anything else), so not to be deleted as a torn
// one.
var ErrForeign = fmt.Errorf("%w: not an entry of this format", ErrTorn)

// torn is the error of an entry that does not check, whose first bytes
// are b.
func torn(b []byte) error {
	if !bytes.HasPrefix(magic[:], b[:min(len(b), len(magic))]) {
		return ErrForeign
	}
	return ErrTorn
}

// Name is a new entry name: the time in nanoseconds (16 hex digits, so
// names sort by time), then the writer's pid and a sequence number of the
// writer's, which keep names unique.
func Name(now time.Time, pid int, seq uint64) string {
	b := make([]byte, 0, 40)
	b = fmt.Appendf(b, "%016x-", now.UnixNano())
	b = strconv.AppendInt(b, int64(pid), 10)
	b = append(b, '-')
	return string(strconv.AppendUint(b, seq, 10))
}

// AppendHeader appends the header of an entry holding env.
func AppendHeader(dst, env []byte) []byte {
	dst = append(dst, magic[:]...)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(env)))
	return binary.BigEndian.AppendUint32(dst, crc32.Checksum(env, castagnoli))
}

// ParseHeader reads an entry's header: the envelope's length and CRC.
func ParseHeader(b []byte) (length, sum uint32, err error) {
	if len(b) < HeaderSize || [4]byte(b[:4]) != magic {
		return 0, 0, ErrTorn
	}
	return binary.BigEndian.Uint32(b[4:8]), binary.BigEndian.Uint32(b[8:12]), nil
}

// Decode checks a whole entry read into memory and returns its envelope
// (a slice of b).
func Decode(b []byte) ([]byte, error) {
	length, sum, err := ParseHeader(b)
	if err != nil {
		return nil, err
	}
	env := b[HeaderSize:]
	if uint64(len(env)) != uint64(length) || crc32.Checksum(env, castagnoli) != sum {
		return nil, ErrTorn
	}
	return env, nil
}

// Write stores env as the entry name in the folder dir: one file, created
// under its final name and written with one system call.
func Write(dir, name string, env []byte) error {
	path := filepath.Join(dir, name)
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, 0o660)
	if err != nil {
		return fmt.Errorf("mailstore: write %s: %w", name, os.NewSyscallError("open", err))
	}
	var head [HeaderSize]byte
	AppendHeader(head[:0], env)
	err = writeAll(fd, head[:], env)
	if cerr := unix.Close(fd); err == nil && cerr != nil {
		err = os.NewSyscallError("close", cerr)
	}
	if err != nil {
		unix.Unlink(path)
		return fmt.Errorf("mailstore: write %s: %w", name, err)
	}
	return nil
}

// writeAll writes head and body with writev until all is written.
func writeAll(fd int, head, body []byte) error {
	iov := [][]byte{head, body}
	for {
		for len(iov) > 0 && len(iov[0]) == 0 {
			iov = iov[1:]
		}
		if len(iov) == 0 {
			return nil
		}
		n, err := unix.Writev(fd, iov)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return os.NewSyscallError("writev", err)
		}
		for n > 0 {
			m := min(n, len(iov[0]))
			iov[0] = iov[0][m:]
			n -= m
			if len(iov[0]) == 0 {
				iov = iov[1:]
			}
		}
	}
}

// WriteFrom stores an entry whose envelope starts with head and goes on
// with what body yields (a retained payload streamed from disk), without
// holding it in memory: the header is written last, so an entry cut short
// stays torn.
func WriteFrom(dir, name string, head []byte, body io.Reader) error {
	path := filepath.Join(dir, name)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o660)
	if err != nil {
		return fmt.Errorf("mailstore: write %s: %w", name, err)
	}
	// The magic goes first, with a length no entry has, so that a writer
	// killed while streaming leaves an entry that reads as torn (and is
	// deleted once old), not as a foreign file (kept for ever).
	var h [HeaderSize]byte
	copy(h[:], magic[:])
	binary.BigEndian.PutUint32(h[4:8], ^uint32(0))
	sum := crc32.New(castagnoli)
	var n int64
	if _, err = f.WriteAt(h[:], 0); err == nil {
		_, err = f.WriteAt(head, HeaderSize)
	}
	if err == nil {
		sum.Write(head)
		if _, err = f.Seek(int64(HeaderSize+len(head)), io.SeekStart); err == nil {
			n, err = io.Copy(io.MultiWriter(f, sum), body)
		}
	}
	if err == nil && int64(len(head))+n > int64(^uint32(0)) {
		err = fmt.Errorf("envelope of %d bytes is too large for an entry", int64(len(head))+n)
	}
	if err == nil {
		binary.BigEndian.PutUint32(h[4:8], uint32(int64(len(head))+n))
		binary.BigEndian.PutUint32(h[8:12], sum.Sum32())
		_, err = f.WriteAt(h[:], 0)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("mailstore: write %s: %w", name, err)
	}
	return nil
}

// Link gives the folder dir the entry name as a hard link to an entry
// already written (another session's copy of the same message).
func Link(from, dir, name string) error {
	if err := unix.Link(from, filepath.Join(dir, name)); err != nil {
		return fmt.Errorf("mailstore: link %s: %w", name, os.NewSyscallError("link", err))
	}
	return nil
}

// Path is the path of the entry name in the folder dir.
func Path(dir, name string) string { return filepath.Join(dir, name) }

// Read opens the entry name in dir and reads it into buf. An entry that
// fits in buf comes back whole, checked, as its envelope (a slice of buf);
// a larger one comes back as an open file whose envelope starts at
// HeaderSize, its length checked against the header (not its CRC: the
// payload stays on disk). A torn entry is ErrTorn, with its age (how long
// since it was last written), so the caller can tell a writer still at
// work from a dead one.
func Read(dir, name string, buf []byte) (env []byte, f *os.File, age time.Duration, err error) {
	fd, err := unix.Open(filepath.Join(dir, name), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("mailstore: read %s: %w", name, os.NewSyscallError("open", err))
	}
	n, err := readEntry(fd, buf)
	if err != nil {
		unix.Close(fd)
		return nil, nil, 0, fmt.Errorf("mailstore: read %s: %w", name, err)
	}
	if n < len(buf) {
		env, err := Decode(buf[:n])
		if err != nil {
			age, err = ageOf(fd), torn(buf[:n])
		}
		unix.Close(fd)
		return env, nil, age, err
	}
	length, _, err := ParseHeader(buf[:n])
	var st unix.Stat_t
	if err == nil {
		if err = unix.Fstat(fd, &st); err != nil {
			unix.Close(fd)
			return nil, nil, 0, fmt.Errorf("mailstore: read %s: %w", name, os.NewSyscallError("fstat", err))
		}
		if st.Size != HeaderSize+int64(length) {
			err = ErrTorn
		}
	}
	if err != nil {
		age, err = ageOf(fd), torn(buf[:n])
		unix.Close(fd)
		return nil, nil, age, err
	}
	return nil, os.NewFile(uintptr(fd), filepath.Join(dir, name)), 0, nil
}

// readEntry reads an entry into buf: until the length its header gives,
// buf is full, or the file ends. A whole small entry takes one read (no
// second one to see the end).
func readEntry(fd int, buf []byte) (int, error) {
	n, want := 0, len(buf)
	for n < want {
		m, err := unix.Read(fd, buf[n:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return n, os.NewSyscallError("read", err)
		}
		if m == 0 {
			break
		}
		n += m
		if length, _, err := ParseHeader(buf[:n]); err == nil && HeaderSize+uint64(length) < uint64(len(buf)) {
			want = HeaderSize + int(length) // asked for all of buf, a read returns more of a longer entry
		}
	}
	return n, nil
}

// ageOf is how long ago the open file was last written.
func ageOf(fd int) time.Duration {
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil {
		return 0
	}
	return time.Since(time.Unix(st.Mtim.Unix()))
}

// Remove deletes the entry name (settled); one already gone is no error.
func Remove(dir, name string) error {
	if err := unix.Unlink(filepath.Join(dir, name)); err != nil && err != unix.ENOENT {
		return fmt.Errorf("mailstore: remove %s: %w", name, os.NewSyscallError("unlink", err))
	}
	return nil
}

// Entries lists the entries of the folder dir, sorted (so by the time
// they were routed).
func Entries(dir string) ([]string, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("mailstore: %w", err)
	}
	names, err := f.Readdirnames(-1)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("mailstore: %w", err)
	}
	out := names[:0]
	for _, n := range names {
		if len(n) > 0 && n[0] != '.' {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out, nil
}
