package spool

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// SegmentFile is the name of a queue's segment in its spool folder: the
// copies routers append for that queue alone, in whole pages, which its
// deliverer reads and frees (punches out) one by one. A copy in a file of
// its own costs a router open, write, close, link and unlink, and the
// deliverer open, unlink, fstat, pread and close, with a path walk and an
// inode made and freed each time; in the segment it costs the router one
// write and one lseek, and the deliverer one pread and one fallocate. The
// segment goes with the queue's folder (RemoveQueue): nothing outlives
// the client.
const SegmentFile = "segment"

// maxSegments bounds the descriptors a router keeps open: past it, they
// are all closed and opened again as needed.
const maxSegments = 256

// segmentEnd is how far a segment may grow. Taken copies are holes, but
// offsets only grow while the client stays: a client that stays for days
// on a disk file system would reach its largest file (16 TiB on ext4).
// Past this, a router sends that queue's copies as files of their own
// (ErrSegmentFull). On tmpfs (files up to 8 EiB) it is 1 TiB of traffic
// to one client.
const segmentEnd = 1 << 40

// ErrSegmentFull says a queue's segment has grown as far as it may: send
// the copy another way.
var ErrSegmentFull = errors.New("spool: the queue's segment is full")

// Segments is a router's way into the segments of the queues it routes to:
// one descriptor per queue, opened (O_APPEND) the first time and kept.
type Segments struct {
	s    *Spool
	fds  map[string]int // -1: the queue's segment is full
	page int
	pad  []byte // zeros that round a copy up to whole pages
	end  int64  // segmentEnd; less in tests
}

// Segments returns the router's segment writer on s.
func (s *Spool) Segments() *Segments {
	page := os.Getpagesize()
	return &Segments{s: s, fds: map[string]int{}, page: page, pad: make([]byte, page), end: segmentEnd}
}

// Append writes a copy, head then body, at the end of queue's segment and
// returns where it starts (its length is len(head)+len(body)). Copies start
// and end on page boundaries, so freeing one frees its memory whole. Each
// router writes through a descriptor of its own opened O_APPEND: the kernel
// places concurrent writes one after the other, and the descriptor's offset
// after the write tells where this one went. Head and body go in one
// writev, so a payload is not copied into an envelope first. A queue whose
// folder is gone (its client left) gives an error that is os.ErrNotExist.
func (g *Segments) Append(queue string, head, body []byte) (int64, error) {
	fd, err := g.open(queue)
	if err != nil {
		return 0, err
	}
	if fd < 0 {
		return 0, ErrSegmentFull
	}
	n := len(head) + len(body)
	size := roundUp(n, g.page)
	iov := make([][]byte, 0, 3)
	for _, b := range [][]byte{head, body, g.pad[:size-n]} {
		if len(b) > 0 {
			iov = append(iov, b)
		}
	}
	wrote, err := ignoringEINTR(func() (int, error) { return unix.Writev(fd, iov) })
	if err == nil && wrote != size {
		err = io.ErrShortWrite
	}
	if err != nil {
		g.Forget(queue)
		return 0, fmt.Errorf("spool: append to the segment of %s: %w", queue, err)
	}
	end, err := unix.Seek(fd, 0, io.SeekCurrent)
	if err != nil {
		g.Forget(queue)
		return 0, fmt.Errorf("spool: append to the segment of %s: %w", queue, err)
	}
	if end > g.end {
		unix.Close(fd)
		g.fds[queue] = -1 // this copy is in; the next go as files
	}
	return end - int64(size), nil
}

func (g *Segments) open(queue string) (int, error) {
	if fd, ok := g.fds[queue]; ok {
		return fd, nil
	}
	if len(g.fds) >= maxSegments {
		g.Close()
	}
	path := filepath.Join(g.s.queueDir(queue), SegmentFile)
	fd, err := ignoringEINTR(func() (int, error) {
		return unix.Open(path, unix.O_WRONLY|unix.O_APPEND|unix.O_CREAT|unix.O_CLOEXEC, 0o660)
	})
	if err != nil {
		return -1, fmt.Errorf("spool: segment of %s: %w", queue, &os.PathError{Op: "open", Path: path, Err: err})
	}
	g.fds[queue] = fd
	return fd, nil
}

// Forget closes queue's descriptor: its client is gone, or its segment
// failed. (A descriptor kept on a removed segment would keep what is left
// in it alive.)
func (g *Segments) Forget(queue string) {
	if fd, ok := g.fds[queue]; ok {
		if fd >= 0 {
			unix.Close(fd)
		}
		delete(g.fds, queue)
	}
}

// Close closes every descriptor.
func (g *Segments) Close() {
	for q := range g.fds {
		g.Forget(q)
	}
}

// SegmentReader is a deliverer's way into its own queue's segment.
type SegmentReader struct {
	fd   int
	path string
	page int
}

// OpenSegment opens queue's segment for its deliverer, making it if no
// router has yet.
func (s *Spool) OpenSegment(queue string) (*SegmentReader, error) {
	path := filepath.Join(s.queueDir(queue), SegmentFile)
	fd, err := ignoringEINTR(func() (int, error) {
		return unix.Open(path, unix.O_RDWR|unix.O_CREAT|unix.O_CLOEXEC, 0o660)
	})
	if err != nil {
		return nil, fmt.Errorf("spool: %w", &os.PathError{Op: "open", Path: path, Err: err})
	}
	return &SegmentReader{fd: fd, path: path, page: os.Getpagesize()}, nil
}

// Take reads the copy of n bytes at off, then frees its pages (a hole
// punched in the segment; its size stays). The bytes returned are the
// caller's.
func (r *SegmentReader) Take(off, n int64) ([]byte, error) {
	b := make([]byte, n)
	if err := preadFull(r.fd, r.path, b, off); err != nil {
		return nil, fmt.Errorf("spool: take from the segment: %w", err)
	}
	if err := r.free(off, n); err != nil {
		return b, err
	}
	return b, nil
}

// ErrNotFreed wraps the error of a copy read but not freed (a file system
// that cannot punch holes): its bytes stay until the queue's folder goes.
var ErrNotFreed = errors.New("spool: segment copy read but not freed")

func (r *SegmentReader) free(off, n int64) error {
	size := int64(roundUp(int(n), r.page))
	_, err := ignoringEINTR(func() (int, error) {
		return 0, unix.Fallocate(r.fd, unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, off, size)
	})
	if err != nil {
		return fmt.Errorf("%w: %s %d+%d: %w", ErrNotFreed, r.path, off, size, err)
	}
	return nil
}

// Close closes the segment.
func (r *SegmentReader) Close() error { return unix.Close(r.fd) }

// roundUp rounds n up to a multiple of page; at least one page, so that
// every copy has a place of its own.
func roundUp(n, page int) int {
	return max(1, (n+page-1)/page) * page
}
