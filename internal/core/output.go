package core

import (
	"errors"
	"io"
	"net"
	"os"

	"golang.org/x/sys/unix"

	"github.com/forkmq/forkmq/internal/nowait"
)

// Output is what waits to be written to the client's socket, in order:
// runs of packet bytes, and file regions (sendfile(2) on a raw socket).
// Packets appended between two flushes share one buffer, so a burst costs
// one write. It also counts the packets not yet fully written, for the
// deliverer's bound on what a slow client may hold. The process engine
// writes it to a non-blocking descriptor (Flush), the goroutine engine to a
// net.Conn (WriteTo).
type Output struct {
	segs    []outSeg
	total   int64   // bytes appended since the start
	written int64   // bytes written since the start
	ends    []int64 // stream offsets where a publication not yet written ends
	iov     [][]byte
	iovecs  []unix.Iovec // the kernel's form of iov
	// arena is the buffer runs of bytes are cut from, one after the
	// other; tail says the last segment is the run at its end, which the
	// next Write extends. Once everything is written it starts again from
	// the front: a deliverer allocates nothing per burst, and a header
	// between two shared payloads costs its bytes, not a buffer.
	arena  []byte
	tail   bool
	segBuf [4]outSeg
}

// outSeg is a run of bytes, or (f != nil) n bytes of f from offset off. A
// run is cut from the Output's arena, or is a slice shared with a Message,
// which is never written into.
type outSeg struct {
	b      []byte // what is left to write of the run
	f      *os.File
	off, n int64
}

// bufSize is the size of an arena: where runs of bytes stop growing into
// one buffer and the next buffer starts.
const bufSize = 16 << 10

// firstArena is the size of an Output's first arena. Most clients of a
// connect churn get a CONNACK (4 bytes) and leave: a 16 KiB arena for it
// cost its zeroing and page faults in every connection (4 % of the process
// engine's workers' samples in the connect scenario), and stays in the
// memory of a client that idles. A client sent more moves to bufSize
// arenas at its first burst past this one.
const firstArena = 512

// Write appends bytes. It never fails; it is an io.Writer for packet
// encoders.
func (o *Output) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if len(p) > cap(o.arena)-len(o.arena) {
		size := bufSize
		if o.arena == nil && o.total == 0 {
			size = firstArena
		}
		o.arena = make([]byte, 0, max(size, len(p)))
		o.tail = false
	}
	start := len(o.arena)
	o.arena = append(o.arena, p...)
	if n := len(o.segs); o.tail && n > 0 {
		o.segs[n-1].b = o.segs[n-1].b[:len(o.segs[n-1].b)+len(p)]
	} else {
		o.segs = append(o.segs, outSeg{b: o.arena[start:len(o.arena)]})
		o.tail = true
	}
	o.total += int64(len(p))
	return len(p), nil
}

// shareMin is the smallest slice Share refers to rather than copies: below
// it, a copy into the run costs less than the extra iovec (and, in the
// goroutine engine, the extra write) it saves.
const shareMin = 4 << 10

// Share appends p without copying it when it is large (shareMin or more):
// p must not change until it is written, as a routed Message's payload
// never does. A 16 KiB payload was copied into a new 16 KiB run for each
// delivery (allocation, zeroing, copy: a fifth of the goroutine engine's
// CPU per delivery at 16 KiB); the kernel's copy into the socket is the
// only one needed.
func (o *Output) Share(p []byte) {
	if len(p) < shareMin {
		o.Write(p)
		return
	}
	o.segs = append(o.segs, outSeg{b: p})
	o.tail = false
	o.total += int64(len(p))
}

// AppendFile appends n bytes of f from off; f is closed once written.
func (o *Output) AppendFile(f *os.File, off, n int64) {
	if n <= 0 {
		f.Close()
		return
	}
	o.segs = append(o.segs, outSeg{f: f, off: off, n: n})
	o.tail = false
	o.total += n
}

// EndPacket marks the end of a packet: it counts as held until written.
func (o *Output) EndPacket() { o.ends = append(o.ends, o.total) }

// Pending is the number of bytes not yet written.
func (o *Output) Pending() int64 { return o.total - o.written }

// PendingPackets is the number of packets not yet fully written.
func (o *Output) PendingPackets() int { return len(o.ends) }

// ErrFull is what Flush returns when the socket takes no more for now.
var ErrFull = errors.New("socket buffer full")

