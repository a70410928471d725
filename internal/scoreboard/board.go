package scoreboard

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Errors a caller may act on.
var (
	ErrFull    = errors.New("scoreboard: every slot is taken")
	ErrStale   = errors.New("scoreboard: the slot has another owner now")
	ErrNotMine = errors.New("scoreboard: only the board's creator allocates and releases slots")
)

// Ref names a slot and the generation its owner got, as the supervisor
// passes it to a worker ("INDEX:GEN").
type Ref struct {
	Index int
	Gen   uint64
}

func (r Ref) String() string { return strconv.Itoa(r.Index) + ":" + strconv.FormatUint(r.Gen, 10) }

// ParseRef reads what Ref.String wrote.
func ParseRef(s string) (Ref, error) {
	i, g, ok := strings.Cut(s, ":")
	idx, err1 := strconv.Atoi(i)
	gen, err2 := strconv.ParseUint(g, 10, 64)
	if !ok || err1 != nil || err2 != nil || idx < 0 || gen == 0 || gen&1 != 0 {
		return Ref{}, fmt.Errorf("scoreboard: slot reference %q: want INDEX:GEN, GEN even and positive", s)
	}
	return Ref{Index: idx, Gen: gen}, nil
}

// Identity is who a slot's process is.
type Identity struct {
	Role        Role
	PID         int
	State       State
	ClientID    string // at most MaxClientID bytes
	ClientIDCut bool   // the client identifier was longer and is cut
	Remote      string // the client's address
	Queue       string // the client's queue (process engine)
	Started     time.Time
}

// Board is a scoreboard: mapped from a file shared by the broker's
// processes, or in this process's memory.
type Board struct {
	mem   []byte
	hdr   *header
	n     int          // slots
	unmap func() error // nil in memory
	// readOnly: mapped without write permission; a Writer would fault.
	readOnly bool

	// The allocator: the creator's only (the supervisor).
	mu    sync.Mutex
	owner bool
	free  []int
}

// size is the bytes of a board with n process slots.
func size(n int) int { return headerSize + n*slotSize }

// Create makes a new scoreboard file with room for slots processes,
// replacing any file a previous broker left (its workers keep the old one
// until they exit). The caller allocates and releases its slots.
func Create(path string, slots int) (*Board, error) {
	if slots < 1 || slots > 1<<24 {
		return nil, fmt.Errorf("scoreboard: %d slots: want 1…%d", slots, 1<<24)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("scoreboard: remove old board: %w", err)
	}
	// 0660 less the umask: the broker's user alone, or with -worker-uids
	// the group of worker uids too, each of which writes its own slot.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o660)
	if err != nil {
		return nil, fmt.Errorf("scoreboard: %w", err)
	}
	defer f.Close()
	if err := f.Truncate(int64(size(slots))); err != nil {
		return nil, fmt.Errorf("scoreboard: size %s: %w", path, err)
	}
	b, err := mapFile(f, true)
	if err != nil {
		return nil, err
	}
	b.owner = true
	b.init(slots)
	return b, nil
}

// New makes a scoreboard in this process's memory: the goroutine engine's,
// and tests'.
func New(slots int) *Board {
	// Words, so that atomics are aligned; one cache line more, so that the
	// slots can start on a line.
	words := make([]uint64, (size(slots)+64)/8+1)
	mem := unsafe.Slice((*byte)(unsafe.Pointer(&words[0])), len(words)*8)
	off := (64 - int(uintptr(unsafe.Pointer(&mem[0]))%64)) % 64
	b := &Board{mem: mem[off : off+size(slots)]}
	b.hdr = (*header)(unsafe.Pointer(&b.mem[0]))
	b.owner = true
	b.init(slots)
	return b
}

func (b *Board) init(slots int) {
	copy(b.hdr.magic[:], magic)
	b.hdr.version = version
	b.hdr.slotSize = slotSize
	b.hdr.slots = uint32(slots)
	b.hdr.created = time.Now().UnixNano()
	b.n = slots
	b.free = make([]int, 0, slots)
	for i := slots - 1; i >= 0; i-- { // Allocate pops from the end: lowest index first
		b.free = append(b.free, i)
	}
}

