package scoreboard

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// Writer is a process's hold on its own slot: the only code that writes
// it while the process lives. Its methods are safe on a nil *Writer, which
// counts nothing, so a broker without a scoreboard needs no conditions.
// The counting methods (Inc, Add, gauges, Observe) may be called from any
// goroutine of the owner; the identity methods (SetState, SetClient) from
// one goroutine at a time.
type Writer struct {
	s     *slot
	ref   Ref
	board *Board // to unmap, when the Writer mapped it (Attach)
}

// Attach maps the scoreboard file and takes the slot the supervisor
// allocated (ref), writing this process's pid into it.
func Attach(path string, ref Ref) (*Writer, error) {
	b, err := Open(path)
	if err != nil {
		return nil, err
	}
	w, err := b.Writer(ref)
	if err != nil {
		b.Close()
		return nil, err
	}
	w.board = b
	return w, nil
}

// Writer takes the slot ref names, which must still be of the generation
// the supervisor gave out, and writes this process's pid into it.
func (b *Board) Writer(ref Ref) (*Writer, error) {
	if ref.Index < 0 || ref.Index >= b.n {
		return nil, fmt.Errorf("scoreboard: slot %d of %d", ref.Index, b.n)
	}
	if b.readOnly {
		return nil, errors.New("scoreboard: mapped read-only (no write permission on the file): this process cannot count")
	}
	s := b.slot(ref.Index)
	if s.gen.Load() != ref.Gen {
		return nil, ErrStale
	}
	w := &Writer{s: s, ref: ref}
	w.setMeta(func(pid *int, _ *State) { *pid = os.Getpid() })
	return w, nil
}

// Close unmaps the board if Attach mapped it. The slot stays the
// process's until the supervisor releases it.
func (w *Writer) Close() error {
	if w == nil || w.board == nil {
		return nil
	}
	err := w.board.Close()
	w.board, w.s = nil, nil
	return err
}

// Ref is the slot this writer holds.
func (w *Writer) Ref() Ref {
	if w == nil {
		return Ref{}
	}
	return w.ref
}

// Inc adds one to a counter: one atomic add.
func (w *Writer) Inc(c Counter) {
	if w != nil {
		w.s.counters[c].Add(1)
	}
}

// Add adds n to a counter.
func (w *Writer) Add(c Counter, n uint64) {
	if w != nil {
		w.s.counters[c].Add(n)
	}
}

// SetGauge sets a gauge.
func (w *Writer) SetGauge(g Gauge, v int64) {
	if w != nil {
		w.s.gauges[g].Store(v)
	}
}

// AddGauge moves a gauge by d (negative to lower it).
func (w *Writer) AddGauge(g Gauge, d int64) {
	if w != nil {
		w.s.gauges[g].Add(d)
	}
}

// Observe records one latency: three atomic adds (bucket, count, sum).
func (w *Writer) Observe(h Histogram, d time.Duration) {
	if w == nil {
		return
	}
	if d < 0 {
		d = 0
	}
	k := 0
	for k < numBounds && d > Bounds[k] {
		k++
	}
	hist := &w.s.hist[h]
	hist.buckets[k].Add(1)
	hist.count.Add(1)
	hist.sum.Add(uint64(d))
}

// SetBacklog records what a deliverer holds for its client, once a turn:
// two stores.
func (w *Writer) SetBacklog(msgs int, bytes int64) {
	if w != nil {
		w.s.gauges[BacklogMessages].Store(int64(msgs))
		w.s.gauges[BacklogBytes].Store(bytes)
	}
}

// SetState records where the process is in its life.
func (w *Writer) SetState(st State) {
	if w != nil {
		w.setMeta(func(_ *int, state *State) { *state = st })
	}
}

// SetClient records the client the process serves now: its identifier
// (cut to MaxClientID bytes) and address (cut to MaxRemote). A pool
// worker calls it with each new client, and with "" when it returns to the
// pool.
func (w *Writer) SetClient(clientID, remote string) {
	if w == nil {
		return
	}
	s := w.s
	s.idseq.Add(1) // odd: readers wait or report the identity unstable
	idLen := storeText(s.clientID[:], clientID)
	remoteLen := storeText(s.remote[:], remote)
	m2 := s.meta2.Load() &^ (flagClientIDCut << 8)
	if idLen < len(clientID) {
		m2 |= flagClientIDCut << 8
	}
	s.meta2.Store(m2)
	pid, role, state, _, _ := unpackMeta(s.meta.Load())
	s.meta.Store(packMeta(pid, role, state, idLen, remoteLen))
	s.idseq.Add(1)
}

// Serve records that a pool worker was given a role: for a client's
// router or deliverer its queue and address, and "now" as the time its
// connect time counts from (the supervisor hands a connection over as it
// accepts it). The client identifier is cleared until Connected.
func (w *Writer) Serve(role Role, queue, remote string) {
	if w == nil {
		return
	}
	s := w.s
	s.idseq.Add(1)
	storeText(s.clientID[:], "")
	remoteLen := storeText(s.remote[:], remote)
	queueLen := storeText(s.queue[:], queue)
	s.meta2.Store(uint64(queueLen))
	pid, _, _, _, _ := unpackMeta(s.meta.Load())
	s.meta.Store(packMeta(pid, role, StateConnecting, 0, remoteLen))
	s.started.Store(time.Now().UnixNano())
	s.idseq.Add(1)
}

// Idle records that a pool worker is back in the pool: no role, no
// client, no gauges. Its counters keep counting for the process's life (a
// slot is the process's, not a client's).
func (w *Writer) Idle() {
	if w == nil {
		return
	}
	for g := range w.s.gauges {
		w.s.gauges[g].Store(0)
	}
	w.Serve(RolePool, "", "")
	w.SetState(StateIdle)
}

// Connected records that the process's client is connected: who it is,
// its state, one more connection accepted (Connects), and the time since
// its slot was allocated — at accept, for a router — as ConnectTime.
func (w *Writer) Connected(clientID, remote string) {
	if w == nil {
		return
	}
	w.SetClient(clientID, remote)
	w.SetState(StateConnected)
	w.Inc(Connects)
	if ns := w.s.started.Load(); ns != 0 {
		w.Observe(ConnectTime, time.Since(time.Unix(0, ns)))
	}
}

// setMeta changes the pid or state in the slot's meta word. Only the
// owner writes it while it owns the slot, so load-then-store loses nothing.
func (w *Writer) setMeta(f func(pid *int, state *State)) {
	pid, role, state, idLen, remoteLen := unpackMeta(w.s.meta.Load())
	f(&pid, &state)
	w.s.meta.Store(packMeta(pid, role, state, idLen, remoteLen))
}

// FileName is the scoreboard's file in a broker's state directory.
const FileName = "scoreboard"

// Reader returns r counting the bytes read from it as BytesReceived (r
// itself for a nil Writer): a router reads its client's socket through
// it.
func (w *Writer) Reader(r io.Reader) io.Reader {
	if w == nil {
		return r
	}
	return &countingReader{r: r, w: w}
}

type countingReader struct {
	r io.Reader
	w *Writer
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 {
		c.w.s.counters[BytesReceived].Add(uint64(n))
	}
	return n, err
}

// EnvSwitch is the environment variable that turns counting off for a
// measurement of what it costs: with FORKMQ_SCOREBOARD=off the broker
// gives no process a slot, so every count is a call on a nil Writer.
// $SYS, /metrics and the live view then have nothing to show.
const EnvSwitch = "FORKMQ_SCOREBOARD"

// Off reports whether EnvSwitch turns counting off.
func Off() bool { return os.Getenv(EnvSwitch) == "off" }
