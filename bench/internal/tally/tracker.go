package tally

// Tracker accounts the messages one subscriber receives: for each publisher
// it remembers which sequence numbers arrived, so that it can tell a
// duplicate (seen before), a reordering (older than one seen before) and,
// given how many each publisher sent, a loss. Not safe for concurrent use:
// one per subscriber goroutine.
type Tracker struct {
	pubs       []pubState
	unexpected uint64
	Latency    *Histogram
}

type pubState struct {
	expected   bool
	seen       []uint64 // bitset of sequence numbers
	unique     uint64
	duplicates uint64
	reordered  uint64
	next       uint64 // one past the highest sequence number seen
}

// NewTracker returns a tracker expecting messages from the given publishers.
func NewTracker(publishers ...uint32) *Tracker {
	t := &Tracker{Latency: NewHistogram()}
	for _, p := range publishers {
		t.state(p).expected = true
	}
	return t
}

func (t *Tracker) state(p uint32) *pubState {
	if int(p) >= len(t.pubs) {
		t.pubs = append(t.pubs, make([]pubState, int(p)+1-len(t.pubs))...)
	}
	return &t.pubs[p]
}

// Outcome is what Record made of one message.
type Outcome int

const (
	New        Outcome = iota // first copy, in order
	Reordered                 // first copy, but a later one came before it
	Duplicate                 // a copy already received
	Unexpected                // from a publisher this subscriber does not follow
)

// Record accounts one received message; latency is recorded when measure is
// true and the message is not a duplicate.
func (t *Tracker) Record(h Header, latency int64, measure bool) Outcome {
	if int(h.Publisher) >= len(t.pubs) || !t.pubs[h.Publisher].expected {
		t.unexpected++
		return Unexpected
	}
	s := &t.pubs[h.Publisher]
	word, bit := h.Seq/64, uint64(1)<<(h.Seq%64)
	if word >= uint64(len(s.seen)) {
		s.seen = append(s.seen, make([]uint64, int(word)+1-len(s.seen)+len(s.seen)/2)...)
	}
	if s.seen[word]&bit != 0 {
		s.duplicates++
		return Duplicate
	}
	s.seen[word] |= bit
	s.unique++
	if measure {
		t.Latency.Record(latency)
	}
	if h.Seq < s.next {
		s.reordered++
		return Reordered
	}
	s.next = h.Seq + 1
	return New
}

// Totals sum a run's accounting; Add merges trackers.
type Totals struct {
	Expected   uint64 // messages that should have arrived
	Received   uint64 // distinct messages that did
	Duplicates uint64 // extra copies
	Reordered  uint64 // arrived after a later message of the same publisher
	Unexpected uint64 // from a publisher not followed
}

// Lost is Expected - Received (never negative).
func (t Totals) Lost() uint64 {
	if t.Received > t.Expected {
		return 0
	}
	return t.Expected - t.Received
}

// LossPercent is Lost as a percentage of Expected (0 when nothing expected).
func (t Totals) LossPercent() float64 {
	if t.Expected == 0 {
		return 0
	}
	return 100 * float64(t.Lost()) / float64(t.Expected)
}

// Add adds o to t.
func (t *Totals) Add(o Totals) {
	t.Expected += o.Expected
	t.Received += o.Received
	t.Duplicates += o.Duplicates
	t.Reordered += o.Reordered
	t.Unexpected += o.Unexpected
}

// Totals returns the tracker's accounting given how many messages each
// publisher sent. Messages received beyond what a publisher reports sent
// still count as received.
func (t *Tracker) Totals(sent func(publisher uint32) uint64) Totals {
	tot := Totals{Unexpected: t.unexpected}
	for i := range t.pubs {
		s := &t.pubs[i]
		if !s.expected {
			continue
		}
		tot.Expected += max(sent(uint32(i)), s.unique)
		tot.Received += s.unique
		tot.Duplicates += s.duplicates
		tot.Reordered += s.reordered
	}
	return tot
}
