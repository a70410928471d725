package proctitle

import (
	"os"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/forkmq/forkmq/internal/nowait"
)

// Title is the memory of this process's original command line.
type Title struct {
	area   []byte // argv[0] up to the NUL after the last argument; nil if unusable
	comm   string // the command name last set
	commFd int    // /proc/self/comm, open from the first change of name on (0: not yet, -1: cannot)
}

// Take claims the memory of the command line for Set. The strings of
// os.Args live in that memory, so after the first Set they no longer say
// what they said: a caller keeps copies (strings.Clone) of what it needs,
// before, and never reads os.Args again.
func Take() *Title {
	return &Title{area: argvArea(os.Args)}
}

// argvArea returns the memory args were given in, when the strings lie
// one after the other, each followed by its NUL, as the kernel lays argv
// out; nil otherwise (the caller made os.Args up).
func argvArea(args []string) []byte {
	if len(args) == 0 || unsafe.StringData(args[0]) == nil {
		return nil
	}
	start := unsafe.Pointer(unsafe.StringData(args[0]))
	end := unsafe.Add(start, len(args[0])+1)
	for _, a := range args[1:] {
		if unsafe.Pointer(unsafe.StringData(a)) != end {
			return nil
		}
		end = unsafe.Add(end, len(a)+1)
	}
	return unsafe.Slice((*byte)(start), uintptr(end)-uintptr(start))
}

// Max is how many bytes of a title Set keeps.
func (t *Title) Max() int { return max(len(t.area)-2, 0) }

// Set makes title the process's command line, cut to Max bytes, and name
// (at most 15 bytes) its command name. Neither may fail the caller: a
// title is for people reading `ps`.
func (t *Title) Set(title, name string) {
	if t == nil {
		return
	}
	if len(t.area) >= 3 {
		n := copy(t.area[:t.Max()], title)
		clear(t.area[n:])
		// A last byte other than NUL tells the kernel that the command line
		// was rewritten: it then reads up to the first NUL, the title's end,
		// instead of the whole area (fs/proc/base.c, get_mm_proctitle).
		t.area[len(t.area)-1] = ' '
	}
	if name != t.comm {
		t.comm = name
		t.setComm(name)
	}
}

// setComm writes the command name. The file stays open: a pool worker
// renames itself twice per client, and opening the file through package
// os each time cost six system calls (open, fcntl, epoll_ctl, write,
// close) where one write does (the kernel takes each write as the whole
// name, whatever the offset; pwrite is refused on this file).
func (t *Title) setComm(name string) {
	if t.commFd == 0 {
		fd, err := unix.Open("/proc/self/comm", unix.O_WRONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			fd = -1
		}
		t.commFd = fd
	}
	if t.commFd > 0 {
		// Raw (package nowait): the kernel takes the name at once, and a
		// worker renames itself first thing when woken for a client.
		_, _ = nowait.Write(t.commFd, []byte(name))
	}
}

// Format joins the parts of a title with spaces, leaving out empty ones and
// replacing control characters (a client identifier may hold them) with '?'.
func Format(parts ...string) string {
	var b strings.Builder
	for _, p := range parts {
		if p == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		for _, r := range p {
			if r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0 {
				r = '?'
			}
			b.WriteRune(r)
		}
	}
	return b.String()
}