// Open maps an existing scoreboard file, for a worker to write its slot
// (Attach) or for a reader. Without write permission it maps the file
// read-only, and only Read works.
func Open(path string) (*Board, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	writable := true
	if errors.Is(err, os.ErrPermission) {
		f, err = os.Open(path)
		writable = false
	}
	if err != nil {
		return nil, fmt.Errorf("scoreboard: %w", err)
	}
	defer f.Close()
	b, err := mapFile(f, writable)
	if err != nil {
		return nil, err
	}
	if err := b.check(); err != nil {
		b.Close()
		return nil, fmt.Errorf("scoreboard: %s: %w", path, err)
	}
	return b, nil
}

func mapFile(f *os.File, writable bool) (*Board, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("scoreboard: %w", err)
	}
	if st.Size() < headerSize+slotSize || st.Size() > int64(size(1<<24)) {
		return nil, fmt.Errorf("scoreboard: %s: %d bytes is not a board", f.Name(), st.Size())
	}
	prot := unix.PROT_READ
	if writable {
		prot |= unix.PROT_WRITE
	}
	mem, err := unix.Mmap(int(f.Fd()), 0, int(st.Size()), prot, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("scoreboard: mmap %s: %w", f.Name(), err)
	}
	b := &Board{mem: mem, hdr: (*header)(unsafe.Pointer(&mem[0])), unmap: func() error { return unix.Munmap(mem) }, readOnly: !writable}
	b.n = int(b.hdr.slots)
	return b, nil
}

// check validates a mapped file's header against its size.
func (b *Board) check() error {
	switch {
	case string(b.hdr.magic[:]) != magic:
		return errors.New("not a scoreboard (bad magic)")
	case b.hdr.version != version:
		return fmt.Errorf("version %d, this broker reads %d", b.hdr.version, version)
	case b.hdr.slotSize != slotSize:
		return fmt.Errorf("slot size %d, this broker's is %d", b.hdr.slotSize, slotSize)
	case b.n < 1 || size(b.n) != len(b.mem):
		return fmt.Errorf("%d slots do not fit %d bytes", b.n, len(b.mem))
	}
	return nil
}

// Close unmaps the board. Writers made from it must not be used after.
func (b *Board) Close() error {
	if b.unmap == nil {
		return nil
	}
	err := b.unmap()
	b.unmap, b.mem, b.hdr = nil, nil, nil
	return err
}

// Slots is how many processes the board has room for.
func (b *Board) Slots() int { return b.n }

func (b *Board) slot(i int) *slot {
	return (*slot)(unsafe.Pointer(&b.mem[headerSize+i*slotSize]))
}

// Allocate gives a free slot to a new process with this identity (its
// role, and its client's queue and address when known; the process writes
// its pid when it attaches). Its counts start from zero.
func (b *Board) Allocate(id Identity) (Ref, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.owner {
		return Ref{}, ErrNotMine
	}
	if len(b.free) == 0 {
		return Ref{}, ErrFull
	}
	i := b.free[len(b.free)-1]
	b.free = b.free[:len(b.free)-1]
	s := b.slot(i)
	s.gen.Add(1) // odd: changing owner
	for c := range s.counters {
		s.base[c].Store(s.counters[c].Load())
	}
	b.setIdentity(s, id, StateStarting)
	gen := s.gen.Add(1) // even: owned
	return Ref{Index: i, Gen: gen}, nil
}

// Release frees the slot of a process that has exited. Its counters stay
// in the slot, and so in every total; its gauges and identity are cleared.
func (b *Board) Release(ref Ref) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.owner {
		return ErrNotMine
	}
	if ref.Index < 0 || ref.Index >= b.n {
		return fmt.Errorf("scoreboard: release slot %d of %d", ref.Index, b.n)
	}
	s := b.slot(ref.Index)
	if s.gen.Load() != ref.Gen {
		return ErrStale
	}
	s.gen.Add(1) // odd: changing owner
	for g := range s.gauges {
		s.gauges[g].Store(0)
	}
	b.setIdentity(s, Identity{}, StateFree)
	s.gen.Add(1)
	b.free = append(b.free, ref.Index)
	return nil
}

// setIdentity writes a slot's identity while the supervisor holds it.
func (b *Board) setIdentity(s *slot, id Identity, state State) {
	idLen := storeText(s.clientID[:], id.ClientID)
	remoteLen := storeText(s.remote[:], id.Remote)
	queueLen := storeText(s.queue[:], id.Queue)
	var flags uint64
	if idLen < len(id.ClientID) {
		flags |= flagClientIDCut
	}
	s.meta2.Store(uint64(queueLen) | flags<<8)
	s.meta.Store(packMeta(id.PID, id.Role, state, idLen, remoteLen))
	var started int64
	if state != StateFree {
		started = time.Now().UnixNano()
	}
	s.started.Store(started)
	s.idseq.Store(0)
}

