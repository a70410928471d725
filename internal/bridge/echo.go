package bridge

import (
	"crypto/sha256"
	"sync"

	"github.com/rs/zerolog"
)

// echoSet is the messages a bridge sent on a topic whose messages come
// back to it (a 3.1.1 broker sends a subscriber its own publications), not
// seen back yet: each is dropped once when it comes back, so a `both`
// topic does not loop.
type echoSet struct {
	log  zerolog.Logger
	why  string // what it means when the set overflows, for the log
	mu   sync.Mutex
	sent map[[32]byte]int
}

func newEchoSet(log zerolog.Logger, why string) *echoSet {
	return &echoSet{log: log, why: why, sent: map[[32]byte]int{}}
}

func echoKey(topicName string, payload []byte) [32]byte {
	h := sha256.New()
	h.Write([]byte(topicName))
	h.Write([]byte{0})
	h.Write(payload)
	var k [32]byte
	h.Sum(k[:0])
	return k
}

// maxEchoes bounds the echoes awaited: a broker that never sends them
// (its ACL denies the bridge reading what it writes) would grow the set
// for ever. Past the bound the set starts again, and an echo forgotten
// comes in once (a duplicate, not a loop: it is not sent back out).
const maxEchoes = 1 << 16

// expect notes a message sent, whose echo is to be dropped.
func (e *echoSet) expect(topicName string, payload []byte) {
	e.mu.Lock()
	if len(e.sent) >= maxEchoes {
		e.log.Warn().Int("echoes", len(e.sent)).Msg("bridge: " + e.why + "; forgetting the echoes awaited")
		clear(e.sent)
	}
	e.sent[echoKey(topicName, payload)]++
	e.mu.Unlock()
}

// seen reports, once per message sent, whether a message that arrived is
// the echo of one sent.
func (e *echoSet) seen(topicName string, payload []byte) bool {
	k := echoKey(topicName, payload)
	e.mu.Lock()
	defer e.mu.Unlock()
	n := e.sent[k]
	if n == 0 {
		return false
	}
	if n == 1 {
		delete(e.sent, k)
	} else {
		e.sent[k] = n - 1
	}
	return true
}
