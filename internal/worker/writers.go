package worker

import (
	"sync"
	"time"

	"github.com/forkmq/forkmq/internal/queue"
	"github.com/forkmq/forkmq/internal/state"
)

// writerCache keeps descriptors of the connection queues a router routes to,
// so that routing does not open and close a queue per message. A descriptor
// keeps its queue — and its share of RLIMIT_MSGQUEUE — alive after the
// subscriber has gone and the supervisor has unlinked it, so descriptors
// unused for writerIdle are closed: by the cache's own use (a sweep at most
// once per writerIdle), and by one timer armed while the cache holds any,
// so that a router that stops routing lets go of them too.
//
// The timer's first period is 2×writerIdle; once it finds the router still
// routing (the sweeps on use do the work then) its period is sweepMax, and
// it starts again from 2×writerIdle once the router stops: each firing is a
// wake-up of the process and of the runtime's sysmon thread (its futex
// timeout, then a nanosleep or more: three wake-ups or more a firing), and
// a router whose client publishes once a second was woken every two
// seconds by a fixed period — as often as by its messages. (A doubling
// period, 2, 4, 8, 16 s, still fired three times in the seed benchmark's
// first 14 s.) An idle router's cache is empty and it has no timer: nothing
// wakes it (a periodic sweep woke every router three to five times a
// second).
//
// The timer is an alarm (a timerfd in the runtime's poller), not a Go
// timer, whose every firing also woke the runtime's sysmon thread: five to
// ten more wake-ups a firing (see alarm). If no timerfd can be had, a Go
// timer does the job.
//
// The router's goroutine uses the cache; the timer's function runs on
// another, so every method takes mu.
type writerCache struct {
	mu       sync.Mutex
	entries  map[string]*cachedWriter
	armed    bool          // the timer runs: while entries is not empty
	period   time.Duration // the timer's, while armed
	alarm    *alarm        // made at the first arm, kept until close
	fallback *time.Timer   // instead of alarm, when there is none
	swept    time.Time     // the last sweep
	used     time.Time     // the last use
}

type cachedWriter struct {
	q    *queue.Queue
	used time.Time
}

const (
	maxWriters = 256
	writerIdle = time.Second
	sweepMax   = 16 * writerIdle
)

func newWriterCache() *writerCache {
	return &writerCache{entries: make(map[string]*cachedWriter)}
}

// use sends through a descriptor for the named queue, opening one if
// needed. The descriptor is used only until send returns.
func (c *writerCache) use(name string, send func(*queue.Queue) error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	c.used = now
	w, ok := c.entries[name]
	if ok {
		w.used = now // before the sweep: a publisher at one message a second uses it every writerIdle
	}
	if now.Sub(c.swept) >= writerIdle {
		c.sweep(now)
	}
	if !ok {
		if len(c.entries) >= maxWriters {
			c.evictOldest()
		}
		q, err := queue.OpenWriter(name)
		if err != nil {
			return err
		}
		w = &cachedWriter{q: q}
		c.entries[name] = w
		c.arm(2 * writerIdle)
	}
	w.used = now
	return send(w.q)
}

// forget closes the cached descriptor of a queue, if any.
func (c *writerCache) forget(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if w, ok := c.entries[name]; ok {
		w.q.Close()
		delete(c.entries, name)
	}
}

// close closes every cached descriptor: the client is gone, and nothing of
// its routing stays with the worker.
func (c *writerCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sweep(time.Now().Add(time.Hour + writerIdle))
	if c.alarm != nil {
		c.alarm.close()
		c.alarm = nil
	}
}

// arm starts the sweep timer with period if it is not running.
func (c *writerCache) arm(period time.Duration) {
	if c.armed {
		return
	}
	c.armed, c.period = true, period
	if c.alarm == nil && c.fallback == nil {
		c.alarm, _ = newAlarm(c.expire) // none: the fallback below
	}
	if c.alarm != nil && c.alarm.set(period) == nil {
		return
	}
	c.fallback = time.AfterFunc(period, c.expire)
}

// disarm stops the sweep timer.
func (c *writerCache) disarm() {
	c.armed = false
	if c.alarm != nil {
		_ = c.alarm.set(0) // a failure leaves one firing, which finds nothing to do
	}
	if c.fallback != nil {
		c.fallback.Stop()
		c.fallback = nil
	}
}

// expire is the timer's sweep; it re-arms while descriptors stay cached,
// with the longest period if the router routed since the last firing.
func (c *writerCache) expire() {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	period := 2 * writerIdle
	if now.Sub(c.used) < c.period {
		period = sweepMax
	}
	if !c.armed {
		return // stopped after it went off: nothing to do
	}
	c.armed, c.fallback = false, nil
	c.sweep(now)
	if len(c.entries) > 0 {
		c.arm(period)
	}
}

func (c *writerCache) evictOldest() {
	var oldest string
	for n, w := range c.entries {
		if oldest == "" || w.used.Before(c.entries[oldest].used) {
			oldest = n
		}
	}
	c.entries[oldest].q.Close()
	delete(c.entries, oldest)
}

// forgetSessions closes the cached descriptors of session queues. A session
// discarded and started again gets a new queue under its old name, which a
// cached descriptor would miss; the index calls this when subscriptions
// change, which a new session's first SUBSCRIBE always does before anything
// is routed to it.
func (c *writerCache) forgetSessions() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for n, w := range c.entries {
		if state.IsSessionQueue(n) {
			w.q.Close()
			delete(c.entries, n)
		}
	}
}

// sweep closes the descriptors not used for writerIdle before now, and
// stops the timer when none is left.
func (c *writerCache) sweep(now time.Time) {
	c.swept = now
	before := now.Add(-writerIdle)
	for n, w := range c.entries {
		if w.used.Before(before) {
			w.q.Close()
			delete(c.entries, n)
		}
	}
	if len(c.entries) == 0 && c.armed {
		c.disarm()
	}
}

// close drops what the outlet holds for its client: the routing state of
// the message last routed and every cached queue descriptor.
func (q *queues) close() {
	q.Routed(q.cur.msg)
	q.writers.close()
}
