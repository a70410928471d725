package scoreboard

import (
	"sync/atomic"
	"time"
)

// Format constants of the file.
const (
	magic      = "fmqscore"
	version    = 1
	headerSize = 64
	slotSize   = 768

	// MaxClientID and MaxRemote bound the identity text a slot keeps; a
	// longer client identifier is cut (and marked, see Slot.ClientIDCut).
	MaxClientID = 64
	MaxRemote   = 48
	MaxQueue    = 40
)

// Role is what a process (or, in the goroutine engine, a goroutine) is.
type Role uint8

const (
	RoleNone       Role = iota
	RoleSupervisor      // the parent: accepts and spawns
	RoleRouter          // reads a client's socket, routes its publications
	RoleDeliverer       // writes a client's socket
	RoleWill            // publishes a will after its client is gone
	RoleSys             // publishes $SYS
	RoleBridge          // a bridge to another broker
	RolePool            // a process engine worker waiting in the pool for a role
	numRoles
)

var roleNames = [numRoles]string{"none", "supervisor", "router", "deliverer", "will", "sys", "bridge", "pool"}

func (r Role) String() string { return nameOf(roleNames[:], r, "role?") }

// State is where a process is in its life.
type State uint8

const (
	StateFree       State = iota // the slot has no owner
	StateStarting                // allocated; the process is starting
	StateIdle                    // in the pool, waiting for a client
	StateConnecting              // has a socket, waits for CONNECT
	StateConnected               // serving a client
	StateClosing                 // its client is leaving
	numStates
)

var stateNames = [numStates]string{"free", "starting", "idle", "connecting", "connected", "closing"}

func (s State) String() string { return nameOf(stateNames[:], s, "state?") }

// Counter names a monotonic count. Their names follow mosquitto's $SYS
// topics where one exists.
type Counter uint8

const (
	MessagesReceived Counter = iota // PUBLISH packets read from clients
	MessagesSent                    // PUBLISH packets written to clients
	BytesReceived                   // bytes read from client sockets
	BytesSent                       // bytes written to client sockets
	PublishDropped                  // publications dropped (slow consumer, full session, lost copy)
	Connects                        // connections accepted (CONNACK 0)
	ConnectsRefused                 // connections refused (CONNACK ≠ 0, limits)
	Subscribes                      // filters subscribed
	Unsubscribes                    // filters unsubscribed
	QueueWaits                      // sends that found a queue full and waited (back-pressure)
	NumCounters
	maxCounters = 16 // room in a slot
)

var counterNames = [NumCounters]string{
	"messages_received", "messages_sent", "bytes_received", "bytes_sent",
	"publish_dropped", "connects", "connects_refused", "subscribes",
	"unsubscribes", "queue_waits",
}

func (c Counter) String() string { return nameOf(counterNames[:], c, "counter?") }

// Gauge names a value that goes up and down with the process's state.
type Gauge uint8

const (
	Subscriptions   Gauge = iota // filters held by the process's client
	Inflight                     // QoS 1/2 messages sent and not acknowledged
	BacklogMessages              // messages taken and not yet written
	BacklogBytes                 // their bytes
	NumGauges
	maxGauges = 8
)

var gaugeNames = [NumGauges]string{"subscriptions", "inflight", "backlog_messages", "backlog_bytes"}

func (g Gauge) String() string { return nameOf(gaugeNames[:], g, "gauge?") }

// Histogram names a latency distribution.
type Histogram uint8

const (
	DeliveryLatency Histogram = iota // a publication's time from its router to the subscriber's socket
	ConnectTime                      // from accept to CONNACK
	NumHistograms
)

var histogramNames = [NumHistograms]string{"delivery_latency", "connect_time"}

func (h Histogram) String() string { return nameOf(histogramNames[:], h, "histogram?") }

// nameOf is the name of an enumeration's value, or unknown past its end.
func nameOf[T ~uint8](names []string, v T, unknown string) string {
	if int(v) < len(names) {
		return names[v]
	}
	return unknown
}

// Bounds are the histograms' bucket upper bounds: 50 µs doubling to
// 204.8 ms, then +Inf. Fixed, so that slots of every process add up.
var Bounds = func() [numBounds]time.Duration {
	var b [numBounds]time.Duration
	d := 50 * time.Microsecond
	for i := range b {
		b[i] = d
		d *= 2
	}
	return b
}()

const (
	numBounds  = 13
	numBuckets = numBounds + 1 // the last counts what is above every bound
)

// header is the file's first 64 bytes.
type header struct {
	magic    [8]byte
	version  uint32
	slotSize uint32
	slots    uint32
	_        uint32
	created  int64 // unix nanoseconds
	_        [4]uint64
}

// histogram is one latency distribution in a slot.
type histogram struct {
	buckets [numBuckets]atomic.Uint64
	count   atomic.Uint64
	sum     atomic.Uint64 // nanoseconds
}

// slot is one process's record. Every field is a word read and written
// atomically: processes share it without locks, and the race detector
// has nothing to say when goroutines do.
type slot struct {
	gen      atomic.Uint64 // the supervisor's sequence lock: odd while it changes the slot
	idseq    atomic.Uint64 // the owner's sequence lock over its identity
	meta     atomic.Uint64 // pid(32) | role(8) | state(8) | client id length(8) | remote length(8)
	meta2    atomic.Uint64 // queue length(8) | flags(8)
	started  atomic.Int64  // unix nanoseconds
	clientID [MaxClientID / 8]atomic.Uint64
	remote   [MaxRemote / 8]atomic.Uint64
	queue    [MaxQueue / 8]atomic.Uint64
	counters [maxCounters]atomic.Uint64 // never reset: they count for every owner the slot has had
	base     [maxCounters]atomic.Uint64 // the counters when the present owner got the slot
	gauges   [maxGauges]atomic.Int64
	hist     [NumHistograms]histogram
}

// flags in meta2.
const flagClientIDCut = 1

func packMeta(pid int, role Role, state State, idLen, remoteLen int) uint64 {
	return uint64(uint32(pid)) | uint64(role)<<32 | uint64(state)<<40 | uint64(idLen)<<48 | uint64(remoteLen)<<56
}

func unpackMeta(m uint64) (pid int, role Role, state State, idLen, remoteLen int) {
	return int(uint32(m)), Role(m >> 32), State(m >> 40), int(uint8(m >> 48)), int(uint8(m >> 56))
}

// storeText writes s into words, 8 bytes a word (native order), and returns
// how many bytes it kept.
func storeText(words []atomic.Uint64, s string) int {
	n := min(len(s), len(words)*8)
	for i := range words {
		var w uint64
		for j := 0; j < 8; j++ {
			if k := i*8 + j; k < n {
				w |= uint64(s[k]) << (8 * j)
			}
		}
		words[i].Store(w)
	}
	return n
}

// loadText reads n bytes stored by storeText.
func loadText(words []atomic.Uint64, n int) string {
	n = min(n, len(words)*8)
	var buf [MaxClientID]byte // the longest text field: one allocation, the string's
	b := buf[:n]
	for i := range words {
		if i*8 >= n {
			break
		}
		w := words[i].Load()
		for j := 0; j < 8 && i*8+j < n; j++ {
			b[i*8+j] = byte(w >> (8 * j))
		}
	}
	return string(b)
}