// Flush writes what it can to the non-blocking descriptor fd without
// waiting. It returns how many bytes were written, and ErrFull when the
// socket is full before all is written.
func (o *Output) Flush(fd int) (int64, error) {
	var done int64
	for len(o.segs) > 0 {
		var n int64
		var err error
		if s := &o.segs[0]; s.f != nil {
			n, err = o.sendfile(fd, s)
		} else {
			n, err = o.writev(fd)
		}
		done += n
		o.consume(n)
		if err != nil {
			if errors.Is(err, unix.EAGAIN) {
				return done, ErrFull
			}
			return done, err
		}
	}
	return done, nil
}

// BuffersWriter is a writer that takes several runs of bytes in one call
// (writev(2) on a socket), consuming them from bufs as it writes them.
type BuffersWriter interface {
	WriteBuffers(bufs *net.Buffers) (int64, error)
}

// WriteTo writes everything to w, as long as that takes; a file region is
// copied through w. Runs of bytes go to a BuffersWriter together, so a
// burst whose payloads are shared still costs one write.
func (o *Output) WriteTo(w io.Writer) (int64, error) {
	bw, _ := w.(BuffersWriter)
	var done int64
	for len(o.segs) > 0 {
		s := &o.segs[0]
		var n int64
		var err error
		if s.f != nil {
			n, err = io.Copy(w, io.NewSectionReader(s.f, s.off, s.n))
		} else if bw != nil && len(o.segs) > 1 && o.segs[1].f == nil {
			n, err = o.writeBuffers(bw)
		} else {
			var m int
			m, err = w.Write(s.b)
			n = int64(m)
		}
		done += n
		o.consume(n)
		if err != nil {
			return done, err
		}
	}
	return done, nil
}

// writeBuffers writes the leading runs of bytes to w in one call.
func (o *Output) writeBuffers(w BuffersWriter) (int64, error) {
	o.iov = o.iov[:0]
	for _, s := range o.segs {
		if s.f != nil {
			break
		}
		o.iov = append(o.iov, s.b)
	}
	bufs := net.Buffers(o.iov)
	n, err := w.WriteBuffers(&bufs)
	clear(o.iov) // hold no payload past its write
	return n, err
}

// writev writes the leading runs of bytes in one system call, made
// without the scheduler (package nowait): the descriptor is non-blocking.
func (o *Output) writev(fd int) (int64, error) {
	o.iov = o.iov[:0]
	for _, s := range o.segs {
		if s.f != nil || len(o.iov) == 64 {
			break
		}
		o.iov = append(o.iov, s.b)
	}
	var n int
	var err error
	if len(o.iov) == 1 {
		n, err = nowait.Write(fd, o.iov[0])
	} else {
		n, o.iovecs, err = nowait.Writev(fd, o.iov, o.iovecs)
	}
	return int64(max(n, 0)), err
}

func (o *Output) sendfile(fd int, s *outSeg) (int64, error) {
	for {
		off := s.off
		n, err := unix.Sendfile(fd, int(s.f.Fd()), &off, int(min(s.n, 1<<30)))
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err == nil && n == 0 {
			return 0, errors.New("spool file shorter than its record")
		}
		return int64(max(n, 0)), err
	}
}

// consume drops n written bytes from the front.
func (o *Output) consume(n int64) {
	o.written += n
	for n > 0 {
		s := &o.segs[0]
		if s.f != nil {
			take := min(n, s.n)
			s.off += take
			s.n -= take
			n -= take
			if s.n == 0 {
				s.f.Close()
				o.popSeg()
			}
			continue
		}
		take := min(n, int64(len(s.b)))
		s.b = s.b[take:]
		n -= take
		if len(s.b) == 0 {
			o.popSeg()
		}
	}
	i := 0
	for i < len(o.ends) && o.ends[i] <= o.written {
		i++
	}
	if i > 0 {
		o.ends = append(o.ends[:0], o.ends[i:]...)
	}
}

func (o *Output) popSeg() {
	o.segs[0] = outSeg{}
	o.segs = o.segs[1:]
	if len(o.segs) == 0 {
		// Everything is written: start again at the front, with no
		// allocation per burst (an arena grown for one large packet goes).
		o.segs = o.segBuf[:0]
		o.arena, o.tail = o.arena[:0], false
		if cap(o.arena) > bufSize {
			o.arena = nil
		}
	}
}

// Close closes the files still waiting.
func (o *Output) Close() {
	for _, s := range o.segs {
		if s.f != nil {
			s.f.Close()
		}
	}
	o.segs = nil
}