// maxTries bounds how often a reader retries a slot that is being changed:
// changes take nanoseconds, so running out means their writer stopped in
// the middle.
const maxTries = 1000

// Counts are what the board has counted: a slot's, or the sum of them.
type Counts struct {
	Counters [NumCounters]uint64
	Gauges   [NumGauges]int64
}

// HistogramCounts is one latency histogram: Buckets[i] counts observations
// at most Bounds[i] (and above the bound before); the last bucket counts
// those above every bound.
type HistogramCounts struct {
	Buckets [numBuckets]uint64
	Count   uint64
	Sum     time.Duration
}

// Slot is one owned slot as read: who holds it, and what it has counted
// since it got it.
type Slot struct {
	Index int
	Gen   uint64
	Identity
	// Unstable: the owner was changing its identity on every try (it may
	// have died in the middle); ClientID, Remote and Queue are left empty.
	Unstable bool
	Counts
}

// Reading is the whole board at one moment.
type Reading struct {
	Created time.Time
	Slots   []Slot // owned slots, in index order
	// Total counts every process that ever had a slot, the exited ones
	// included; its gauges sum the owned slots.
	Total      Counts
	Histograms [NumHistograms]HistogramCounts // every process's, the exited ones included
}

// Read copies the board. It never blocks a writer, and every total it
// returns is at least the one before: a slot's counters are never reset.
func (b *Board) Read() Reading {
	r := Reading{Created: time.Unix(0, b.hdr.created)}
	for i := 0; i < b.n; i++ {
		s := b.slot(i)
		// Totals first, whatever the slot's state: its counters hold the
		// work of every owner it has had.
		for c := range r.Total.Counters {
			r.Total.Counters[c] += s.counters[c].Load()
		}
		for h := range r.Histograms {
			from, to := &s.hist[h], &r.Histograms[h]
			for k := range to.Buckets {
				to.Buckets[k] += from.buckets[k].Load()
			}
			to.Count += from.count.Load()
			to.Sum += time.Duration(from.sum.Load())
		}
		if owned, ok := b.readSlot(i); ok {
			for g := range r.Total.Gauges {
				r.Total.Gauges[g] += owned.Gauges[g]
			}
			r.Slots = append(r.Slots, owned)
		}
	}
	return r
}

// readSlot copies slot i if it is owned: ok is false for a free slot, and
// for one whose change of owner never finished (the supervisor died).
func (b *Board) readSlot(i int) (Slot, bool) {
	s := b.slot(i)
	for try := 0; try < maxTries; try++ {
		g0 := s.gen.Load()
		if g0 == 0 {
			return Slot{}, false // never allocated
		}
		if g0&1 != 0 {
			runtime.Gosched()
			continue
		}
		out := Slot{Index: i, Gen: g0}
		out.Identity, out.Unstable = readIdentity(s)
		for c := range out.Counters {
			out.Counters[c] = s.counters[c].Load() - s.base[c].Load()
		}
		for g := range out.Gauges {
			out.Gauges[g] = s.gauges[g].Load()
		}
		if s.gen.Load() != g0 {
			continue
		}
		if out.State == StateFree {
			return Slot{}, false
		}
		return out, true
	}
	return Slot{}, false
}

// readIdentity copies a slot's identity under its owner's sequence lock.
func readIdentity(s *slot) (Identity, bool) {
	for try := 0; try < maxTries; try++ {
		q0 := s.idseq.Load()
		if q0&1 != 0 {
			runtime.Gosched()
			continue
		}
		id := identityFields(s)
		if s.idseq.Load() == q0 {
			return id, false
		}
	}
	id := identityFields(s)
	id.ClientID, id.Remote, id.Queue, id.ClientIDCut = "", "", "", false
	return id, true
}

func identityFields(s *slot) Identity {
	pid, role, state, idLen, remoteLen := unpackMeta(s.meta.Load())
	m2 := s.meta2.Load()
	id := Identity{
		Role: role, PID: pid, State: state,
		ClientID:    loadText(s.clientID[:], idLen),
		ClientIDCut: (m2>>8)&flagClientIDCut != 0,
		Remote:      loadText(s.remote[:], remoteLen),
		Queue:       loadText(s.queue[:], int(uint8(m2))),
	}
	if ns := s.started.Load(); ns != 0 {
		id.Started = time.Unix(0, ns)
	}
	return id
}
